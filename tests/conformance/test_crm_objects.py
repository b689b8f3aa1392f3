"""Customer notes, opportunities and tasks through the official client (issue 11 §5).

The request bodies are the ones the official clients' recordings send; the answers must
parse into the client's objects with the recorded values.
"""

from __future__ import annotations

import datetime as dt
import warnings
from typing import Any

import chartmogul
import pytest
from tests.conformance._support import api_failure, assert_not_found, create_customer


@pytest.fixture
def other(cm: chartmogul.Config, ds: Any) -> Any:
    """A second customer: lists filtered by customer must not show its objects."""
    return create_customer(cm, ds.uuid, "cus-ext-2", name="Other")


def test_customer_notes(cm: chartmogul.Config, customer: Any, other: Any) -> None:
    """Create (call and note), retrieve, list newest first, modify, destroy."""
    with warnings.catch_warnings():  # CustomerNote is deprecated in favour of EntityNote
        warnings.simplefilter("ignore", DeprecationWarning)
        call = chartmogul.CustomerNote.create(
            cm,
            data={
                "customer_uuid": customer.uuid,
                "type": "call",
                "text": "This is a call",
                "call_duration": 60,
                "author_email": "staff@example.com",
            },
        ).get()
        note = chartmogul.CustomerNote.create(
            cm, data={"customer_uuid": customer.uuid, "type": "note", "text": "A note"}
        ).get()
        chartmogul.CustomerNote.create(
            cm, data={"customer_uuid": other.uuid, "type": "note", "text": "elsewhere"}
        ).get()
        assert call.uuid.startswith("note_")
        assert (call.type, call.text, call.call_duration) == ("call", "This is a call", 60)
        assert "staff@example.com" in call.author
        assert note.call_duration == 0
        assert isinstance(call.created_at, dt.datetime)
        listed = chartmogul.CustomerNote.all(cm, customer_uuid=customer.uuid).get()
        assert [n.uuid for n in listed.entries] == [note.uuid, call.uuid]
        assert listed.has_more is False
        first = chartmogul.CustomerNote.all(cm, customer_uuid=customer.uuid, per_page=1).get()
        second = chartmogul.CustomerNote.all(
            cm, customer_uuid=customer.uuid, per_page=1, cursor=first.cursor
        ).get()
        assert [n.uuid for n in (*first.entries, *second.entries)] == [note.uuid, call.uuid]
        changed = chartmogul.CustomerNote.patch(
            cm, uuid=call.uuid, data={"text": "This is a updated note"}
        ).get()
        assert changed.text == "This is a updated note"
        fetched = chartmogul.CustomerNote.retrieve(cm, uuid=call.uuid).get()
        assert (fetched.text, fetched.type) == ("This is a updated note", "call")
        chartmogul.CustomerNote.destroy(cm, uuid=call.uuid).get()
        assert_not_found(api_failure(chartmogul.CustomerNote.retrieve(cm, uuid=call.uuid)), "Note")


def test_opportunities(cm: chartmogul.Config, customer: Any) -> None:
    """The recorded create body; ``custom`` comes back as a map; modify and destroy."""
    created = chartmogul.Opportunity.create(
        cm,
        data={
            "customer_uuid": customer.uuid,
            "owner": "owner@example.com",
            "pipeline": "New Business",
            "pipeline_stage": "Discovery",
            "estimated_close_date": "2024-03-30",
            "currency": "USD",
            "amount_in_cents": 200000,
            "type": "one-time",
            "forecast_category": "best_case",
            "win_likelihood": 30,
            "custom": [{"key": "from_campaign", "value": True}],
        },
    ).get()
    assert created.custom == {"from_campaign": True}
    assert created.estimated_close_date == dt.date(2024, 3, 30)
    assert (created.amount_in_cents, created.win_likelihood) == (200000, 30)
    changed = chartmogul.Opportunity.patch(
        cm, uuid=created.uuid, data={"estimated_close_date": "2024-04-30"}
    ).get()
    assert changed.estimated_close_date == dt.date(2024, 4, 30)
    assert changed.pipeline_stage == "Discovery"
    listed = chartmogul.Opportunity.all(cm, customer_uuid=customer.uuid).get()
    assert [o.uuid for o in listed.entries] == [created.uuid]
    chartmogul.Opportunity.destroy(cm, uuid=created.uuid).get()
    assert chartmogul.Opportunity.all(cm, customer_uuid=customer.uuid).get().entries == []
    missing = api_failure(
        chartmogul.Opportunity.create(cm, data={"customer_uuid": customer.uuid, "owner": "x@y.io"})
    )
    assert missing.status == 422
    assert "pipeline" in missing.body["errors"]


def test_tasks(cm: chartmogul.Config, customer: Any) -> None:
    """Tasks are keyed by ``task_uuid``; ``completed_at`` starts null; filter by completion."""
    created = chartmogul.Task.create(
        cm,
        data={
            "customer_uuid": customer.uuid,
            "task_details": "This is some task details text.",
            "assignee": "assignee@example.com",
            "due_date": "2025-04-30T00:00:00Z",
        },
    ).get()
    assert created.completed_at is None
    assert created.due_date == dt.datetime(2025, 4, 30, tzinfo=dt.UTC)
    done = chartmogul.Task.patch(
        cm, uuid=created.task_uuid, data={"completed_at": "2025-05-01T10:00:00Z"}
    ).get()
    assert done.completed_at == dt.datetime(2025, 5, 1, 10, tzinfo=dt.UTC)
    assert done.task_details == "This is some task details text."
    open_tasks = chartmogul.Task.all(cm, customer_uuid=customer.uuid, completed=False).get()
    assert open_tasks.entries == []
    finished = chartmogul.Task.all(cm, customer_uuid=customer.uuid, completed=True).get()
    assert [t.task_uuid for t in finished.entries] == [created.task_uuid]
    assert chartmogul.Task.retrieve(cm, uuid=created.task_uuid).get().assignee == (
        "assignee@example.com"
    )
    chartmogul.Task.destroy(cm, uuid=created.task_uuid).get()
    assert_not_found(api_failure(chartmogul.Task.retrieve(cm, uuid=created.task_uuid)), "Task")

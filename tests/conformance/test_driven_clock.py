"""Every timestamp the emulator writes comes from its one drivable clock.

The clock is driven to a moment long past and to one far ahead (never today's date), and
each object family is created, then changed after the clock moved, through the official
client; the raw answer is checked where the client does not parse the field. Before the
fix, data sources, exports, CRM objects, JSON imports and ``disabled_at`` read real time.
"""

from __future__ import annotations

import datetime as dt
import time
import warnings
from typing import Any

import chartmogul
import httpx
import pytest
from tests.conformance._support import (
    GOLD_PLAN,
    create_crm_objects,
    create_customer,
    create_data_source,
    create_plan,
    subscription_invoice,
)

from mogulsync.emulator.server import EmulatorServer

PAST = dt.datetime(2003, 2, 1, 4, 5, 6, tzinfo=dt.UTC)
FUTURE = dt.datetime(2061, 10, 20, 21, 22, 23, tzinfo=dt.UTC)
#: how far the clock moves between creating and changing an object
STEP = dt.timedelta(days=2, hours=3)
#: generous; a small import finishes in well under a second (not a timing assertion)
IMPORT_DEADLINE_S = 60.0
POLL_INTERVAL_S = 0.02


@pytest.fixture(params=[PAST, FUTURE], ids=["past", "future"])
def start(request: pytest.FixtureRequest, emulator_server: EmulatorServer) -> dt.datetime:
    """The moment the account's clock is stopped at before anything is created."""
    moment: dt.datetime = request.param
    emulator_server.emulator.drive_clock(moment)
    return moment


def _crm_objects(cm: chartmogul.Config, customer_uuid: str) -> list[tuple[Any, Any, Any]]:
    """A customer note, an opportunity and a task: (created object, modify method, change)."""
    note, opportunity, task = create_crm_objects(cm, customer_uuid)
    return [
        (note, chartmogul.CustomerNote.patch, {"text": "changed"}),
        (opportunity, chartmogul.Opportunity.patch, {"pipeline_stage": "Won"}),
        (task, chartmogul.Task.patch, {"task_details": "Call again"}),
    ]


def test_objects_are_stamped_by_the_driven_clock(
    emulator_server: EmulatorServer, cm: chartmogul.Config, api: httpx.Client, start: dt.datetime
) -> None:
    """Data sources, CRM objects, subscription events, exports and the disabled state of
    invoices, line items, transactions and events carry the driven moments."""
    emulator = emulator_server.emulator
    ds = create_data_source(cm, "Clocked")
    assert ds.created_at == start
    plan = create_plan(cm, ds.uuid, **GOLD_PLAN)
    customer = create_customer(cm, ds.uuid, "clocked-1", name="Clocked")
    crm = _crm_objects(cm, customer.uuid)
    for created, _, _ in crm:
        assert (created.created_at, created.updated_at) == (start, start)
    event = chartmogul.SubscriptionEvent.create(
        cm,
        data={
            "subscription_event": {
                "data_source_uuid": ds.uuid,
                "customer_external_id": "clocked-1",
                "event_type": "subscription_start",
                "event_date": "2024-01-01 00:00:00",
                "effective_date": "2024-01-01 00:00:00",
                "external_id": "evt-clocked",
                "subscription_external_id": "sub-clocked",
                "plan_external_id": GOLD_PLAN["external_id"],
                "currency": "USD",
                "amount_in_cents": 1000,
            }
        },
    ).get()
    invoice = subscription_invoice(
        "inv-clocked",
        plan_uuid=plan.uuid,
        subscription_external_id="sub-inv-clocked",
        start="2024-01-01",
        end="2024-02-01",
    )
    (imported,) = (
        chartmogul.Invoice.create(cm, uuid=customer.uuid, data={"invoices": [invoice]})
        .get()
        .invoices
    )
    export = chartmogul.ActivitiesExport.create(cm, data={"type": "new_biz"}).get()
    assert export.created_at == start

    later = emulator.advance_clock(STEP)
    assert later == start + STEP
    for created, modify, change in crm:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            uuid = getattr(created, "task_uuid", None) or created.uuid  # tasks: task_uuid
            changed = modify(cm, uuid=uuid, data=change).get()
        assert (changed.created_at, changed.updated_at) == (start, later)
    ready = chartmogul.ActivitiesExport.retrieve(cm, id=export.id).get()
    assert ready.status == "succeeded"
    assert (ready.created_at, ready.expires_at) == (start, start + dt.timedelta(days=7))

    disabled = [
        chartmogul.Invoice.disable(cm, uuid=imported.uuid, data={"disabled": True}).get(),
        chartmogul.LineItem.disable(
            cm, uuid=imported.line_items[0].uuid, data={"disabled": True}
        ).get(),
        chartmogul.Transaction.disable(
            cm, uuid=imported.transactions[0].uuid, data={"disabled": True}
        ).get(),
        chartmogul.SubscriptionEvent.disable(cm, id=event.id).get(),
    ]
    assert [item.disabled_at for item in disabled] == [later] * len(disabled)

    # created_at / updated_at of events are not in the client's schema: the raw answer
    (listed,) = api.get("/subscription_events").json()["subscription_events"]
    assert (listed["created_at"], listed["updated_at"]) == (
        f"{start:%Y-%m-%dT%H:%M:%SZ}",
        f"{later:%Y-%m-%dT%H:%M:%SZ}",
    )


def test_json_import_is_stamped_by_the_driven_clock(
    emulator_server: EmulatorServer, cm: chartmogul.Config, start: dt.datetime
) -> None:
    """A bulk import's ``created_at`` and, through every state it passes, ``updated_at``."""
    ds = create_data_source(cm, "Clocked imports")
    batch = {"external_id": "clocked", "customers": [{"external_id": "c1", "name": "One"}]}
    created = chartmogul.JsonImport.create(cm, data_source_uuid=ds.uuid, data=batch).get()
    assert (created.created_at, created.updated_at) == (start, start)
    deadline = time.monotonic() + IMPORT_DEADLINE_S
    status = created
    while status.status not in {"completed", "failed"} and time.monotonic() < deadline:
        time.sleep(POLL_INTERVAL_S)
        status = chartmogul.JsonImport.retrieve(cm, data_source_uuid=ds.uuid, id=created.id).get()
    assert status.status == "completed"
    assert (status.created_at, status.updated_at) == (start, start)
    assert emulator_server.emulator.clock() == start

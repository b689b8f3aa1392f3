"""Subscription events CRUD through ``chartmogul.SubscriptionEvent``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import chartmogul
from tests.conformance._support import api_failure


def _event(ds_uuid: str, external_id: str, **overrides: Any) -> dict[str, Any]:
    event = {
        "data_source_uuid": ds_uuid,
        "customer_external_id": "cus-ext-1",
        "event_type": "subscription_start",
        "event_date": "2024-01-01 00:00:00",
        "effective_date": "2024-01-01 00:00:00",
        "external_id": external_id,
        "subscription_external_id": "evt-sub-1",
        "plan_external_id": "gold_monthly",
        "currency": "USD",
        "amount_in_cents": 1000,
        "quantity": 1,
    }
    return {**event, **overrides}


def _create(cm: chartmogul.Config, ds_uuid: str, external_id: str, **overrides: Any) -> Any:
    data = {"subscription_event": _event(ds_uuid, external_id, **overrides)}
    return chartmogul.SubscriptionEvent.create(cm, data=data).get()


def test_create_and_list(cm: chartmogul.Config, ds: Any, plan: Any, customer: Any) -> None:
    """An enveloped create returns the flat event; the list filters and pages."""
    created = _create(cm, ds.uuid, "evt-1")
    assert isinstance(created.id, int)
    assert (created.data_source_uuid, created.external_id) == (ds.uuid, "evt-1")
    assert (created.event_type, created.amount_in_cents, created.quantity) == (
        "subscription_start",
        1000,
        1,
    )
    assert created.event_date == datetime(2024, 1, 1, tzinfo=UTC)
    assert created.customer_external_id == "cus-ext-1"
    second = _create(cm, ds.uuid, "evt-2", event_type="subscription_cancelled", amount_in_cents=0)

    listed = chartmogul.SubscriptionEvent.all(cm, data_source_uuid=ds.uuid).get()
    assert {e.id for e in listed.subscription_events} == {created.id, second.id}
    assert listed.has_more is False
    by_type = chartmogul.SubscriptionEvent.all(cm, event_type="subscription_cancelled").get()
    assert [e.id for e in by_type.subscription_events] == [second.id]
    by_external = chartmogul.SubscriptionEvent.all(
        cm, data_source_uuid=ds.uuid, external_id="evt-1"
    ).get()
    assert [e.id for e in by_external.subscription_events] == [created.id]

    first_page = chartmogul.SubscriptionEvent.all(cm, per_page=1).get()
    assert (len(first_page.subscription_events), first_page.has_more) == (1, True)
    rest = chartmogul.SubscriptionEvent.all(cm, per_page=1, cursor=first_page.cursor).get()
    assert rest.has_more is False
    paged = {e.id for e in [*first_page.subscription_events, *rest.subscription_events]}
    assert paged == {created.id, second.id}


def test_modify_by_id_and_by_external_id(
    cm: chartmogul.Config, ds: Any, plan: Any, customer: Any
) -> None:
    """PATCH /subscription_events finds the event by id or by external_id plus source."""
    event = _create(cm, ds.uuid, "evt-1")
    by_id = chartmogul.SubscriptionEvent.modify_with_params(
        cm, id=event.id, data={"amount_in_cents": 2000}
    ).get()
    assert (by_id.id, by_id.amount_in_cents) == (event.id, 2000)
    by_external = chartmogul.SubscriptionEvent.modify_with_params(
        cm,
        data={
            "subscription_event": {
                "external_id": "evt-1",
                "data_source_uuid": ds.uuid,
                "quantity": 3,
            }
        },
    ).get()
    assert (by_external.id, by_external.quantity, by_external.amount_in_cents) == (
        event.id,
        3,
        2000,
    )
    listed = chartmogul.SubscriptionEvent.all(cm, data_source_uuid=ds.uuid).get()
    assert [(e.amount_in_cents, e.quantity) for e in listed.subscription_events] == [(2000, 3)]


def test_delete_with_body(cm: chartmogul.Config, ds: Any, plan: Any, customer: Any) -> None:
    """DELETE /subscription_events with the id in a JSON body answers 204 and removes it."""
    kept = _create(cm, ds.uuid, "evt-keep")
    doomed = _create(cm, ds.uuid, "evt-doomed")
    assert chartmogul.SubscriptionEvent.destroy_with_params(cm, id=doomed.id).get() is None
    listed = chartmogul.SubscriptionEvent.all(cm, data_source_uuid=ds.uuid).get()
    assert [e.id for e in listed.subscription_events] == [kept.id]
    again = api_failure(chartmogul.SubscriptionEvent.destroy_with_params(cm, id=doomed.id))
    assert again.status == 404


def test_disable_and_enable(cm: chartmogul.Config, ds: Any, plan: Any, customer: Any) -> None:
    """The disabled_state endpoint toggles ``disabled`` by id or by external_id."""
    event = _create(cm, ds.uuid, "evt-1")
    disabled = chartmogul.SubscriptionEvent.disable(cm, id=event.id).get()
    assert (disabled.id, disabled.disabled) == (event.id, True)
    enabled = chartmogul.SubscriptionEvent.enable(
        cm, external_id="evt-1", data_source_uuid=ds.uuid
    ).get()
    assert (enabled.id, enabled.disabled) == (event.id, False)


def test_unknown_event_and_bad_type(cm: chartmogul.Config, ds: Any) -> None:
    """An unknown id is a 404; an unknown event_type is rejected."""
    missing = api_failure(
        chartmogul.SubscriptionEvent.modify_with_params(cm, id=999999, data={"quantity": 2})
    )
    assert missing.status == 404
    assert "not found" in missing.raw.decode().lower()
    bad = api_failure(
        chartmogul.SubscriptionEvent.create(
            cm, data={"subscription_event": _event(ds.uuid, "evt-bad", event_type="bogus")}
        )
    )
    assert bad.status in {400, 422}

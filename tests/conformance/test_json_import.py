"""The bulk JSON import life cycle through ``chartmogul.JsonImport``."""

from __future__ import annotations

import time
from typing import Any

import chartmogul
from tests.conformance._support import api_failure

#: how long a small import may take before the test gives up (not a timing assertion)
IMPORT_DEADLINE_S = 60.0
POLL_INTERVAL_S = 0.02
TERMINAL = frozenset({"completed", "failed"})
BATCH_CUSTOMERS = 210


def _batch(customers: int) -> dict[str, Any]:
    """A payload with a plan, ``customers`` customers, one invoice, line item and payment each."""
    ids = [f"json-cus-{index:03d}" for index in range(customers)]
    return {
        "external_id": "batch-1",
        "plans": [
            {
                "name": "Bulk",
                "external_id": "bulk_plan",
                "interval_count": 1,
                "interval_unit": "month",
            }
        ],
        "customers": [{"external_id": cid, "name": f"Bulk {cid}"} for cid in ids],
        "invoices": [
            {
                "external_id": f"{cid}-inv",
                "customer_external_id": cid,
                "date": "2024-01-01 00:00:00",
                "currency": "USD",
            }
            for cid in ids
        ],
        "line_items": [
            {
                "invoice_external_id": f"{cid}-inv",
                "type": "subscription",
                "amount_in_cents": 1000,
                "quantity": 1,
                "plan_external_id": "bulk_plan",
                "subscription_external_id": f"{cid}-sub",
                "service_period_start": "2024-01-01 00:00:00",
                "service_period_end": "2024-02-01 00:00:00",
            }
            for cid in ids
        ],
        "transactions": [
            {
                "invoice_external_id": f"{cid}-inv",
                "external_id": f"{cid}-tr",
                "type": "payment",
                "result": "successful",
                "date": "2024-01-01 00:00:00",
            }
            for cid in ids
        ],
    }


def _wait_until_done(
    cm: chartmogul.Config, ds_uuid: str, import_id: str, seen: list[str] | None = None
) -> Any:
    """Poll until the import ends; every distinct status seen is appended to ``seen``."""
    deadline = time.monotonic() + IMPORT_DEADLINE_S
    while True:
        status = chartmogul.JsonImport.retrieve(cm, data_source_uuid=ds_uuid, id=import_id).get()
        if seen is not None and (not seen or seen[-1] != status.status):
            seen.append(status.status)
        if status.status in TERMINAL or time.monotonic() > deadline:
            return status
        time.sleep(POLL_INTERVAL_S)


def test_json_import_life_cycle(cm: chartmogul.Config, ds: Any) -> None:
    """An import is queued, completes, reports per-customer status and creates the records."""
    created = chartmogul.JsonImport.create(
        cm, data_source_uuid=ds.uuid, data=_batch(BATCH_CUSTOMERS)
    ).get()
    assert created.id
    assert (created.data_source_uuid, created.external_id) == (ds.uuid, "batch-1")
    assert created.status == "queued"
    assert created.created_at is not None

    seen = [created.status]
    done = _wait_until_done(cm, ds.uuid, created.id, seen)
    assert done.status == "completed"
    assert done.id == created.id
    # statuses only move forward: queued -> processing -> completed (polling may skip some)
    order = ["queued", "processing", "completed"]
    assert seen == sorted(seen, key=order.index)
    details = done.status_details
    assert details["json-cus-000"]["status"] == "imported"
    assert "plans" in details

    customers = chartmogul.Customer.all(cm, data_source_uuid=ds.uuid).get()
    assert customers.has_more is True
    first = (
        chartmogul.Customer.all(cm, data_source_uuid=ds.uuid, external_id="json-cus-000")
        .get()
        .entries[0]
    )
    invoices = chartmogul.Invoice.all(cm, uuid=first.uuid).get().invoices
    assert [inv.external_id for inv in invoices] == ["json-cus-000-inv"]
    assert invoices[0].line_items[0].amount_in_cents == 1000
    assert invoices[0].transactions[0].external_id == "json-cus-000-tr"
    plans = chartmogul.Plan.all(cm, data_source_uuid=ds.uuid, external_id="bulk_plan").get()
    assert [p.name for p in plans.plans] == ["Bulk"]


def test_json_import_status_by_batch_external_id(cm: chartmogul.Config, ds: Any) -> None:
    """The status can also be fetched with the caller's batch external_id (as the docs say)."""
    created = chartmogul.JsonImport.create(cm, data_source_uuid=ds.uuid, data=_batch(2)).get()
    by_external = chartmogul.JsonImport.retrieve(cm, data_source_uuid=ds.uuid, id="batch-1").get()
    assert by_external.id == created.id


def test_json_import_unknown_source_and_id(cm: chartmogul.Config, ds: Any) -> None:
    """An unknown data source or import id is a 404."""
    missing_source = api_failure(
        chartmogul.JsonImport.create(
            cm, data_source_uuid="ds_00000000-0000-0000-0000-000000000000", data=_batch(1)
        )
    )
    assert missing_source.status == 404
    missing_import = api_failure(
        chartmogul.JsonImport.retrieve(cm, data_source_uuid=ds.uuid, id="no-such-import")
    )
    assert missing_import.status == 404


def test_json_import_existing_customer_is_not_duplicated(cm: chartmogul.Config, ds: Any) -> None:
    """A batch customer whose external_id exists creates no duplicate; the others import."""
    chartmogul.Customer.create(
        cm, data={"data_source_uuid": ds.uuid, "external_id": "json-cus-000", "name": "Existing"}
    ).get()
    created = chartmogul.JsonImport.create(cm, data_source_uuid=ds.uuid, data=_batch(2)).get()
    done = _wait_until_done(cm, ds.uuid, created.id)
    assert done.status in TERMINAL
    existing = chartmogul.Customer.all(cm, data_source_uuid=ds.uuid, external_id="json-cus-000")
    assert len(existing.get().entries) == 1
    fresh = chartmogul.Customer.all(cm, data_source_uuid=ds.uuid, external_id="json-cus-001")
    assert len(fresh.get().entries) == 1


def test_json_import_subscription_events(cm: chartmogul.Config, ds: Any) -> None:
    """Subscription events in a batch become listable subscription events."""
    batch = {
        "external_id": "events-batch",
        "plans": [
            {"name": "E", "external_id": "e_plan", "interval_count": 1, "interval_unit": "month"}
        ],
        "customers": [{"external_id": "evt-cus", "name": "Event customer"}],
        "subscription_events": [
            {
                "external_id": "evt-start",
                "customer_external_id": "evt-cus",
                "subscription_external_id": "evt-sub",
                "plan_external_id": "e_plan",
                "event_type": "subscription_start",
                "event_date": "2024-01-01 00:00:00",
                "effective_date": "2024-01-01 00:00:00",
                "currency": "USD",
                "amount_in_cents": 2500,
                "quantity": 1,
            }
        ],
    }
    created = chartmogul.JsonImport.create(cm, data_source_uuid=ds.uuid, data=batch).get()
    assert _wait_until_done(cm, ds.uuid, created.id).status == "completed"
    events = chartmogul.SubscriptionEvent.all(cm, data_source_uuid=ds.uuid).get()
    assert [(e.external_id, e.amount_in_cents) for e in events.subscription_events] == [
        ("evt-start", 2500)
    ]

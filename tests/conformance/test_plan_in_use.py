"""A plan that subscriptions or invoices use cannot be deleted (ChartMogul's documented
rule: "only if it isn't referenced by any subscriptions or invoices"); the emulator deleted
it and left the line items and activities naming a plan that no longer existed.

The status and body of the refusal are not documented: the emulator answers 422 in the
import API's field shape (docs/emulator.md, "Where the emulator has to guess").
"""

from __future__ import annotations

from typing import Any

import chartmogul
from tests.conformance._support import (
    GOLD_PLAN,
    api_failure,
    create_data_source,
    create_plan,
    subscription_invoice,
)


def _refused(cm: chartmogul.Config, plan_uuid: str) -> str:
    """Delete the plan, which must be refused; the message."""
    failure = api_failure(chartmogul.Plan.destroy(cm, uuid=plan_uuid))
    assert failure.status == 422, failure
    message: str = failure.body["errors"]["plan_uuid"]
    assert chartmogul.Plan.retrieve(cm, uuid=plan_uuid).get().uuid == plan_uuid
    return message


def test_a_plan_invoices_use_is_kept_until_they_go(
    cm: chartmogul.Config, ds: Any, plan: Any, customer: Any
) -> None:
    """Refused (naming what uses it and the fix) while an invoice line item names the
    plan; deleted once the invoices are gone. A one-time line item names no plan."""
    invoices = [
        subscription_invoice(
            f"inv-{month}",
            plan_uuid=plan.uuid,
            subscription_external_id="sub-1",
            start=f"2024-0{month}-01",
            end=f"2024-0{month + 1}-01",
        )
        for month in (1, 2)
    ]
    imported = chartmogul.Invoice.create(cm, uuid=customer.uuid, data={"invoices": invoices})
    first, second = imported.get().invoices
    message = _refused(cm, plan.uuid)
    assert "used by subscriptions or invoices" in message
    assert "(2 invoice line items)" in message
    assert "Delete those invoices" in message

    chartmogul.Invoice.destroy(cm, uuid=first.uuid).get()
    assert "(1 invoice line item)" in _refused(cm, plan.uuid)
    chartmogul.Invoice.destroy(cm, uuid=second.uuid).get()
    one_time = {
        "external_id": "inv-setup",
        "date": "2024-03-01 00:00:00",
        "currency": "USD",
        "line_items": [{"type": "one_time", "amount_in_cents": 900, "description": "Setup"}],
        "transactions": [],
    }
    chartmogul.Invoice.create(cm, uuid=customer.uuid, data={"invoices": [one_time]}).get()
    assert chartmogul.Plan.destroy(cm, uuid=plan.uuid).get() is None
    assert api_failure(chartmogul.Plan.retrieve(cm, uuid=plan.uuid)).status == 404


def test_a_plan_subscription_events_name_is_kept_until_they_go(
    cm: chartmogul.Config, ds: Any, plan: Any, customer: Any
) -> None:
    """An event naming the plan's external id in its data source keeps the plan; the same
    external id in another data source does not."""
    event = chartmogul.SubscriptionEvent.create(
        cm,
        data={
            "subscription_event": {
                "data_source_uuid": ds.uuid,
                "customer_external_id": customer.external_id,
                "event_type": "subscription_start",
                "event_date": "2024-01-01 00:00:00",
                "effective_date": "2024-01-01 00:00:00",
                "external_id": "evt-1",
                "subscription_external_id": "sub-evt",
                "plan_external_id": GOLD_PLAN["external_id"],
                "currency": "USD",
                "amount_in_cents": 1000,
            }
        },
    ).get()
    assert "(1 subscription event)" in _refused(cm, plan.uuid)
    elsewhere = create_plan(cm, create_data_source(cm, "Other billing").uuid, **GOLD_PLAN)
    assert chartmogul.Plan.destroy(cm, uuid=elsewhere.uuid).get() is None

    chartmogul.SubscriptionEvent.destroy_with_params(cm, id=event.id).get()
    assert chartmogul.Plan.destroy(cm, uuid=plan.uuid).get() is None

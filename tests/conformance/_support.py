"""Builders and assertions shared by the conformance tests.

Everything here goes through the official ``chartmogul`` client (promises resolved with
``.get()``), so the helpers exercise the same calls an application makes.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from typing import Any

import chartmogul
import pytest
import requests

GOLD_PLAN: dict[str, Any] = {
    "external_id": "gold_monthly",
    "name": "Gold",
    "interval_count": 1,
    "interval_unit": "month",
}
#: monthly price of the Gold plan in the billing histories below
GOLD_CENTS = 5000
#: monthly price of the second customer's subscription in :func:`bill_two_customers`
SILVER_CENTS = 3000


@dataclass(frozen=True, slots=True)
class ApiFailure:
    """What the client surfaced for a non-2xx answer."""

    status: int
    body: Any
    raw: bytes


def api_failure(promise: Any) -> ApiFailure:
    """Resolve a promise that must fail with ``chartmogul.APIError``; status and body."""
    with pytest.raises(chartmogul.APIError) as info:
        promise.get()
    raw = info.value.args[0]
    cause = info.value.__cause__
    assert isinstance(cause, requests.HTTPError), "APIError must wrap the HTTPError"
    assert isinstance(raw, bytes), "APIError carries the raw body bytes"
    try:
        body: Any = json.loads(raw)
    except ValueError:
        body = raw.decode()
    return ApiFailure(cause.response.status_code, body, raw)


def assert_not_found(failure: ApiFailure, thing: str) -> None:
    """A 404 in the import-API shape ``{"error": "<Thing> not found", ...}``."""
    assert failure.status == 404, failure
    assert isinstance(failure.body, dict), failure
    assert failure.body.get("error") == f"{thing} not found", failure


def create_data_source(cm: chartmogul.Config, name: str) -> Any:
    """A new data source."""
    return chartmogul.DataSource.create(cm, data={"name": name}).get()


def create_plan(cm: chartmogul.Config, ds_uuid: str, **fields: Any) -> Any:
    """A new plan in a data source."""
    return chartmogul.Plan.create(cm, data={"data_source_uuid": ds_uuid, **fields}).get()


def create_customer(cm: chartmogul.Config, ds_uuid: str, external_id: str, **fields: Any) -> Any:
    """A new customer in a data source."""
    data = {"data_source_uuid": ds_uuid, "external_id": external_id, **fields}
    return chartmogul.Customer.create(cm, data=data).get()


def subscription_invoice(
    external_id: str,
    *,
    plan_uuid: str,
    subscription_external_id: str,
    start: str,
    end: str,
    amount_in_cents: int = GOLD_CENTS,
    paid: bool = True,
) -> dict[str, Any]:
    """An invoice with one subscription line item and, when ``paid``, its payment.

    ``start`` and ``end`` are ISO dates; the invoice is dated at the period start, which is
    when the subscription's revenue begins.
    """
    invoice: dict[str, Any] = {
        "external_id": external_id,
        "date": f"{start} 00:00:00",
        "due_date": f"{start} 00:00:00",
        "currency": "USD",
        "line_items": [
            {
                "type": "subscription",
                "external_id": f"{external_id}-li",
                "subscription_external_id": subscription_external_id,
                "plan_uuid": plan_uuid,
                "service_period_start": f"{start} 00:00:00",
                "service_period_end": f"{end} 00:00:00",
                "amount_in_cents": amount_in_cents,
                "quantity": 1,
                "discount_amount_in_cents": 0,
                "tax_amount_in_cents": 0,
            }
        ],
        "transactions": [],
    }
    if paid:
        invoice["transactions"].append(
            {
                "external_id": f"{external_id}-tr",
                "date": f"{start} 00:05:00",
                "type": "payment",
                "result": "successful",
            }
        )
    return invoice


#: monthly service periods of 2024's first quarter
Q1_2024 = (
    ("2024-01-01", "2024-02-01"),
    ("2024-02-01", "2024-03-01"),
    ("2024-03-01", "2024-04-01"),
)


def bill_monthly(
    cm: chartmogul.Config,
    customer_uuid: str,
    plan_uuid: str,
    *,
    prefix: str,
    periods: tuple[tuple[str, str], ...],
    amount_in_cents: int,
) -> list[Any]:
    """Import one invoice per period for subscription ``<prefix>-sub``; the invoices."""
    invoices = [
        subscription_invoice(
            f"{prefix}-inv-{index}",
            plan_uuid=plan_uuid,
            subscription_external_id=f"{prefix}-sub",
            start=start,
            end=end,
            amount_in_cents=amount_in_cents,
        )
        for index, (start, end) in enumerate(periods, start=1)
    ]
    result = chartmogul.Invoice.create(cm, uuid=customer_uuid, data={"invoices": invoices}).get()
    return list(result.invoices)


@dataclass(frozen=True, slots=True)
class History:
    """Two paying customers: A on Gold since January, B on Silver since February."""

    ds_uuid: str
    plan_uuid: str
    silver_plan_uuid: str
    customer_a: Any
    customer_b: Any


def bill_two_customers(cm: chartmogul.Config) -> History:
    """Build :class:`History` through the client (no cancellation yet)."""
    ds = create_data_source(cm, "Metrics source")
    gold = create_plan(cm, ds.uuid, **GOLD_PLAN)
    silver = create_plan(
        cm,
        ds.uuid,
        external_id="silver_monthly",
        name="Silver",
        interval_count=1,
        interval_unit="month",
    )
    first = create_customer(cm, ds.uuid, "cus-a", name="Alpha Ltd", country="GB")
    second = create_customer(cm, ds.uuid, "cus-b", name="Beta Inc", country="US")
    bill_monthly(cm, first.uuid, gold.uuid, prefix="a", periods=Q1_2024, amount_in_cents=GOLD_CENTS)
    bill_monthly(
        cm, second.uuid, silver.uuid, prefix="b", periods=Q1_2024[1:], amount_in_cents=SILVER_CENTS
    )
    return History(ds.uuid, gold.uuid, silver.uuid, first, second)


def create_crm_objects(cm: chartmogul.Config, customer_uuid: str) -> tuple[Any, Any, Any]:
    """A customer note, an opportunity and a task for the customer, as created."""
    with warnings.catch_warnings():  # CustomerNote is deprecated in favour of EntityNote
        warnings.simplefilter("ignore", DeprecationWarning)
        note = chartmogul.CustomerNote.create(
            cm, data={"customer_uuid": customer_uuid, "type": "note", "text": "hello"}
        ).get()
    opportunity = chartmogul.Opportunity.create(
        cm,
        data={
            "customer_uuid": customer_uuid,
            "owner": "owner@example.com",
            "pipeline": "New Business",
            "pipeline_stage": "Discovery",
            "estimated_close_date": "2030-01-01",
            "currency": "USD",
            "amount_in_cents": 100,
            "type": "recurring",
            "forecast_category": "pipeline",
            "win_likelihood": 3,
        },
    ).get()
    task = chartmogul.Task.create(
        cm,
        data={
            "customer_uuid": customer_uuid,
            "task_details": "Call back",
            "assignee": "assignee@example.com",
            "due_date": "2030-01-01T00:00:00Z",
        },
    ).get()
    return note, opportunity, task

"""Builders shared by the billing endpoint tests (invoices, subscriptions, events, imports).

Everything is created through the emulator's HTTP API, as a client would.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

UNKNOWN_CUS = "cus_00000000-0000-0000-0000-000000000000"
UNKNOWN_DS = "ds_00000000-0000-0000-0000-000000000000"
UNKNOWN_INV = "inv_00000000-0000-0000-0000-000000000000"
INVOICE_TAKEN = "The external ID for this invoice already exists in our system."
LINE_ITEM_TAKEN = "The external ID for this line item already exists in our system."
TRANSACTION_TAKEN = "has already been taken"
MONTHLY_CENTS = 5000


@dataclass(frozen=True, slots=True)
class Billing:
    """A data source with one customer and one plan."""

    ds: str
    customer: str
    plan: str


def created(response: httpx.Response) -> Any:
    """The JSON of a response that must be 201."""
    assert response.status_code == 201, response.text
    return response.json()


def make_customer(api: httpx.Client, ds: str, external_id: str) -> str:
    """A new customer's uuid."""
    body = {"data_source_uuid": ds, "external_id": external_id, "name": external_id.title()}
    return str(created(api.post("/customers", json=body))["uuid"])


def make_plan(api: httpx.Client, ds: str, external_id: str) -> str:
    """A new monthly plan's uuid."""
    body = {
        "data_source_uuid": ds,
        "external_id": external_id,
        "name": external_id.title(),
        "interval_count": 1,
        "interval_unit": "month",
    }
    return str(created(api.post("/plans", json=body))["uuid"])


def make_billing(api: httpx.Client, name: str = "Billing") -> Billing:
    """A data source, customer ``cus-1`` and plan ``gold`` made through the API."""
    ds = created(api.post("/data_sources", json={"name": name}))["uuid"]
    return Billing(ds, make_customer(api, ds, "cus-1"), make_plan(api, ds, "gold"))


def subscription_line(
    external_id: str | None,
    plan: str,
    *,
    subscription: str = "sub-1",
    start: str = "2024-01-01",
    end: str = "2024-02-01",
    **extra: Any,
) -> dict[str, Any]:
    """A monthly subscription line item."""
    line: dict[str, Any] = {
        "type": "subscription",
        "subscription_external_id": subscription,
        "plan_uuid": plan,
        "service_period_start": f"{start} 00:00:00",
        "service_period_end": f"{end} 00:00:00",
        "amount_in_cents": MONTHLY_CENTS,
        **extra,
    }
    if external_id is not None:
        line["external_id"] = external_id
    return line


def payment(external_id: str | None, **extra: Any) -> dict[str, Any]:
    """A successful payment."""
    entry: dict[str, Any] = {
        "type": "payment",
        "date": "2024-01-01 00:05:00",
        "result": "successful",
        **extra,
    }
    if external_id is not None:
        entry["external_id"] = external_id
    return entry


def invoice(
    external_id: str,
    lines: list[dict[str, Any]] | None = None,
    payments: list[dict[str, Any]] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """An invoice dated 2024-01-01 in USD."""
    return {
        "external_id": external_id,
        "date": "2024-01-01 00:00:00",
        "currency": "USD",
        "line_items": lines or [],
        "transactions": payments or [],
        **extra,
    }


def import_invoices(api: httpx.Client, customer: str, *invoices: dict[str, Any]) -> httpx.Response:
    """``POST /import/customers/{customer}/invoices``."""
    return api.post(f"/import/customers/{customer}/invoices", json={"invoices": list(invoices)})


def import_one(
    api: httpx.Client, billing: Billing, external_id: str = "inv-1", **extra: Any
) -> Any:
    """Import one paid subscription invoice and return it."""
    body = invoice(
        external_id,
        [subscription_line(f"{external_id}-li", billing.plan)],
        [payment(f"{external_id}-tr")],
        **extra,
    )
    return created(import_invoices(api, billing.customer, body))["invoices"][0]

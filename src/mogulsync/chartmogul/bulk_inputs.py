"""Request bodies of the bulk JSON import (``POST /data_sources/{uuid}/json_imports``).

Records in one import reference each other by external ids, not uuids (reference 5.11).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from mogulsync.chartmogul.inputs import (
    ChartMogulInput,
    CustomerFields,
    PlanFields,
    SubscriptionEventFields,
    Timestamp,
)


class JsonImportInvoice(ChartMogulInput):
    """An invoice of a bulk import, tied to its customer by external id."""

    external_id: str = Field(min_length=1)
    customer_external_id: str
    date: Timestamp
    currency: str = Field(min_length=3, max_length=3)
    due_date: Timestamp | None = None
    collection_method: str | None = None


class JsonImportLineItem(ChartMogulInput):
    """A line item of a bulk import, tied to its invoice and plan by external ids."""

    invoice_external_id: str
    type: Literal["subscription", "one_time"]
    amount_in_cents: int
    external_id: str | None = None
    quantity: int | None = None
    plan_external_id: str | None = None
    subscription_external_id: str | None = None
    subscription_set_external_id: str | None = None
    service_period_start: Timestamp | None = None
    service_period_end: Timestamp | None = None
    cancelled_at: Timestamp | None = None
    prorated: bool | None = None
    proration_type: str | None = None
    discount_code: str | None = None
    discount_amount_in_cents: int | None = None
    discount_description: str | None = None
    tax_amount_in_cents: int | None = None
    transaction_fees_in_cents: int | None = None
    transaction_fees_currency: str | None = None
    account_code: str | None = None
    description: str | None = None
    event_order: int | None = None


class JsonImportTransaction(ChartMogulInput):
    """A transaction of a bulk import, tied to its invoice by external id."""

    invoice_external_id: str
    type: Literal["payment", "refund"]
    result: Literal["successful", "failed"]
    date: Timestamp
    external_id: str | None = None
    amount_in_cents: int | None = None
    transaction_fees_in_cents: int | None = None
    transaction_fees_currency: str | None = None


class NewJsonImport(ChartMogulInput):
    """One bulk import request (keep it under 5 MB; 100-1,000 customers works best)."""

    external_id: str | None = Field(default=None, description="names the batch; enables lookups")
    customers: list[CustomerFields] | None = None
    plans: list[PlanFields] | None = None
    invoices: list[JsonImportInvoice] | None = None
    line_items: list[JsonImportLineItem] | None = None
    transactions: list[JsonImportTransaction] | None = None
    subscription_events: list[SubscriptionEventFields] | None = None

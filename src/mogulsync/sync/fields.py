"""Which ChartMogul fields each object has, how each is checked, and which are required.

The tables here are the single description of the payloads the sync builds; the mapper
(:mod:`mogulsync.sync.mapping`) and the config checks read them.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from mogulsync.sync import values as v

Converter = Callable[[Any], Any]

_INTERVAL_UNITS = ("day", "month", "year")
_LINE_TYPES = ("subscription", "one_time")
_PRORATION = ("differential", "full", "differential_mrr")


def _uuid(prefix: str) -> Converter:
    def convert(value: Any) -> str:
        result = v.required_text(value).strip()
        if not result.startswith(prefix):
            raise v.FieldValueError(
                f"{result!r} is not a ChartMogul {prefix}… uuid",
                f"Map the column holding ChartMogul uuids (they start with {prefix}).",
            )
        return result

    return convert


_POSITIVE = partial(v.integer, minimum=1)
_CENTS = partial(v.cents, minimum=0)

CUSTOMER: dict[str, Converter] = {
    "uuid": _uuid("cus_"),
    "external_id": v.required_text,
    "name": v.text,
    "email": v.email,
    "company": v.text,
    "country": v.country,
    "state": v.text,
    "city": v.text,
    "zip": v.text,
    "lead_created_at": v.timestamp,
    "free_trial_started_at": v.timestamp,
    "owner": v.email,
    "website_url": v.url,
    "tags": v.string_list,
    "primary_contact.first_name": v.text,
    "primary_contact.last_name": v.text,
    "primary_contact.email": v.email,
    "primary_contact.title": v.text,
    "primary_contact.phone": v.text,
    "primary_contact.linked_in": v.url,
    "primary_contact.twitter": v.text,
    "primary_contact.notes": v.text,
}
CONTACT: dict[str, Converter] = {
    "uuid": _uuid("con_"),
    "customer_external_id": v.required_text,
    "customer_uuid": _uuid("cus_"),
    "external_id": v.required_text,
    "first_name": v.text,
    "last_name": v.text,
    "title": v.text,
    "email": v.email,
    "phone": v.text,
    "linked_in": v.url,
    "twitter": v.text,
    "notes": v.text,
    "position": _POSITIVE,
}
PLAN: dict[str, Converter] = {
    "external_id": v.required_text,
    "name": v.required_text,
    "interval_count": _POSITIVE,
    "interval_unit": partial(v.choice, allowed=_INTERVAL_UNITS),
}
INVOICE: dict[str, Converter] = {
    "external_id": v.required_text,
    "customer_external_id": v.required_text,
    "customer_uuid": _uuid("cus_"),
    "date": v.timestamp,
    "currency": v.currency,
    "due_date": v.timestamp,
    "collection_method": partial(v.choice, allowed=("automatic", "manual")),
}
TRANSACTION: dict[str, Converter] = {
    "invoice_external_id": v.required_text,
    "invoice_uuid": _uuid("inv_"),
    "external_id": v.required_text,
    "type": partial(v.choice, allowed=("payment", "refund")),
    "result": partial(v.choice, allowed=("successful", "failed")),
    "date": v.timestamp,
    "amount_in_cents": _CENTS,
    "transaction_fees_in_cents": _CENTS,
    "transaction_fees_currency": v.currency,
}
LINE_ITEM: dict[str, Converter] = {
    "external_id": v.required_text,
    "type": partial(v.choice, allowed=_LINE_TYPES),
    "subscription_external_id": v.required_text,
    "subscription_set_external_id": v.required_text,
    "plan_external_id": v.required_text,
    "plan_uuid": _uuid("pl_"),
    "service_period_start": v.timestamp,
    "service_period_end": v.timestamp,
    "cancelled_at": v.timestamp,
    "amount_in_cents": v.cents,
    "quantity": _POSITIVE,
    "prorated": v.boolean,
    "proration_type": partial(v.choice, allowed=_PRORATION),
    "discount_code": v.text,
    "discount_amount_in_cents": _CENTS,
    "discount_description": v.text,
    "tax_amount_in_cents": _CENTS,
    "transaction_fees_in_cents": _CENTS,
    "transaction_fees_currency": v.currency,
    "account_code": v.text,
    "description": v.text,
    "event_order": v.integer,
}
#: the invoice a standalone transaction names (inline transactions are inside theirs)
TRANSACTION_PARENT = ("invoice_external_id", "invoice_uuid")
INLINE_TRANSACTION = {k: c for k, c in TRANSACTION.items() if k not in TRANSACTION_PARENT}

FIELDS: dict[str, dict[str, Converter]] = {
    "customer": CUSTOMER,
    "contact": CONTACT,
    "plan": PLAN,
    "invoice": INVOICE,
    "transaction": TRANSACTION,
}


def required_fields(object_type: str, mode: str, match: str) -> tuple[str | tuple[str, ...], ...]:
    """Fields a row must have for this object, mode and match key.

    A tuple inside the result means "one of these".
    """
    if object_type == "customer":
        if mode == "update":
            return (match,)
        return ("external_id", "email") if match == "email" else ("external_id",)
    if object_type == "contact":
        if mode == "update" and match == "uuid":
            return ("uuid",)
        parent = ("customer_external_id", "customer_uuid")
        return (parent,) if mode == "insert" else (parent, match)
    if object_type == "plan":
        return ("external_id", "name", "interval_count", "interval_unit")
    if object_type == "invoice":
        return ("external_id", ("customer_external_id", "customer_uuid"), "date", "currency")
    return (TRANSACTION_PARENT, "external_id", "type", "result", "date")


LINE_ITEM_REQUIRED: dict[str, tuple[str | tuple[str, ...], ...]] = {
    "subscription": (
        "amount_in_cents",
        "subscription_external_id",
        ("plan_external_id", "plan_uuid"),
        "service_period_start",
        "service_period_end",
    ),
    "one_time": ("amount_in_cents",),
}
INLINE_TRANSACTION_REQUIRED = ("type", "result", "date")

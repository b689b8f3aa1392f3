"""The MRR engine's only contact with storage: stored rows in, :class:`Facts` out.

Reads the kinds the billing and CRM routes write (see ``routes/_billing_records.py`` and
``store.py``): ``plan``, ``customer``, ``subscription`` and ``invoice`` rows, whose bodies
embed their line items. Also narrows facts for the Metrics API's ``plans`` and ``geo``
filters.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from mogulsync.emulator._http import parse_time
from mogulsync.emulator.mrr_facts import (
    CustomerFact,
    Facts,
    LineItemFact,
    PlanFact,
    SubscriptionFact,
)
from mogulsync.emulator.store import JSONDict, Row, Store

DEFAULT_CURRENCY = "USD"
#: bytes of a digest used for ids of subscriptions that have no stored row (JSON-safe ints)
_SYNTHETIC_ID_BYTES = 6


@dataclass(frozen=True, slots=True)
class MetricsFilter:
    """The ``plans`` and ``geo`` query filters, normalised (empty means no filter)."""

    plans: frozenset[str] = frozenset()
    geo: frozenset[str] = frozenset()

    @classmethod
    def parse(cls, plans: str | None, geo: str | None) -> MetricsFilter:
        """Comma-separated plan names/uuids/external ids and ISO country codes."""
        return cls(
            plans=frozenset(p.strip().casefold() for p in (plans or "").split(",") if p.strip()),
            geo=frozenset(g.strip().upper() for g in (geo or "").split(",") if g.strip()),
        )

    @property
    def empty(self) -> bool:
        """Whether no filter applies."""
        return not self.plans and not self.geo


NO_FILTER = MetricsFilter()


def stable_int(text: str) -> int:
    """A stable positive integer id derived from a string."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:_SYNTHETIC_ID_BYTES], "big")


def _int(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _moment(value: Any) -> datetime | None:
    """A stored timestamp as an aware UTC datetime (days are UTC days everywhere)."""
    parsed = parse_time(value)
    return parsed.astimezone(UTC) if parsed else None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def load_facts(store: Store) -> Facts:
    """Every fact the engine needs, read from the store."""
    return _facts(
        plans=store.iter_kind("plan"),
        customers=store.iter_kind("customer"),
        subscriptions=store.iter_kind("subscription"),
        invoices=store.iter_kind("invoice"),
    )


def load_customer_facts(store: Store, customer_uuid: str) -> Facts:
    """The facts of one customer only (its subscriptions, invoices and their plans).

    Subscriptions and invoices hang off their customer through ``parent_uuid`` (merges
    move both), so this is a few indexed reads: cheap enough to answer a customer
    lookup right after a write without rebuilding every customer's timeline.
    """
    customer = store.get("customer", customer_uuid)
    if customer is None:
        return Facts()
    subscriptions = store.find("subscription", parent_uuid=customer_uuid)
    invoices = store.find("invoice", parent_uuid=customer_uuid)
    plan_uuids = {_text(row.body.get("plan_uuid")) for row in subscriptions}
    plan_uuids.update(
        _text(line.get("plan_uuid"))
        for row in invoices
        for line in row.body.get("line_items") or []
    )
    plans = [row for uuid in plan_uuids if uuid for row in [store.get("plan", uuid)] if row]
    return _facts(plans=plans, customers=[customer], subscriptions=subscriptions, invoices=invoices)


def _facts(
    *,
    plans: Iterable[Row],
    customers: Iterable[Row],
    subscriptions: Iterable[Row],
    invoices: Iterable[Row],
) -> Facts:
    plan_facts = {
        row.uuid: PlanFact(
            uuid=row.uuid,
            external_id=_text(row.body.get("external_id")),
            name=_text(row.body.get("name")),
            interval_count=_int(row.body.get("interval_count"), 1),
            interval_unit=str(row.body.get("interval_unit") or "month"),
        )
        for row in plans
    }
    customer_facts = {
        row.uuid: CustomerFact(
            uuid=row.uuid,
            seq=row.seq,
            external_id=_text(row.body.get("external_id")),
            name=_text(row.body.get("name")),
            data_source_uuid=_text(row.body.get("data_source_uuid")),
            country=_text(row.body.get("country")),
        )
        for row in customers
    }
    subscription_facts = {
        row.uuid: _subscription(row.uuid, row.seq, row.body) for row in subscriptions
    }
    items: list[LineItemFact] = []
    for row in invoices:
        invoice = row.body
        if invoice.get("disabled"):
            continue
        currency = _text(invoice.get("currency")) or DEFAULT_CURRENCY
        for position, line in enumerate(invoice.get("line_items") or []):
            item = _line_item(line, currency, (row.seq, position))
            if item is None:
                continue
            items.append(item)
            if item.subscription_uuid not in subscription_facts:
                # a line item whose subscription row is missing still counts for its customer
                subscription_facts[item.subscription_uuid] = _orphan_subscription(line, invoice)
    live = {
        uuid: sub for uuid, sub in subscription_facts.items() if sub.customer_uuid in customer_facts
    }
    return Facts(
        customers=customer_facts,
        subscriptions=live,
        plans=plan_facts,
        line_items=tuple(i for i in items if i.subscription_uuid in live),
    )


def _subscription(uuid: str, seq: int, body: JSONDict) -> SubscriptionFact:
    dates = (_moment(raw) for raw in body.get("cancellation_dates") or [])
    return SubscriptionFact(
        uuid=uuid,
        customer_uuid=str(body.get("customer_uuid") or ""),
        seq=seq,
        external_id=_text(body.get("external_id")),
        set_external_id=_text(body.get("subscription_set_external_id")),
        data_source_uuid=_text(body.get("data_source_uuid")),
        plan_uuid=_text(body.get("plan_uuid")),
        cancellation_dates=tuple(sorted(d for d in dates if d is not None)),
    )


def _orphan_subscription(line: JSONDict, invoice: JSONDict) -> SubscriptionFact:
    uuid = str(line["subscription_uuid"])
    return SubscriptionFact(
        uuid=uuid,
        customer_uuid=str(invoice.get("customer_uuid") or ""),
        seq=stable_int(uuid),
        external_id=_text(line.get("subscription_external_id")),
        set_external_id=_text(line.get("subscription_set_external_id")),
        data_source_uuid=_text(invoice.get("data_source_uuid")),
        plan_uuid=_text(line.get("plan_uuid")),
    )


def _line_item(line: JSONDict, currency: str, order: tuple[int, int]) -> LineItemFact | None:
    if line.get("type") != "subscription" or line.get("disabled"):
        return None
    subscription_uuid = _text(line.get("subscription_uuid"))
    start = _moment(line.get("service_period_start"))
    end = _moment(line.get("service_period_end"))
    if subscription_uuid is None or start is None or end is None:
        return None
    return LineItemFact(
        subscription_uuid=subscription_uuid,
        start=start,
        end=end,
        amount_in_cents=_int(line.get("amount_in_cents"), 0),
        plan_uuid=_text(line.get("plan_uuid")),
        quantity=_int(line.get("quantity"), 1),
        prorated=bool(line.get("prorated")),
        proration_type=_text(line.get("proration_type")),
        cancelled_at=_moment(line.get("cancelled_at")),
        currency=currency,
        order=order,
        discount_in_cents=_int(line.get("discount_amount_in_cents"), 0),
    )


def narrow(facts: Facts, wanted: MetricsFilter) -> Facts:
    """Only the revenue the filter selects: matching plans, customers in matching countries."""
    if wanted.empty:
        return facts
    customers = facts.customers
    if wanted.geo:
        customers = {
            uuid: customer
            for uuid, customer in customers.items()
            if (customer.country or "").upper() in wanted.geo
        }
    subscriptions = {
        uuid: sub for uuid, sub in facts.subscriptions.items() if sub.customer_uuid in customers
    }
    items = tuple(i for i in facts.line_items if i.subscription_uuid in subscriptions)
    if wanted.plans:
        plan_uuids = {
            plan.uuid
            for plan in facts.plans.values()
            if {
                plan.uuid.casefold(),
                (plan.external_id or "").casefold(),
                (plan.name or "").casefold(),
            }
            & wanted.plans
        }
        items = tuple(i for i in items if i.plan_uuid in plan_uuids)
    return replace(facts, customers=customers, subscriptions=subscriptions, line_items=items)

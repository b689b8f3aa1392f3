"""The MRR engine's inputs: small frozen facts and how a line item becomes monthly revenue.

Everything here is pure. The store adapter (:mod:`mogulsync.emulator.mrr_store`) turns
stored rows into these facts; the timeline and metrics modules only ever see facts, so the
revenue rules can be tested on hand-made data. The rules are written up in
``docs/emulator-mrr.md``.
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from fractions import Fraction

#: A "day" plan is normalised to a month of this many days (documented simplification).
DAYS_PER_MONTH = 30
MONTHS_PER_YEAR = 12
DAYS_PER_WEEK = 7
#: proration types whose amount is the *full* new price for part of a period (replaces)
REPLACING_PRORATIONS = frozenset({"full"})


@dataclass(frozen=True, slots=True)
class PlanFact:
    """A plan's identity and billing interval."""

    uuid: str
    external_id: str | None = None
    name: str | None = None
    interval_count: int = 1
    interval_unit: str = "month"


@dataclass(frozen=True, slots=True)
class CustomerFact:
    """What activities show of a customer, plus its country for the ``geo`` filter."""

    uuid: str
    seq: int = 0
    external_id: str | None = None
    name: str | None = None
    data_source_uuid: str | None = None
    country: str | None = None


@dataclass(frozen=True, slots=True)
class SubscriptionFact:
    """One subscription: whose it is and when it was cancelled."""

    uuid: str
    customer_uuid: str
    seq: int = 0
    external_id: str | None = None
    set_external_id: str | None = None
    data_source_uuid: str | None = None
    plan_uuid: str | None = None
    cancellation_dates: tuple[datetime, ...] = ()


@dataclass(frozen=True, slots=True)
class LineItemFact:
    """A ``subscription`` line item: an amount for a service period of a subscription.

    ``order`` breaks ties between items that start at the same moment (later wins); the
    adapter uses (invoice sequence, position in the invoice).
    """

    subscription_uuid: str
    start: datetime
    end: datetime
    amount_in_cents: int
    plan_uuid: str | None = None
    quantity: int = 1
    prorated: bool = False
    proration_type: str | None = None
    cancelled_at: datetime | None = None
    currency: str = "USD"
    order: tuple[int, int] = (0, 0)
    #: ``discount_amount_in_cents`` of the item (only named in activity descriptions)
    discount_in_cents: int = 0

    @property
    def additive(self) -> bool:
        """Whether this item adds to the base item it overlaps (a differential proration)."""
        return self.prorated and self.proration_type not in REPLACING_PRORATIONS


@dataclass(frozen=True, slots=True)
class Facts:
    """Everything the engine computes from."""

    customers: Mapping[str, CustomerFact] = field(default_factory=dict)
    subscriptions: Mapping[str, SubscriptionFact] = field(default_factory=dict)
    plans: Mapping[str, PlanFact] = field(default_factory=dict)
    line_items: tuple[LineItemFact, ...] = ()


def add_interval(moment: datetime, plan: PlanFact) -> datetime:
    """``moment`` plus one billing interval of ``plan``, in calendar terms."""
    count = max(plan.interval_count, 1)
    if plan.interval_unit == "day":
        return moment + timedelta(days=count)
    if plan.interval_unit == "week":
        return moment + timedelta(days=DAYS_PER_WEEK * count)
    months = count * MONTHS_PER_YEAR if plan.interval_unit == "year" else count
    year, month0 = divmod(moment.month - 1 + months, MONTHS_PER_YEAR)
    year += moment.year
    day = min(moment.day, calendar.monthrange(year, month0 + 1)[1])
    return moment.replace(year=year, month=month0 + 1, day=day)


def monthly_amount(amount_in_cents: int, plan: PlanFact) -> Fraction:
    """An amount billed once per plan interval, expressed per month (exact)."""
    count = max(plan.interval_count, 1)
    if plan.interval_unit == "year":
        return Fraction(amount_in_cents, MONTHS_PER_YEAR * count)
    if plan.interval_unit == "day":
        return Fraction(amount_in_cents * DAYS_PER_MONTH, count)
    if plan.interval_unit == "week":
        return Fraction(amount_in_cents * DAYS_PER_MONTH, DAYS_PER_WEEK * count)
    return Fraction(amount_in_cents, count)


def item_mrr(item: LineItemFact, plan: PlanFact) -> Fraction:
    """The exact monthly revenue a line item stands for while it is in force.

    A regular item bills one plan interval, so its amount is normalised by the plan. A
    prorated item bills only part of an interval, so it is first scaled up to what a whole
    interval at the same rate would cost.
    """
    monthly = monthly_amount(item.amount_in_cents, plan)
    if not item.prorated:
        return monthly
    actual = (item.end - item.start).total_seconds()
    nominal = (add_interval(item.start, plan) - item.start).total_seconds()
    if actual <= 0:
        return Fraction(0)
    return monthly * Fraction(round(nominal)) / Fraction(round(actual))


def round_cents(value: Fraction) -> int:
    """Round to whole cents, halves away from zero (the way invoices round)."""
    # integer arithmetic on the parts: this runs once per segment, so it must be cheap
    numerator, denominator = value.numerator, value.denominator
    if denominator == 1:
        return numerator
    magnitude = (2 * abs(numerator) + denominator) // (2 * denominator)
    return -magnitude if numerator < 0 else magnitude


def default_plan(plan_uuid: str | None) -> PlanFact:
    """The plan assumed for an item whose plan is unknown: monthly."""
    return PlanFact(uuid=plan_uuid or "")

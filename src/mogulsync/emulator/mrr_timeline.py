"""Facts in, revenue timeline out: subscription segments and MRR movements (activities).

Pure functions only. A subscription's MRR is a step function built from its line items
(:func:`subscription_segments`); a customer's movements are the day-by-day changes of the
sum of its subscriptions, classified as new business, expansion, contraction, churn or
reactivation (:func:`customer_activities`). ``docs/emulator-mrr.md`` states the rules.
"""

from __future__ import annotations

import hashlib
import itertools
import uuid as uuid_lib
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from fractions import Fraction

from mogulsync.emulator.mrr_facts import (
    CustomerFact,
    Facts,
    LineItemFact,
    PlanFact,
    SubscriptionFact,
    default_plan,
    item_mrr,
    round_cents,
)

NEW_BIZ = "new_biz"
EXPANSION = "expansion"
CONTRACTION = "contraction"
CHURN = "churn"
REACTIVATION = "reactivation"
MOVEMENT_TYPES = (NEW_BIZ, EXPANSION, CONTRACTION, CHURN, REACTIVATION)
#: the end of a subscription that is never cancelled (and of its last segment)
FOREVER = datetime.max.replace(tzinfo=UTC)
#: fixed namespace so an activity's uuid is the same on every request and every run
ACTIVITY_NAMESPACE = uuid_lib.UUID("6f1c2a4e-8d3b-5e7f-9a10-b2c3d4e5f607")
# RFC 4122 variant: the top two bits of the clock-sequence nibble are 10
_VARIANT_KEEP, _VARIANT_RFC4122 = 0x3, 0x8

#: ``date`` is also an :class:`Activity` field name, so the property needs another name
CalendarDay = date

_DESCRIPTIONS = {
    NEW_BIZ: "purchased the {plan} plan",
    REACTIVATION: "reactivated with the {plan} plan",
    EXPANSION: "expanded the {plan} plan",
    CONTRACTION: "contracted the {plan} plan",
    CHURN: "cancelled the {plan} plan",
}


@dataclass(frozen=True, slots=True)
class Segment:
    """A stretch of time during which a subscription's MRR does not change."""

    start: datetime
    end: datetime
    mrr: int
    plan_uuid: str | None
    quantity: int
    currency: str
    #: latest service period end among the items in force (the view's ``end-date``)
    paid_through: datetime
    #: discount of the item that sets the price (named in a new_biz description)
    discount_in_cents: int = 0


@dataclass(frozen=True, slots=True)
class Activity:
    """One MRR movement of one subscription of one customer."""

    uuid: str
    customer_uuid: str
    subscription_uuid: str
    date: datetime
    type: str
    movement: int
    customer_mrr: int
    plan_uuid: str | None
    currency: str
    description: str
    #: the discount a new_biz movement was bought with (0: none), see :func:`describe`
    discount_in_cents: int = 0

    @property
    def day(self) -> CalendarDay:
        """The UTC calendar day of the movement."""
        return self.date.date()


@dataclass(frozen=True, slots=True)
class Timeline:
    """The engine's whole output for one set of facts."""

    activities: tuple[Activity, ...]
    by_customer: Mapping[str, tuple[Activity, ...]]
    segments: Mapping[str, tuple[Segment, ...]]


@dataclass(frozen=True, slots=True)
class _Priced:
    item: LineItemFact
    end: datetime
    mrr: Fraction


# ---------------------------------------------------------------------- subscriptions
def _first_cut(start: datetime, end: datetime, cancellations: Sequence[datetime]) -> datetime:
    """``end``, or the first cancellation after ``start`` if that comes sooner."""
    for cancelled in cancellations:
        if start < cancelled:
            return min(cancelled, end)
    return end


def _in_force(
    items: Sequence[LineItemFact],
    cancellations: Sequence[datetime],
    plans: Mapping[str, PlanFact],
    auto_churn: timedelta | None,
) -> list[_Priced]:
    """Each item with the moment it stops counting.

    A regular item counts until the next regular item starts (renewal, plan change) or,
    with nothing after it, forever; with ``auto_churn`` it stops that long after its
    service period ends instead. A differential proration counts over its own period
    only. A cancellation stops every item that started before it. Items with an empty
    service period are ignored.
    """
    items = [i for i in items if i.end > i.start]
    bases = sorted((i for i in items if not i.additive), key=lambda i: (i.start, i.order))
    ends: dict[int, datetime] = {}
    for index, item in enumerate(bases):
        end = FOREVER if auto_churn is None else item.end + auto_churn
        if index + 1 < len(bases):
            end = min(end, bases[index + 1].start)
        ends[id(item)] = end
    priced = []
    for item in items:
        natural = ends.get(id(item), item.end)
        end = _first_cut(item.start, natural, cancellations)
        if end > item.start:
            plan = plans.get(item.plan_uuid or "") or default_plan(item.plan_uuid)
            priced.append(_Priced(item, end, item_mrr(item, plan)))
    priced.sort(key=lambda p: (p.item.start, p.item.order))
    return priced


def _combine(active: Sequence[_Priced], start: datetime, end: datetime) -> Segment:
    """The subscription's state while exactly these items are in force."""
    latest = max(active, key=lambda p: (p.item.start, p.item.order))
    bases = [p for p in active if not p.item.additive]
    base = max(bases, key=lambda p: (p.item.start, p.item.order)) if bases else None
    total = base.mrr if base else Fraction(0)
    for priced in active:
        if priced.item.additive and (base is None or priced.item.start >= base.item.start):
            total += priced.mrr
    return Segment(
        start=start,
        end=end,
        mrr=max(round_cents(total), 0),
        plan_uuid=latest.item.plan_uuid,
        quantity=(base or latest).item.quantity,
        currency=(base or latest).item.currency,
        paid_through=max(p.item.end for p in active),
        discount_in_cents=(base or latest).item.discount_in_cents,
    )


def _same_state(first: Segment, second: Segment) -> bool:
    return (first.mrr, first.plan_uuid, first.quantity, first.currency) == (
        second.mrr,
        second.plan_uuid,
        second.quantity,
        second.currency,
    )


def subscription_segments(
    items: Iterable[LineItemFact],
    cancellations: Iterable[datetime],
    plans: Mapping[str, PlanFact],
    *,
    auto_churn: timedelta | None = None,
) -> tuple[Segment, ...]:
    """A subscription's MRR over time as sorted, non-overlapping segments.

    Between segments (before the first, in gaps, after a cancellation) the MRR is zero;
    the last segment ends at :data:`FOREVER` unless the subscription was cancelled.
    """
    priced = _in_force(list(items), sorted(set(cancellations)), plans, auto_churn)
    points = sorted({p.item.start for p in priced} | {p.end for p in priced})
    segments: list[Segment] = []
    active: list[_Priced] = []
    waiting = iter(priced)
    upcoming = next(waiting, None)
    # sweep: every end is a point, so an item still running at `start` covers [start, end)
    for start, end in itertools.pairwise(points):
        while upcoming is not None and upcoming.item.start <= start:
            active.append(upcoming)
            upcoming = next(waiting, None)
        active = [p for p in active if p.end > start]
        if not active:
            continue
        segment = _combine(active, start, end)
        previous = segments[-1] if segments else None
        if previous is not None and previous.end == start and _same_state(previous, segment):
            segments[-1] = replace(segment, start=previous.start)
        else:
            segments.append(segment)
    return tuple(segments)


def _changes(segments: Sequence[Segment]) -> list[tuple[datetime, int, Segment]]:
    """The moments a subscription's MRR is set: (moment, new value, segment describing it)."""
    changes: list[tuple[datetime, int, Segment]] = []
    for index, segment in enumerate(segments):
        changes.append((segment.start, segment.mrr, segment))
        following = segments[index + 1] if index + 1 < len(segments) else None
        if segment.end != FOREVER and (following is None or following.start != segment.end):
            changes.append((segment.end, 0, segment))
    return changes


# ---------------------------------------------------------------------- customers
@dataclass(frozen=True, slots=True)
class _DayChange:
    subscription_uuid: str
    moment: datetime
    delta: int
    segment: Segment


def _classify(before: int, after: int, delta: int, ever_active: bool) -> str:
    if before == 0:
        return REACTIVATION if ever_active else NEW_BIZ
    if after == 0:
        return CHURN
    return EXPANSION if delta > 0 else CONTRACTION


def customer_activities(
    customer: CustomerFact,
    subscriptions: Sequence[tuple[SubscriptionFact, tuple[Segment, ...]]],
    plans: Mapping[str, PlanFact],
) -> tuple[Activity, ...]:
    """A customer's movements in date order, one per subscription per changed day."""
    by_day: dict[date, list[tuple[int, datetime, str, int, Segment]]] = defaultdict(list)
    for position, (subscription, segments) in enumerate(subscriptions):
        for moment, value, segment in _changes(segments):
            by_day[moment.date()].append((position, moment, subscription.uuid, value, segment))
    current: dict[str, int] = defaultdict(int)
    total = 0
    ever_active = False
    activities: list[Activity] = []
    for day in sorted(by_day):
        day_changes: dict[str, _DayChange] = {}
        before_day = dict(current)
        for _, moment, sub_uuid, value, segment in sorted(by_day[day], key=lambda c: c[:2]):
            current[sub_uuid] = value
            first = day_changes.get(sub_uuid)
            day_changes[sub_uuid] = _DayChange(
                sub_uuid,
                first.moment if first else moment,
                value - before_day.get(sub_uuid, 0),
                segment,
            )
        moved = [change for change in day_changes.values() if change.delta]
        if not moved:
            continue
        before, after = total, total + sum(change.delta for change in moved)
        # time order; at the same moment increases first, so the running MRR stays positive
        moved.sort(key=lambda change: (change.moment, change.delta < 0))
        for change in moved:
            kind = _classify(before, after, change.delta, ever_active)
            total += change.delta
            activities.append(_activity(customer, change, kind, total, plans))
        ever_active = ever_active or after > 0
    return tuple(activities)


def _activity(
    customer: CustomerFact,
    change: _DayChange,
    kind: str,
    customer_mrr: int,
    plans: Mapping[str, PlanFact],
) -> Activity:
    plan_uuid = change.segment.plan_uuid
    plan = plans.get(plan_uuid or "")
    plan_name = (plan.name if plan else None) or plan_uuid or "unknown"
    key = f"{customer.uuid}|{change.subscription_uuid}|{change.moment.isoformat()}|{kind}"
    return Activity(
        uuid=activity_uuid(key),
        customer_uuid=customer.uuid,
        subscription_uuid=change.subscription_uuid,
        date=change.moment,
        type=kind,
        movement=change.delta,
        customer_mrr=customer_mrr,
        plan_uuid=plan_uuid,
        currency=change.segment.currency,
        description=_DESCRIPTIONS[kind].format(plan=plan_name),
        discount_in_cents=change.segment.discount_in_cents if kind == NEW_BIZ else 0,
    )


def describe(activity: Activity, sign: str) -> str:
    """The activity's description; a discounted purchase names its discount, as recorded
    in the Airbyte connector's extract ("purchased the Bronze Plan plan with $10.00
    discount applied"). ``sign`` is the currency sign of the activity's currency."""
    if not activity.discount_in_cents:
        return activity.description
    amount = f"{activity.discount_in_cents / 100:.2f}"
    return f"{activity.description} with {sign}{amount} discount applied"


def activity_uuid(key: str) -> str:
    """``str(uuid.uuid5(ACTIVITY_NAMESPACE, key))`` without building UUID objects (hot path)."""
    digest = hashlib.sha1(ACTIVITY_NAMESPACE.bytes + key.encode(), usedforsecurity=False)
    text = digest.hexdigest()
    variant = f"{int(text[16], 16) & _VARIANT_KEEP | _VARIANT_RFC4122:x}"
    return f"{text[:8]}-{text[8:12]}-5{text[13:16]}-{variant}{text[17:20]}-{text[20:32]}"


# ---------------------------------------------------------------------- everything
def build_timeline(facts: Facts, *, auto_churn: timedelta | None = None) -> Timeline:
    """Segments for every subscription and activities for every customer.

    ``auto_churn`` emulates a data source's automatic churn setting: None (ChartMogul's
    default) keeps an unrenewed subscription running until it is cancelled.
    """
    items_by_sub = items_by_subscription(facts.line_items)
    subs_by_customer: dict[str, list[SubscriptionFact]] = defaultdict(list)
    for subscription in facts.subscriptions.values():
        subs_by_customer[subscription.customer_uuid].append(subscription)
    segments: dict[str, tuple[Segment, ...]] = {}
    by_customer: dict[str, tuple[Activity, ...]] = {}
    for customer in sorted(facts.customers.values(), key=lambda c: c.seq):
        own_segments, found = customer_timeline(
            customer,
            subs_by_customer.get(customer.uuid, []),
            items_by_sub,
            facts.plans,
            auto_churn=auto_churn,
        )
        segments.update(own_segments)
        if found:
            by_customer[customer.uuid] = found
    ordered = global_order(by_customer, facts.customers)
    return Timeline(activities=ordered, by_customer=by_customer, segments=segments)


def items_by_subscription(items: Iterable[LineItemFact]) -> dict[str, list[LineItemFact]]:
    """Line items grouped by their subscription, in the given order."""
    grouped: dict[str, list[LineItemFact]] = defaultdict(list)
    for item in items:
        grouped[item.subscription_uuid].append(item)
    return grouped


def customer_timeline(
    customer: CustomerFact,
    subscriptions: Sequence[SubscriptionFact],
    items_by_sub: Mapping[str, Sequence[LineItemFact]],
    plans: Mapping[str, PlanFact],
    *,
    auto_churn: timedelta | None = None,
) -> tuple[dict[str, tuple[Segment, ...]], tuple[Activity, ...]]:
    """One customer's subscription segments and activities (customers do not interact)."""
    segments: dict[str, tuple[Segment, ...]] = {}
    for subscription in subscriptions:
        items = items_by_sub.get(subscription.uuid, [])
        cancellations = [*subscription.cancellation_dates]
        cancellations.extend(i.cancelled_at for i in items if i.cancelled_at is not None)
        segments[subscription.uuid] = subscription_segments(
            items, cancellations, plans, auto_churn=auto_churn
        )
    ordered = sorted(subscriptions, key=lambda s: s.seq)
    found = customer_activities(customer, [(s, segments[s.uuid]) for s in ordered], plans)
    return segments, found


def global_order(
    by_customer: Mapping[str, tuple[Activity, ...]], customers: Mapping[str, CustomerFact]
) -> tuple[Activity, ...]:
    """Every customer's activities by date, then customer age, then their own order."""
    keyed = [
        (activity.date, customers[uuid].seq, position, activity)
        for uuid, activities in by_customer.items()
        for position, activity in enumerate(activities)
    ]
    keyed.sort(key=lambda entry: entry[:3])
    return tuple(entry[3] for entry in keyed)

"""The account-wide MRR state, kept per customer so a write recomputes only its customers.

Customers never affect each other's revenue: a customer's segments, activities and daily
ledger rows depend on its own subscriptions and line items (and the shared plans). So
:class:`Account` keeps each customer's results apart and, when the store reports which
customers changed (:meth:`~mogulsync.emulator.store.Store.changed_customers`), swaps in
their new results: the account's activity order and daily totals are patched, not rebuilt.
The result is the same, object for object, as :func:`~.mrr_timeline.build_timeline`.

An update costs only its customers' work: the account-wide :class:`Facts` and
:class:`Timeline` (which touch every customer) are assembled when first asked for after
it, and one customer's lookup (:meth:`Account.customer_scope`) never needs them. At 100k
customers assembling them on every write made each customer PATCH cost about 50 ms.
"""

from __future__ import annotations

from bisect import insort
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from itertools import chain

from mogulsync.emulator.mrr_facts import CustomerFact, Facts, LineItemFact, SubscriptionFact
from mogulsync.emulator.mrr_metrics import DayRow, day_rows
from mogulsync.emulator.mrr_timeline import (
    Activity,
    Segment,
    Timeline,
    customer_timeline,
    global_order,
    items_by_subscription,
)

#: past this many new activities, one sort of the (nearly sorted) list beats inserting each
INSERTS_BEFORE_SORT = 2000


@dataclass(frozen=True, slots=True)
class CustomerPart:
    """One customer's inputs and results."""

    customer: CustomerFact
    subscriptions: tuple[SubscriptionFact, ...]
    line_items: tuple[LineItemFact, ...]
    segments: Mapping[str, tuple[Segment, ...]]
    activities: tuple[Activity, ...]
    days: Mapping[date, DayRow]


class SharedSubscriptionError(Exception):
    """A subscription belongs to a customer other than the one being recomputed."""


class Account:
    """Every customer's MRR results, updatable one customer at a time."""

    def __init__(self, facts: Facts, revision: int, *, auto_churn: timedelta | None = None) -> None:
        self.revision = revision
        self.auto_churn = auto_churn
        self.plans = facts.plans
        self._parts: dict[str, CustomerPart] = {}
        # customers updated since ``_ordered`` was last brought up to date
        self._unordered: set[str] = set()
        self._owner: dict[str, str] = {}  # subscription uuid -> customer uuid
        self._totals: dict[date, list[int]] = {}
        subs_by_customer: dict[str, list[SubscriptionFact]] = {}
        for subscription in facts.subscriptions.values():
            subs_by_customer.setdefault(subscription.customer_uuid, []).append(subscription)
        items_by_sub = items_by_subscription(facts.line_items)
        for customer in sorted(facts.customers.values(), key=lambda c: c.seq):
            subs = subs_by_customer.get(customer.uuid, [])
            items = [item for sub in subs for item in items_by_sub.get(sub.uuid, ())]
            self._add(self._part(customer, subs, items))
        #: customers whose results the latest build or update computed
        self.recomputed = frozenset(self._parts)
        self._facts: Facts | None = facts
        by_customer = self._by_customer()
        self._ordered = list(global_order(by_customer, facts.customers))
        self._timeline: Timeline | None = Timeline(
            tuple(self._ordered), by_customer, self._segments()
        )

    # ------------------------------------------------------------------ results
    @property
    def facts(self) -> Facts:
        """Every customer's facts at :attr:`revision`."""
        if self._facts is None:
            parts = self._parts.values()
            self._facts = Facts(
                customers={uuid: part.customer for uuid, part in self._parts.items()},
                subscriptions={sub.uuid: sub for part in parts for sub in part.subscriptions},
                plans=self.plans,
                line_items=tuple(chain.from_iterable(part.line_items for part in parts)),
            )
        return self._facts

    @property
    def timeline(self) -> Timeline:
        """Every customer's timeline at :attr:`revision`."""
        if self._timeline is None:
            self._reorder(frozenset(self._unordered))
            self._unordered.clear()
            self._timeline = Timeline(tuple(self._ordered), self._by_customer(), self._segments())
        return self._timeline

    def customer_scope(self, uuid: str) -> tuple[Facts, Timeline]:
        """One customer's facts and timeline (with every plan), read from its own part.

        What :attr:`facts` and :attr:`timeline` hold for this customer, without the cost
        of assembling them for every customer.
        """
        part = self._parts.get(uuid)
        if part is None:
            return Facts(plans=self.plans), Timeline((), {}, {})
        facts = Facts(
            customers={uuid: part.customer},
            subscriptions={sub.uuid: sub for sub in part.subscriptions},
            plans=self.plans,
            line_items=part.line_items,
        )
        by_customer = {uuid: part.activities} if part.activities else {}
        return facts, Timeline(part.activities, by_customer, part.segments)

    def day_totals(self, last_day: date) -> dict[date, DayRow]:
        """Ledger rows of every customer summed per day, up to ``last_day`` inclusive."""
        return {day: tuple(row) for day, row in self._totals.items() if day <= last_day}

    def customer_count(self) -> int:
        """How many customers the account holds."""
        return len(self._parts)

    # ------------------------------------------------------------------ updates
    def update(self, changed: Mapping[str, Facts], revision: int) -> None:
        """Swap in the results of ``changed`` customers, from their freshly read facts.

        An empty :class:`Facts` for a customer means it is gone. Raises
        :class:`SharedSubscriptionError` (changing nothing) when a subscription would be
        shared with another customer, which only an account-wide build resolves.
        """
        parts: dict[str, CustomerPart | None] = {}
        claimed: set[str] = set()
        for uuid, facts in changed.items():
            customer = facts.customers.get(uuid)
            if customer is None:
                parts[uuid] = None
                continue
            for sub_uuid in facts.subscriptions:
                # a merge moves subscriptions between two changed customers: that is fine
                owner = self._owner.get(sub_uuid, uuid)
                if sub_uuid in claimed or (owner != uuid and owner not in changed):
                    raise SharedSubscriptionError(sub_uuid)
                claimed.add(sub_uuid)
            parts[uuid] = self._part(customer, list(facts.subscriptions.values()), facts.line_items)
        for uuid in changed:
            self._remove(uuid)
        for part in parts.values():
            if part is not None:
                self._add(part)
        self.revision = revision
        self.recomputed = frozenset(changed)
        # the account-wide views are rebuilt on demand (see the module docstring)
        self._unordered.update(changed)
        self._facts = None
        self._timeline = None

    def _part(
        self,
        customer: CustomerFact,
        subscriptions: list[SubscriptionFact],
        items: Iterable[LineItemFact],
    ) -> CustomerPart:
        own_items = tuple(items)
        segments, activities = customer_timeline(
            customer,
            subscriptions,
            items_by_subscription(own_items),
            self.plans,
            auto_churn=self.auto_churn,
        )
        return CustomerPart(
            customer=customer,
            subscriptions=tuple(subscriptions),
            line_items=own_items,
            segments=segments,
            activities=activities,
            days=day_rows(activities),
        )

    def _add(self, part: CustomerPart) -> None:
        self._parts[part.customer.uuid] = part
        for sub in part.subscriptions:
            self._owner[sub.uuid] = part.customer.uuid
        self._shift(part.days, 1)

    def _remove(self, uuid: str) -> None:
        part = self._parts.pop(uuid, None)
        if part is None:
            return
        for sub in part.subscriptions:
            if self._owner.get(sub.uuid) == uuid:
                del self._owner[sub.uuid]
        self._shift(part.days, -1)

    def _shift(self, days: Mapping[date, DayRow], sign: int) -> None:
        for day, row in days.items():
            total = self._totals.setdefault(day, [0] * len(row))
            for index, value in enumerate(row):
                total[index] += sign * value
            if not any(total):
                del self._totals[day]

    def _reorder(self, changed: frozenset[str]) -> None:
        """Drop the changed customers' activities from the account order; place their new ones."""
        self._ordered = [a for a in self._ordered if a.customer_uuid not in changed]
        fresh = [a for uuid in changed if uuid in self._parts for a in self._parts[uuid].activities]

        def key(activity: Activity) -> tuple[datetime, int]:
            # a customer's own activities are already in order; the stable sort keeps it
            return activity.date, self._parts[activity.customer_uuid].customer.seq

        if len(fresh) > INSERTS_BEFORE_SORT:
            self._ordered.extend(fresh)
            self._ordered.sort(key=key)
            return
        for activity in fresh:
            insort(self._ordered, activity, key=key)

    def _by_customer(self) -> dict[str, tuple[Activity, ...]]:
        return {uuid: part.activities for uuid, part in self._parts.items() if part.activities}

    def _segments(self) -> dict[str, tuple[Segment, ...]]:
        return {sub: seg for part in self._parts.values() for sub, seg in part.segments.items()}

"""The emulator's MRR engine: cached revenue figures derived from stored invoices.

:class:`MrrEngine` is what route modules use. It reads facts from the store
(:mod:`.mrr_store`), builds the timeline (:mod:`.mrr_timeline`) and daily ledger
(:mod:`.mrr_metrics`), and caches them until ``store.revision`` changes, so serving a
customer list or a page of activities costs a dictionary lookup. After a write only the
customers the store reports as changed are recomputed (:mod:`.mrr_account`).

The clock: everything dated up to the end of the current UTC day is visible; later
movements (a service period starting next month, a cancellation dated next week) are not
shown until their day comes, as ChartMogul reports what has happened.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from mogulsync.emulator._http import wall_clock
from mogulsync.emulator.mrr_account import Account, SharedSubscriptionError
from mogulsync.emulator.mrr_facts import MONTHS_PER_YEAR, Facts, PlanFact, SubscriptionFact
from mogulsync.emulator.mrr_metrics import Ledger
from mogulsync.emulator.mrr_store import (
    DEFAULT_CURRENCY,
    NO_FILTER,
    MetricsFilter,
    load_customer_facts,
    load_facts,
    narrow,
)
from mogulsync.emulator.mrr_timeline import (
    FOREVER,
    NEW_BIZ,
    Activity,
    Segment,
    Timeline,
    build_timeline,
)
from mogulsync.emulator.store import Store

ACTIVE = "Active"
CANCELLED = "Cancelled"
#: filtered timelines kept per revision (each distinct plans/geo query makes one)
MAX_FILTERED_CACHE = 16
#: past this many single-customer builds in one revision (a long customer list), building
#: every customer at once is cheaper than going on one by one
SCOPED_LOOKUPS_BEFORE_FULL_BUILD = 500
#: changed customers recomputed one by one whatever the account's size
INCREMENTAL_FLOOR = 100
#: past that floor, more than one changed customer in this many means a full build is
#: cheaper (it reads every row in one pass instead of a few indexed reads per customer)
FULL_BUILD_DIVISOR = 4


@dataclass(frozen=True, slots=True)
class CustomerMrr:
    """What the customer object shows of its revenue."""

    mrr: int = 0
    arr: int = 0
    status: str | None = None  # "Active" / "Cancelled" / None (lead: keep stored status)
    customer_since: datetime | None = None
    currency: str = DEFAULT_CURRENCY


@dataclass(frozen=True, slots=True)
class SubscriptionState:
    """A subscription as the metrics view shows it today."""

    subscription: SubscriptionFact
    plan: PlanFact | None
    quantity: int
    mrr: int
    active: bool
    start: datetime | None
    end: datetime | None
    currency: str


class MrrEngine:
    """Derives MRR, activities and metrics from stored invoices and subscriptions."""

    def __init__(
        self,
        store: Store,
        *,
        currency: str = DEFAULT_CURRENCY,
        clock: Callable[[], datetime] = wall_clock,
        auto_churn: timedelta | None = None,
    ) -> None:
        self.store = store
        self.currency = currency
        self.clock = clock
        self.auto_churn = auto_churn
        self._revision = -1
        self._scoped = 0
        self._cache: dict[Any, Any] = {}
        # outlives revisions: brought up to date customer by customer
        self._account: Account | None = None

    # ------------------------------------------------------------------ caching
    def _cached(self, key: Any, compute: Callable[[], Any]) -> Any:
        self._refresh()
        if key not in self._cache:
            self._cache[key] = compute()
        return self._cache[key]

    def _refresh(self) -> None:
        if self.store.revision != self._revision:
            self._cache.clear()
            self._scoped = 0
            self._revision = self.store.revision

    def today(self) -> date:
        """The current UTC day; movements dated after it are not visible yet."""
        return self.clock().astimezone(UTC).date()

    def horizon(self) -> datetime:
        """The first moment that is not visible yet (start of tomorrow, UTC)."""
        return datetime.combine(self.today() + timedelta(days=1), time(), UTC)

    def facts(self) -> Facts:
        """Facts read from the store at the current revision."""
        facts: Facts = self._cached("facts", lambda: self._account_now().facts)
        return facts

    def account(self) -> Account:
        """Every customer's results at the current revision (see :mod:`.mrr_account`)."""
        return self._account_now()

    def _account_now(self) -> Account:
        account: Account = self._cached("account", self._bring_up_to_date)
        return account

    def _bring_up_to_date(self) -> Account:
        revision = self.store.revision
        changed = self._changed_customers()
        if self._account is not None and changed is not None:
            loaded = {uuid: load_customer_facts(self.store, uuid) for uuid in changed}
            try:
                self._account.update(loaded, revision)
            except SharedSubscriptionError:
                pass  # rows that break the one-customer-per-subscription rule: build it all
            else:
                return self._account
        self._account = Account(load_facts(self.store), revision, auto_churn=self.auto_churn)
        return self._account

    def _changed_customers(self) -> frozenset[str] | None:
        """Customers to recompute since the last build, or None when a full build is due."""
        account = self._account
        if account is None or account.auto_churn != self.auto_churn:
            return None
        changed = self.store.changed_customers(account.revision)
        limit = max(INCREMENTAL_FLOOR, account.customer_count() // FULL_BUILD_DIVISOR)
        return None if changed is None or len(changed) > limit else changed

    def timeline(self, wanted: MetricsFilter = NO_FILTER) -> Timeline:
        """The whole timeline (future movements included), optionally filtered."""
        if wanted.empty:
            timeline: Timeline = self._cached("timeline", lambda: self._account_now().timeline)
            return timeline
        filtered = [key for key in self._cache if isinstance(key, MetricsFilter)]
        if len(filtered) >= MAX_FILTERED_CACHE and wanted not in self._cache:
            del self._cache[filtered[0]]
        narrowed: Timeline = self._cached(wanted, lambda: self._build(narrow(self.facts(), wanted)))
        return narrowed

    def _build(self, facts: Facts) -> Timeline:
        return build_timeline(facts, auto_churn=self.auto_churn)

    def customer_scope(self, customer_uuid: str) -> tuple[Facts, Timeline]:
        """Facts and timeline covering one customer.

        The account-wide ones when they are built already or a full build is due. Otherwise
        only this customer's: from the account when updating it is cheap (assembling the
        account-wide ones after every write is what it avoids), else read from the store,
        so a customer lookup right after a write does not rebuild every customer.
        """
        self._refresh()
        if "timeline" in self._cache or self._scoped >= SCOPED_LOOKUPS_BEFORE_FULL_BUILD:
            return self.facts(), self.timeline()
        if self._cached("cheap update", lambda: self._changed_customers() is not None):
            return self._account_now().customer_scope(customer_uuid)

        def scoped() -> tuple[Facts, Timeline]:
            self._scoped += 1
            facts = load_customer_facts(self.store, customer_uuid)
            return facts, self._build(facts)

        scope: tuple[Facts, Timeline] = self._cached(("customer", customer_uuid), scoped)
        return scope

    # ------------------------------------------------------------------ activities
    def activities(self) -> tuple[Activity, ...]:
        """Every visible activity in date order."""
        today = self.today()

        def visible() -> tuple[Activity, ...]:
            # activities are in date order and dated in UTC: the visible ones are a prefix
            every = self.timeline().activities
            tomorrow = datetime.combine(today + timedelta(days=1), time(), UTC)
            return every[: bisect_left(every, tomorrow, key=lambda a: a.date)]

        found: tuple[Activity, ...] = self._cached(("activities", today), visible)
        return found

    def customer_activities(self, customer_uuid: str) -> tuple[Activity, ...]:
        """One customer's visible activities in date order."""
        today = self.today()
        _, timeline = self.customer_scope(customer_uuid)
        every = timeline.by_customer.get(customer_uuid, ())
        return tuple(a for a in every if a.day <= today)

    def ledger(self, wanted: MetricsFilter = NO_FILTER) -> Ledger:
        """Daily movement totals of the visible activities (for the Metrics API)."""
        today = self.today()

        def build() -> Ledger:
            if wanted.empty:
                return Ledger.from_days(self._account_now().day_totals(today))
            return Ledger(a for a in self.timeline(wanted).activities if a.day <= today)

        ledger: Ledger = self._cached(("ledger", wanted, today), build)
        return ledger

    # ------------------------------------------------------------------ customers
    def customer(self, customer_uuid: str) -> CustomerMrr:
        """Current MRR figures of one customer."""
        activities = self.customer_activities(customer_uuid)
        if not activities:
            return CustomerMrr(currency=self.currency)
        mrr = activities[-1].customer_mrr
        since = next((a.date for a in activities if a.type == NEW_BIZ), None)
        return CustomerMrr(
            mrr=mrr,
            arr=mrr * MONTHS_PER_YEAR,
            status=ACTIVE if mrr > 0 else CANCELLED,
            customer_since=since,
            currency=activities[-1].currency,
        )

    def subscriptions(self, customer_uuid: str) -> list[SubscriptionState]:
        """The customer's subscriptions (oldest first) with today's figures."""
        facts, timeline = self.customer_scope(customer_uuid)
        owned = sorted(
            (s for s in facts.subscriptions.values() if s.customer_uuid == customer_uuid),
            key=lambda s: s.seq,
        )
        return [self._state(s, timeline.segments.get(s.uuid, ()), facts) for s in owned]

    def _state(
        self, subscription: SubscriptionFact, segments: tuple[Segment, ...], facts: Facts
    ) -> SubscriptionState:
        horizon = self.horizon()
        started = [s for s in segments if s.start < horizon]
        current = next((s for s in started if s.end >= horizon), None)
        shown = current or (started[-1] if started else (segments[0] if segments else None))
        plan_uuid = shown.plan_uuid if shown else subscription.plan_uuid
        return SubscriptionState(
            subscription=subscription,
            plan=facts.plans.get(plan_uuid or ""),
            quantity=shown.quantity if shown else 1,
            mrr=current.mrr if current else 0,
            active=current is not None,
            start=segments[0].start if segments else None,
            end=_shown_end(segments[-1]) if segments else None,
            currency=shown.currency if shown else self.currency,
        )


def _shown_end(last: Segment) -> datetime:
    """A running subscription shows its paid-through date; a stopped one, when it stopped."""
    return last.paid_through if last.end == FOREVER else last.end

"""Activities in, metrics out: a daily ledger and the metric values of a reporting period.

Pure. :class:`Ledger` keeps cumulative daily movement totals so any day's MRR and
customer count, and any period's movements, are a binary search away; :func:`evaluate`
turns one reporting window into every metric the Metrics API serves. Definitions are in
``docs/emulator-mrr.md``.
"""

from __future__ import annotations

import calendar
from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from fractions import Fraction

from mogulsync.emulator.mrr_facts import MONTHS_PER_YEAR, round_cents
from mogulsync.emulator.mrr_timeline import (
    CHURN,
    CONTRACTION,
    EXPANSION,
    NEW_BIZ,
    REACTIVATION,
    Activity,
)

INTERVALS = ("day", "week", "month", "quarter", "year")
#: weeks run Monday to Sunday (the emulated account's ``week_start_on`` is monday)
WEEK_LAST_WEEKDAY = 6
MONTHS_PER_QUARTER = 3
PERCENT = 100
ONE_DAY = timedelta(days=1)

# positions in a ledger row
_FIELDS = (NEW_BIZ, EXPANSION, CONTRACTION, CHURN, REACTIVATION)
_NEW_CUSTOMERS, _REACTIVATED_CUSTOMERS, _CHURNED_CUSTOMERS = 5, 6, 7
_WIDTH = 8


@dataclass(frozen=True, slots=True)
class Flow:
    """Movements summed over a period, and how many customers started, came back or left."""

    new_business: int = 0
    expansion: int = 0
    contraction: int = 0
    churn: int = 0
    reactivation: int = 0
    new_customers: int = 0
    reactivated_customers: int = 0
    churned_customers: int = 0


@dataclass(frozen=True, slots=True)
class Window:
    """A reporting period: its first day and the day its entry is dated (inclusive)."""

    start: date
    end: date


@dataclass(frozen=True, slots=True)
class PeriodValues:
    """Every metric for one reporting window."""

    date: date
    mrr: int
    arr: int
    arpa: int
    asp: int
    customers: int
    customer_churn_rate: float
    mrr_churn_rate: float
    ltv: int
    flow: Flow


#: one day's movement totals and customer transitions, in ledger row order
DayRow = tuple[int, ...]


def day_rows(activities: Iterable[Activity]) -> dict[date, DayRow]:
    """Per-day movement totals and customer transitions of some activities.

    Rows of different customers simply add up, so the engine keeps one customer's rows and
    re-aggregates only the customers that changed.
    """
    per_day: dict[date, list[int]] = {}
    counted: set[tuple[str, date]] = set()
    for activity in activities:
        row = per_day.setdefault(activity.day, [0] * _WIDTH)
        row[_FIELDS.index(activity.type)] += activity.movement
        # one customer-day has one kind of customer transition, counted once
        if (activity.customer_uuid, activity.day) in counted:
            continue
        counted.add((activity.customer_uuid, activity.day))
        if activity.type == NEW_BIZ:
            row[_NEW_CUSTOMERS] += 1
        elif activity.type == REACTIVATION:
            row[_REACTIVATED_CUSTOMERS] += 1
        elif activity.type == CHURN:
            row[_CHURNED_CUSTOMERS] += 1
    return {day: tuple(row) for day, row in per_day.items()}


class Ledger:
    """Cumulative daily totals of movements (and customer counts) from activities."""

    def __init__(self, activities: Iterable[Activity]) -> None:
        self._load(day_rows(activities))

    @classmethod
    def from_days(cls, per_day: Mapping[date, Sequence[int]]) -> Ledger:
        """A ledger from per-day rows already summed (see :func:`day_rows`)."""
        ledger = cls(())
        ledger._load(per_day)
        return ledger

    def _load(self, per_day: Mapping[date, Sequence[int]]) -> None:
        self._days = sorted(per_day)
        self._cumulative: list[tuple[int, ...]] = []
        running = [0] * _WIDTH
        for day in self._days:
            running = [a + b for a, b in zip(running, per_day[day], strict=True)]
            self._cumulative.append(tuple(running))

    def _upto(self, day: date) -> tuple[int, ...]:
        index = bisect_right(self._days, day)
        return self._cumulative[index - 1] if index else (0,) * _WIDTH

    def mrr(self, day: date) -> int:
        """Total MRR at the end of ``day``."""
        return sum(self._upto(day)[: len(_FIELDS)])

    def customers(self, day: date) -> int:
        """Customers with MRR at the end of ``day``."""
        row = self._upto(day)
        return row[_NEW_CUSTOMERS] + row[_REACTIVATED_CUSTOMERS] - row[_CHURNED_CUSTOMERS]

    def flow(self, start: date, end: date) -> Flow:
        """Movements dated from ``start`` to ``end`` inclusive."""
        after, before = self._upto(end), self._upto(start - ONE_DAY)
        return Flow(*(a - b for a, b in zip(after, before, strict=True)))


# ---------------------------------------------------------------------- periods
def period_start(day: date, interval: str) -> date:
    """First day of the natural period (day, Monday-week, month, quarter, year) of ``day``."""
    if interval == "week":
        return day - timedelta(days=day.weekday())
    if interval == "month":
        return day.replace(day=1)
    if interval == "quarter":
        first_month = (day.month - 1) // MONTHS_PER_QUARTER * MONTHS_PER_QUARTER + 1
        return date(day.year, first_month, 1)
    if interval == "year":
        return date(day.year, 1, 1)
    return day


def period_end(day: date, interval: str) -> date:
    """Last day of the natural period of ``day``."""
    if interval == "week":
        return day + timedelta(days=WEEK_LAST_WEEKDAY - day.weekday())
    if interval in {"month", "quarter"}:
        months = MONTHS_PER_QUARTER if interval == "quarter" else 1
        first = period_start(day, interval)
        last_month = first.month + months - 1
        return date(day.year, last_month, calendar.monthrange(day.year, last_month)[1])
    if interval == "year":
        return date(day.year, MONTHS_PER_YEAR, 31)
    return day


def windows(start: date, end: date, interval: str) -> list[Window]:
    """One window per natural period touching [start, end]; the last one ends at ``end``."""
    found: list[Window] = []
    day = start
    while day <= end:
        found.append(Window(period_start(day, interval), min(period_end(day, interval), end)))
        day = period_end(day, interval) + ONE_DAY
    return found


def previous_window(window: Window, interval: str) -> Window:
    """The whole natural period just before ``window``."""
    last = window.start - ONE_DAY
    return Window(period_start(last, interval), last)


# ---------------------------------------------------------------------- metrics
def round2(value: Fraction) -> float:
    """Two decimals, halves away from zero (percentages and rates)."""
    return round_cents(value * PERCENT) / PERCENT


def percentage_change(previous: float, current: float) -> float:
    """Change from ``previous`` to ``current`` in percent of ``|previous|``; 0.0 from zero."""
    if previous == 0:
        return 0.0
    return round2((Fraction(current) - Fraction(previous)) / abs(Fraction(previous)) * PERCENT)


def _ratio(numerator: int, denominator: int) -> int:
    return round_cents(Fraction(numerator, denominator)) if denominator else 0


def evaluate(ledger: Ledger, window: Window) -> PeriodValues:
    """Every metric for one window, per the definitions in ``docs/emulator-mrr.md``."""
    mrr = ledger.mrr(window.end)
    customers = ledger.customers(window.end)
    opening_day = window.start - ONE_DAY
    opening_mrr, opening_customers = ledger.mrr(opening_day), ledger.customers(opening_day)
    flow = ledger.flow(window.start, window.end)
    churn_rate = (
        round2(Fraction(flow.churned_customers * PERCENT, opening_customers))
        if opening_customers
        else 0.0
    )
    net_churn = -(flow.churn + flow.contraction + flow.expansion + flow.reactivation)
    mrr_churn_rate = round2(Fraction(net_churn * PERCENT, opening_mrr)) if opening_mrr else 0.0
    # LTV = ARPA / customer churn rate, kept exact until the final rounding
    ltv = _ratio(mrr * opening_customers, customers * flow.churned_customers)
    return PeriodValues(
        date=window.end,
        mrr=mrr,
        arr=mrr * MONTHS_PER_YEAR,
        arpa=_ratio(mrr, customers),
        asp=_ratio(flow.new_business, flow.new_customers),
        customers=customers,
        customer_churn_rate=churn_rate,
        mrr_churn_rate=mrr_churn_rate,
        ltv=ltv,
        flow=flow,
    )

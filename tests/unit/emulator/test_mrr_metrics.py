"""Metric definitions over a daily ledger, and reporting windows."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from mogulsync.emulator.mrr_metrics import (
    Flow,
    Ledger,
    Window,
    evaluate,
    percentage_change,
    previous_window,
    windows,
)
from mogulsync.emulator.mrr_timeline import Activity


def movement(customer: str, day: str, kind: str, amount: int, sub: str = "s") -> Activity:
    """An activity as the timeline would produce it (only ledger-relevant fields matter)."""
    return Activity(
        uuid=f"{customer}-{day}-{sub}",
        customer_uuid=customer,
        subscription_uuid=sub,
        date=datetime.fromisoformat(day).replace(tzinfo=UTC),
        type=kind,
        movement=amount,
        customer_mrr=0,
        plan_uuid=None,
        currency="USD",
        description="",
    )


@pytest.fixture
def ledger() -> Ledger:
    """A: 5000 from Jan 1; B: 3000 from Feb 1 (two subs), churned Mar 15; C: Mar 10."""
    return Ledger([
        movement("A", "2024-01-01", "new_biz", 5000),
        movement("B", "2024-02-01", "new_biz", 2000, "b1"),
        movement("B", "2024-02-01", "new_biz", 1000, "b2"),
        movement("C", "2024-03-10", "new_biz", 1000),
        movement("A", "2024-03-12", "expansion", 1000),
        movement("B", "2024-03-15", "churn", -2000, "b1"),
        movement("B", "2024-03-15", "churn", -1000, "b2"),
    ])  # fmt: skip


def test_stock_values_by_day(ledger: Ledger) -> None:
    """MRR and customer count at the end of any day, before the first movement too."""
    assert (ledger.mrr(date(2023, 12, 31)), ledger.customers(date(2023, 12, 31))) == (0, 0)
    assert (ledger.mrr(date(2024, 2, 1)), ledger.customers(date(2024, 2, 1))) == (8000, 2)
    assert (ledger.mrr(date(2024, 3, 31)), ledger.customers(date(2024, 3, 31))) == (7000, 2)


def test_flow_counts_a_customer_once_per_day(ledger: Ledger) -> None:
    """Two churned subscriptions of one customer on one day are one churned customer."""
    assert ledger.flow(date(2024, 3, 1), date(2024, 3, 31)) == Flow(
        new_business=1000, expansion=1000, churn=-3000, new_customers=1, churned_customers=1
    )


def test_evaluate_march(ledger: Ledger) -> None:
    """Every metric of March, computed by the documented definitions."""
    values = evaluate(ledger, Window(date(2024, 3, 1), date(2024, 3, 31)))
    assert (values.mrr, values.arr, values.customers, values.arpa) == (7000, 84000, 2, 3500)
    assert values.asp == 1000  # one new customer worth 1000
    assert values.customer_churn_rate == 50.0  # 1 of the 2 customers at the end of February
    assert values.mrr_churn_rate == 25.0  # (3000 churned - 1000 expansion) / 8000
    assert values.ltv == 7000  # ARPA 3500 / 50 %


def test_evaluate_without_churn_or_customers(ledger: Ledger) -> None:
    """No churn gives zero rates and zero LTV; an empty period gives zeros everywhere."""
    january = evaluate(ledger, Window(date(2024, 1, 1), date(2024, 1, 31)))
    assert (january.customer_churn_rate, january.mrr_churn_rate, january.ltv) == (0.0, 0.0, 0)
    assert january.asp == 5000
    empty = evaluate(ledger, Window(date(2023, 1, 1), date(2023, 1, 31)))
    assert (empty.mrr, empty.arpa, empty.asp, empty.customers) == (0, 0, 0, 0)


def test_negative_mrr_churn_rate_when_expansion_wins() -> None:
    """Net MRR churn is negative when expansion outweighs churn."""
    grown = Ledger([movement("A", "2024-01-01", "new_biz", 1000),
                    movement("A", "2024-02-10", "expansion", 500)])  # fmt: skip
    assert evaluate(grown, Window(date(2024, 2, 1), date(2024, 2, 29))).mrr_churn_rate == -50.0


@pytest.mark.parametrize(
    ("interval", "expected"),
    [
        ("day", [(date(2024, 1, 30), date(2024, 1, 30)), (date(2024, 1, 31), date(2024, 1, 31))]),
        ("week", [(date(2024, 1, 29), date(2024, 1, 31))]),
        ("month", [(date(2024, 1, 1), date(2024, 1, 31))]),
        ("quarter", [(date(2024, 1, 1), date(2024, 1, 31))]),
        ("year", [(date(2024, 1, 1), date(2024, 1, 31))]),
    ],
)
def test_windows_start_at_natural_period_and_end_at_end_date(interval, expected) -> None:
    """The first window starts with its natural period; the last ends at the end date."""
    found = windows(date(2024, 1, 30), date(2024, 1, 31), interval)
    assert [(w.start, w.end) for w in found] == expected


def test_month_and_week_windows_over_a_range() -> None:
    """Month ends plus the end date; weeks run Monday to Sunday."""
    found = windows(date(2024, 1, 15), date(2024, 3, 10), "month")
    assert [w.end for w in found] == [date(2024, 1, 31), date(2024, 2, 29), date(2024, 3, 10)]
    weeks = windows(date(2024, 1, 1), date(2024, 1, 14), "week")
    assert [(w.start, w.end) for w in weeks] == [
        (date(2024, 1, 1), date(2024, 1, 7)),
        (date(2024, 1, 8), date(2024, 1, 14)),
    ]
    quarters = windows(date(2024, 2, 1), date(2024, 12, 31), "quarter")
    assert [w.end for w in quarters] == [
        date(2024, 3, 31), date(2024, 6, 30), date(2024, 9, 30), date(2024, 12, 31),
    ]  # fmt: skip


def test_previous_window_is_the_whole_period_before() -> None:
    """The period before a partial month is the whole previous month."""
    assert previous_window(Window(date(2024, 3, 1), date(2024, 3, 10)), "month") == Window(
        date(2024, 2, 1), date(2024, 2, 29)
    )
    assert previous_window(Window(date(2024, 3, 1), date(2024, 3, 1)), "day") == Window(
        date(2024, 2, 29), date(2024, 2, 29)
    )


@pytest.mark.parametrize(
    ("previous", "current", "expected"),
    [
        (0, 100, 0.0),
        (100, 150, 50.0),
        (8000, 5000, -37.5),
        (-0.17, -74.52, -43735.29),
        (3, 4, 33.33),
    ],
)
def test_percentage_change(previous, current, expected) -> None:
    """Change relative to the absolute previous value, two decimals; zero from zero."""
    assert percentage_change(previous, current) == expected

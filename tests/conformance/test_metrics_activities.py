"""Activities, customer subscriptions and cancellation, and all nine metrics endpoints.

The billing history (see ``_support.bill_two_customers``): customer A pays 5000/month for
Gold from 2024-01-01, customer B pays 3000/month for Silver from 2024-02-01, and B's
subscription is cancelled on 2024-03-15.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from fractions import Fraction
from typing import Any

import chartmogul
import pytest
from tests.conformance._support import (
    GOLD_CENTS,
    Q1_2024,
    SILVER_CENTS,
    History,
    bill_two_customers,
)

MONTHS_PER_YEAR = 12
Q1_MONTH_ENDS = [date(2024, 1, 31), date(2024, 2, 29), date(2024, 3, 31)]
Q1 = {"start_date": "2024-01-01", "end_date": "2024-03-31", "interval": "month"}
CANCELLED_AT = "2024-03-15 00:00:00"


@pytest.fixture
def history(cm: chartmogul.Config) -> History:
    """Two paying customers, nobody cancelled yet."""
    return bill_two_customers(cm)


def _subscription_uuid(cm: chartmogul.Config, customer_uuid: str) -> str:
    """The import-API ``sub_`` uuid of the customer's only subscription."""
    invoices = chartmogul.Invoice.all(cm, uuid=customer_uuid).get().invoices
    return str(invoices[0].line_items[0].subscription_uuid)


@pytest.fixture
def cancelled(cm: chartmogul.Config, history: History) -> History:
    """The history with customer B's subscription cancelled mid-March."""
    sub_uuid = _subscription_uuid(cm, history.customer_b.uuid)
    result = chartmogul.CustomerSubscription.cancel(
        cm, uuid=sub_uuid, data={"cancelled_at": CANCELLED_AT}
    ).get()
    assert result is None  # 202 Accepted: the client returns no object
    return history


def test_customer_subscriptions_before_and_after_cancel(
    cm: chartmogul.Config, history: History
) -> None:
    """The metrics view shows an active subscription, then inactive once cancelled."""
    listed = chartmogul.Customer.subscriptions(cm, uuid=history.customer_b.uuid).get()
    assert listed.has_more is False
    (sub,) = listed.entries
    assert (sub.plan, sub.quantity, sub.status) == ("Silver", 1, "active")
    assert (sub.mrr, sub.arr) == (SILVER_CENTS, SILVER_CENTS * MONTHS_PER_YEAR)
    assert (sub.billing_cycle, sub.billing_cycle_count) == ("month", 1)
    assert sub.start_date == datetime(2024, 2, 1, tzinfo=UTC)
    assert (sub.currency, sub.external_id) == ("USD", "b-sub")
    assert isinstance(sub.id, int)

    sub_uuid = _subscription_uuid(cm, history.customer_b.uuid)
    chartmogul.CustomerSubscription.cancel(
        cm, uuid=sub_uuid, data={"cancelled_at": CANCELLED_AT}
    ).get()
    (after,) = chartmogul.Customer.subscriptions(cm, uuid=history.customer_b.uuid).get().entries
    assert after.status == "inactive"
    assert after.end_date == datetime(2024, 3, 15, tzinfo=UTC)
    customer_b = chartmogul.Customer.retrieve(cm, uuid=history.customer_b.uuid).get()
    assert (customer_b.mrr, customer_b.status) == (0, "Cancelled")
    customer_a = chartmogul.Customer.retrieve(cm, uuid=history.customer_a.uuid).get()
    assert (customer_a.mrr, customer_a.arr, customer_a.status) == (
        GOLD_CENTS,
        GOLD_CENTS * MONTHS_PER_YEAR,
        "Active",
    )
    assert customer_a.customer_since == datetime(2024, 1, 1, tzinfo=UTC)


def test_customer_status_filter(cm: chartmogul.Config, cancelled: History) -> None:
    """Listing by status separates paying from cancelled customers (underscored values)."""
    active = chartmogul.Customer.all(cm, status="Active").get()
    assert [c.external_id for c in active.entries] == ["cus-a"]
    gone = chartmogul.Customer.all(cm, status="Cancelled").get()
    assert [c.external_id for c in gone.entries] == ["cus-b"]
    leads = chartmogul.Customer.all(cm, status="New_Lead").get()
    assert leads.entries == []


def test_cancellation_dates_edit_and_import_listing(
    cm: chartmogul.Config, cancelled: History
) -> None:
    """Clearing cancellation_dates reactivates; the import listing shows the dates."""
    with pytest.warns(DeprecationWarning, match="deprecated"):
        imported = chartmogul.CustomerSubscription.list_imported(
            cm, uuid=cancelled.customer_b.uuid
        ).get()
    assert imported.customer_uuid == cancelled.customer_b.uuid
    (sub,) = imported.subscriptions
    assert sub.uuid.startswith("sub_")
    assert (sub.external_id, sub.plan_uuid) == ("b-sub", cancelled.silver_plan_uuid)
    assert sub.cancellation_dates == [datetime(2024, 3, 15, tzinfo=UTC)]

    cleared = chartmogul.CustomerSubscription.modify(
        cm, uuid=sub.uuid, data={"cancellation_dates": []}
    ).get()
    assert cleared is None
    (metrics_view,) = (
        chartmogul.Customer.subscriptions(cm, uuid=cancelled.customer_b.uuid).get().entries
    )
    assert metrics_view.status == "active"
    churns = chartmogul.Activity.all(cm, type="churn").get()
    assert churns.entries == []


def test_activities_list_and_paginate(cm: chartmogul.Config, cancelled: History) -> None:
    """Activities are new business for A and B, then B's churn; pages follow the cursor."""
    everything = chartmogul.Activity.all(cm, start_date="2024-01-01", end_date="2024-12-31").get()
    assert everything.has_more is False
    summary = [
        (a.type, a.customer_external_id, a.activity_mrr_movement, a.date.date())
        for a in everything.entries
    ]
    assert summary == [
        ("new_biz", "cus-a", GOLD_CENTS, date(2024, 1, 1)),
        ("new_biz", "cus-b", SILVER_CENTS, date(2024, 2, 1)),
        ("churn", "cus-b", -SILVER_CENTS, date(2024, 3, 15)),
    ]
    first = everything.entries[0]
    assert (first.activity_mrr, first.activity_arr) == (GOLD_CENTS, GOLD_CENTS * MONTHS_PER_YEAR)
    assert (first.currency, first.customer_name) == ("USD", "Alpha Ltd")
    assert first.customer_uuid == cancelled.customer_a.uuid
    assert (first.subscription_external_id, first.plan_external_id) == ("a-sub", "gold_monthly")
    assert first.billing_connector_uuid == cancelled.ds_uuid
    assert everything.entries[2].activity_mrr == 0

    page_one = chartmogul.Activity.all(cm, per_page=2).get()
    assert (len(page_one.entries), page_one.has_more) == (2, True)
    page_two = chartmogul.Activity.all(cm, per_page=2, cursor=page_one.cursor).get()
    assert page_two.has_more is False
    paged = [a.uuid for a in [*page_one.entries, *page_two.entries]]
    assert paged == [a.uuid for a in everything.entries]

    churn_only = chartmogul.Activity.all(cm, type="churn").get()
    assert [a.customer_external_id for a in churn_only.entries] == ["cus-b"]
    newest_first = chartmogul.Activity.all(cm, order="-date").get()
    assert [a.uuid for a in newest_first.entries] == list(reversed(paged))


def test_customer_activities(cm: chartmogul.Config, cancelled: History) -> None:
    """A customer's activities carry integer ids and its own movements only."""
    listed = chartmogul.CustomerActivity.all(cm, uuid=cancelled.customer_b.uuid).get()
    assert [(a.type, a.activity_mrr_movement) for a in listed.entries] == [
        ("new_biz", SILVER_CENTS),
        ("churn", -SILVER_CENTS),
    ]
    assert all(isinstance(a.id, int) for a in listed.entries)
    assert listed.entries[0].subscription_external_id == "b-sub"
    assert listed.has_more is False


def _seeded_subscriptions() -> list[tuple[int, date, date | None]]:
    """(monthly cents, first day, churn day) of each subscription ``cancelled`` seeds."""
    first_day = [date.fromisoformat(start) for start, _ in Q1_2024]
    cancelled_on = date.fromisoformat(CANCELLED_AT[:10])
    return [(GOLD_CENTS, first_day[0], None), (SILVER_CENTS, first_day[1], cancelled_on)]


def _expected_asp_and_ltv() -> tuple[list[int], list[int]]:
    """ASP and LTV per Q1 month, from the seeded subscriptions alone (docs/emulator-mrr.md).

    ASP = new-business MRR / new customers in the month; LTV = ARPA / customer churn rate
    (customers churned in the month / customers at its opening), 0 when nobody churned.
    """
    subscriptions = _seeded_subscriptions()

    def live(day: date) -> list[int]:
        return [c for c, start, end in subscriptions if start <= day and (end is None or day < end)]

    asp, ltv = [], []
    for month_end in Q1_MONTH_ENDS:
        month_start = month_end.replace(day=1)
        new = [c for c, start, _ in subscriptions if month_start <= start <= month_end]
        churned = [c for c, _, end in subscriptions if end and month_start <= end <= month_end]
        opening, closing = live(month_start - timedelta(days=1)), live(month_end)
        asp.append(round(Fraction(sum(new), len(new))) if new else 0)
        arpa = Fraction(sum(closing), len(closing))
        ltv.append(round(arpa / Fraction(len(churned), len(opening))) if churned else 0)
    return asp, ltv


def _series(result: Any, attribute: str) -> list[Any]:
    assert [entry.date for entry in result.entries] == Q1_MONTH_ENDS
    return [getattr(entry, attribute) for entry in result.entries]


def test_mrr_metrics(cm: chartmogul.Config, cancelled: History) -> None:
    """MRR, its movements, ARR, ARPA and ASP per month of Q1 2024."""
    mrr = chartmogul.Metrics.mrr(cm, **Q1).get()
    assert _series(mrr, "mrr") == [5000, 8000, 5000]
    assert _series(mrr, "mrr_new_business") == [5000, 3000, 0]
    assert _series(mrr, "mrr_churn") == [0, 0, -3000]
    assert mrr.summary.current == GOLD_CENTS
    assert _series(chartmogul.Metrics.arr(cm, **Q1).get(), "arr") == [60000, 96000, 60000]
    assert _series(chartmogul.Metrics.arpa(cm, **Q1).get(), "arpa") == [5000, 4000, 5000]
    asp = _series(chartmogul.Metrics.asp(cm, **Q1).get(), "asp")
    assert asp == _expected_asp_and_ltv()[0] == [GOLD_CENTS, SILVER_CENTS, 0]


def test_customer_metrics(cm: chartmogul.Config, cancelled: History) -> None:
    """Customer count, customer and MRR churn rates, and LTV per month of Q1 2024."""
    counts = chartmogul.Metrics.customer_count(cm, **Q1).get()
    assert _series(counts, "customers") == [1, 2, 1]
    churn = chartmogul.Metrics.customer_churn_rate(cm, **Q1).get()
    assert _series(churn, "customer_churn_rate") == [0, 0, 50.0]
    mrr_churn = chartmogul.Metrics.mrr_churn_rate(cm, **Q1).get()
    assert _series(mrr_churn, "mrr_churn_rate") == [0, 0, 37.5]
    ltv = _series(chartmogul.Metrics.ltv(cm, **Q1).get(), "ltv")
    assert all(isinstance(value, float) for value in ltv)
    # March: ARPA 5000 / churn rate 50% (one of the two opening customers left)
    assert ltv == _expected_asp_and_ltv()[1] == [0, 0, 2 * GOLD_CENTS]


def test_all_metrics_and_filters(cm: chartmogul.Config, cancelled: History) -> None:
    """/metrics/all carries every metric; geo and plans filters narrow the customers."""
    every = chartmogul.Metrics.all(cm, **Q1).get()
    last = every.entries[-1]
    assert [e.date for e in every.entries] == Q1_MONTH_ENDS
    assert (last.mrr, last.arr, last.customers, last.arpa) == (5000, 60000, 1, 5000)
    assert last.customer_churn_rate == 50.0
    assert every.summary.current_mrr == GOLD_CENTS

    in_gb = chartmogul.Metrics.mrr(cm, geo="GB", **Q1).get()
    assert _series(in_gb, "mrr") == [5000, 5000, 5000]
    silver = chartmogul.Metrics.customer_count(cm, plans="Silver", **Q1).get()
    assert _series(silver, "customers") == [0, 1, 0]


def test_metrics_daily_interval(cm: chartmogul.Config, history: History) -> None:
    """With interval=day there is one point per day, B counted from its first day."""
    daily = chartmogul.Metrics.customer_count(
        cm, start_date="2024-01-31", end_date="2024-02-02", interval="day"
    ).get()
    assert [(e.date, e.customers) for e in daily.entries] == [
        (date(2024, 1, 31), 1),
        (date(2024, 2, 1), 2),
        (date(2024, 2, 2), 2),
    ]

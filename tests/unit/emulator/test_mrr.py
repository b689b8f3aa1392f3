"""The MRR engine's pure core: line items to segments, segments to activities."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from fractions import Fraction

import pytest

from mogulsync.emulator.mrr_facts import (
    CustomerFact,
    Facts,
    LineItemFact,
    PlanFact,
    SubscriptionFact,
    add_interval,
    item_mrr,
    monthly_amount,
    round_cents,
)
from mogulsync.emulator.mrr_timeline import (
    ACTIVITY_NAMESPACE,
    FOREVER,
    Segment,
    activity_uuid,
    build_timeline,
    customer_activities,
    describe,
    subscription_segments,
)

MONTHLY = PlanFact("pl_m", "monthly", "Monthly", 1, "month")
BIG = PlanFact("pl_big", "big", "Big", 1, "month")
PLANS = {plan.uuid: plan for plan in (MONTHLY, BIG)}
CUSTOMER = CustomerFact("cus_1", seq=1, external_id="c1", name="Acme")


def at(text: str) -> datetime:
    """A UTC moment from ``YYYY-MM-DD`` or ``YYYY-MM-DDTHH:MM``."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def item(sub: str, start: str, end: str, amount: int, **fields: object) -> LineItemFact:
    """A subscription line item on the monthly plan unless told otherwise."""
    fields.setdefault("plan_uuid", "pl_m")
    return LineItemFact(sub, at(start), at(end), amount, **fields)  # type: ignore[arg-type]


def months(sub: str, amounts: list[int], first: str = "2024-01-01") -> list[LineItemFact]:
    """One monthly line item per amount, back to back from ``first``."""
    items, start = [], at(first)
    for position, amount in enumerate(amounts):
        end = add_interval(start, MONTHLY)
        items.append(LineItemFact(sub, start, end, amount, "pl_m", order=(position, 0)))
        start = end
    return items


def activities_of(subs: list[tuple[SubscriptionFact, list[LineItemFact]]], **kw: object):
    """The customer's activities as (type, movement, customer mrr, date) tuples."""
    built = [
        (sub, subscription_segments(items, sub.cancellation_dates, PLANS, **kw))  # type: ignore[arg-type]
        for sub, items in subs
    ]
    return [
        (a.type, a.movement, a.customer_mrr, a.date)
        for a in customer_activities(CUSTOMER, built, PLANS)
    ]


# ---------------------------------------------------------------------- normalisation
@pytest.mark.parametrize(
    ("unit", "count", "amount", "expected"),
    [
        ("month", 1, 1200, Fraction(1200)),
        ("month", 3, 3000, Fraction(1000)),
        ("year", 1, 12000, Fraction(1000)),
        ("year", 2, 24000, Fraction(1000)),
        ("day", 30, 1000, Fraction(1000)),
        ("day", 1, 10, Fraction(300)),
        ("week", 1, 700, Fraction(3000)),
    ],
)
def test_monthly_amount_by_plan_interval(unit, count, amount, expected) -> None:
    """An interval's amount is spread over months by the plan's unit and count."""
    plan = PlanFact("p", interval_count=count, interval_unit=unit)
    assert monthly_amount(amount, plan) == expected


def test_add_interval_clamps_to_month_end() -> None:
    """A month after January 31st is the last day of February."""
    assert add_interval(at("2024-01-31"), MONTHLY) == at("2024-02-29")
    assert add_interval(at("2024-02-29"), PlanFact("y", interval_unit="year")) == at("2025-02-28")


def test_prorated_item_is_scaled_to_a_whole_interval() -> None:
    """1700 for 17 of 31 days of a monthly plan stands for 3100 a month."""
    prorated = item("s", "2024-01-15", "2024-02-01", 1700, prorated=True)
    assert item_mrr(prorated, MONTHLY) == Fraction(3100)


def test_round_cents_halves_away_from_zero() -> None:
    """Halves round away from zero in both directions."""
    assert [round_cents(Fraction(v, 2)) for v in (1, 3, -1, -3)] == [1, 2, -1, -2]


# ---------------------------------------------------------------------- segments
def test_renewals_at_one_price_make_one_open_segment() -> None:
    """Back-to-back renewals merge; an uncancelled subscription runs on forever."""
    segments = subscription_segments(months("s", [1000, 1000, 1000]), [], PLANS)
    assert segments == (
        Segment(at("2024-01-01"), FOREVER, 1000, "pl_m", 1, "USD", at("2024-04-01")),
    )


def test_cancellation_cuts_and_later_item_revives() -> None:
    """A cancellation stops the items before it; an item starting later starts afresh."""
    items = [*months("s", [1000, 1000]), item("s", "2024-06-01", "2024-07-01", 900)]
    segments = subscription_segments(items, [at("2024-02-10")], PLANS)
    assert [(s.start, s.end, s.mrr) for s in segments] == [
        (at("2024-01-01"), at("2024-02-10"), 1000),
        (at("2024-06-01"), FOREVER, 900),
    ]


def test_auto_churn_ends_unrenewed_periods() -> None:
    """With automatic churn a gap between service periods is churn then reactivation."""
    items = [*months("s", [1000]), item("s", "2024-03-01", "2024-04-01", 1000)]
    segments = subscription_segments(items, [], PLANS, auto_churn=timedelta(0))
    assert [(s.start, s.end) for s in segments] == [
        (at("2024-01-01"), at("2024-02-01")),
        (at("2024-03-01"), at("2024-04-01")),
    ]


def test_differential_proration_adds_to_the_base_item() -> None:
    """An upgrade's prorated difference counts on top of the current period's price."""
    items = [
        *months("s", [3000, 4550]),
        item("s", "2024-01-16", "2024-02-01", 800, prorated=True, plan_uuid="pl_big"),
    ]
    segments = subscription_segments(items, [], PLANS)
    assert [(s.start, s.mrr, s.plan_uuid) for s in segments] == [
        (at("2024-01-01"), 3000, "pl_m"),
        (at("2024-01-16"), 4550, "pl_big"),
        (at("2024-02-01"), 4550, "pl_m"),
    ]


def test_full_proration_replaces_the_base_item() -> None:
    """A ``full`` proration is the new full price for the rest of the period."""
    items = [
        *months("s", [3000]),
        item(
            "s", "2024-01-16", "2024-02-01", 4000,
            prorated=True, proration_type="full", plan_uuid="pl_big", order=(9, 0),
        ),
    ]  # fmt: skip
    segments = subscription_segments(items, [], PLANS)
    assert [(s.start, s.end, s.mrr) for s in segments] == [
        (at("2024-01-01"), at("2024-01-16"), 3000),
        (at("2024-01-16"), FOREVER, 7750),
    ]


def test_same_start_later_item_wins() -> None:
    """Two regular items starting together: the later imported one counts."""
    first = item("s", "2024-01-01", "2024-02-01", 1000, order=(1, 0))
    second = item("s", "2024-01-01", "2024-02-01", 2500, order=(2, 0))
    (segment,) = subscription_segments([second, first], [], PLANS)
    assert segment.mrr == 2500


def test_empty_and_negative_items() -> None:
    """Zero-length periods are ignored; MRR never goes below zero."""
    assert subscription_segments([item("s", "2024-01-01", "2024-01-01", 500)], [], PLANS) == ()
    credit = item("s", "2024-01-10", "2024-02-01", -5000, prorated=True)
    segments = subscription_segments([*months("s", [1000]), credit], [], PLANS)
    assert [s.mrr for s in segments] == [1000, 0, 1000]


# ---------------------------------------------------------------------- activities
def test_every_movement_type_with_running_mrr() -> None:
    """New business, expansion, contraction, churn and reactivation, in order."""
    sub = SubscriptionFact("sub_1", "cus_1", cancellation_dates=(at("2024-03-20"),))
    items = [*months("sub_1", [1000, 1500, 1200]), item("sub_1", "2024-06-01", "2024-07-01", 800)]
    assert activities_of([(sub, items)]) == [
        ("new_biz", 1000, 1000, at("2024-01-01")),
        ("expansion", 500, 1500, at("2024-02-01")),
        ("contraction", -300, 1200, at("2024-03-01")),
        ("churn", -1200, 0, at("2024-03-20")),
        ("reactivation", 800, 800, at("2024-06-01")),
    ]


def test_two_subscriptions_starting_together_are_both_new_business() -> None:
    """Both first subscriptions count as new business; activity MRR accumulates."""
    one, two = SubscriptionFact("s1", "cus_1", seq=1), SubscriptionFact("s2", "cus_1", seq=2)
    found = activities_of([
        (one, [item("s1", "2016-01-01T12:00", "2016-02-01T12:00", 4004)]),
        (two, [item("s2", "2016-01-01T12:00", "2016-02-01T12:00", 4005)]),
    ])  # fmt: skip
    assert found == [
        ("new_biz", 4004, 4004, at("2016-01-01T12:00")),
        ("new_biz", 4005, 8009, at("2016-01-01T12:00")),
    ]


def test_mixed_day_is_expansion_and_contraction() -> None:
    """On a day one subscription grows and another shrinks, each movement keeps its sign."""
    one, two = SubscriptionFact("s1", "cus_1", seq=1), SubscriptionFact("s2", "cus_1", seq=2)
    found = activities_of([(one, months("s1", [1000, 1500])), (two, months("s2", [700, 500]))])
    assert found[2:] == [
        ("expansion", 500, 2200, at("2024-02-01")),
        ("contraction", -200, 2000, at("2024-02-01")),
    ]


def test_same_day_gap_nets_out() -> None:
    """A stop and restart within one day is no movement at all."""
    sub = SubscriptionFact("s", "cus_1", cancellation_dates=(at("2024-02-01T08:00"),))
    items = [*months("s", [1000]), item("s", "2024-02-01T09:00", "2024-03-01", 1000)]
    assert activities_of([(sub, items)]) == [("new_biz", 1000, 1000, at("2024-01-01"))]


def test_auto_churn_activities() -> None:
    """With automatic churn an unrenewed subscription churns when its period ends."""
    sub = SubscriptionFact("s", "cus_1")
    items = [*months("s", [1000]), item("s", "2024-03-01", "2024-04-01", 1000)]
    assert [a[:2] for a in activities_of([(sub, items)], auto_churn=timedelta(0))] == [
        ("new_biz", 1000),
        ("churn", -1000),
        ("reactivation", 1000),
        ("churn", -1000),
    ]


@pytest.mark.parametrize("key", ["", "cus|sub|2016-01-01T12:00:00+00:00|new_biz", "x" * 300])
def test_activity_uuids_are_rfc4122_version_5(key: str) -> None:
    """The fast uuid helper gives exactly uuid5 in the activity namespace."""
    assert activity_uuid(key) == str(uuid.uuid5(ACTIVITY_NAMESPACE, key))


def test_timeline_is_stable_and_globally_ordered() -> None:
    """Rebuilding gives the same uuids; entries are in date order across customers."""
    other = CustomerFact("cus_2", seq=2, name="Beta")
    facts = Facts(
        customers={c.uuid: c for c in (CUSTOMER, other)},
        subscriptions={
            "s1": SubscriptionFact("s1", "cus_1", seq=1),
            "s2": SubscriptionFact("s2", "cus_2", seq=2),
        },
        plans=PLANS,
        line_items=(*months("s1", [1000, 2000]), *months("s2", [500], first="2024-01-15")),
    )
    first, second = build_timeline(facts), build_timeline(facts)
    assert [a.uuid for a in first.activities] == [a.uuid for a in second.activities]
    assert len({a.uuid for a in first.activities}) == 3
    assert [(a.customer_uuid, a.type) for a in first.activities] == [
        ("cus_1", "new_biz"),
        ("cus_2", "new_biz"),
        ("cus_1", "expansion"),
    ]
    assert first.activities[0].description == "purchased the Monthly plan"
    assert set(first.by_customer) == {"cus_1", "cus_2"}


def test_a_discounted_purchase_names_its_discount() -> None:
    """A new_biz bought with a discount says so (recorded in the Airbyte connector's
    extract: "purchased the Bronze Plan plan with $10.00 discount applied"); a later
    movement and an undiscounted purchase do not."""
    facts = Facts(
        customers={"cus_1": CUSTOMER},
        subscriptions={
            "s1": SubscriptionFact("s1", "cus_1", seq=1),
            "s2": SubscriptionFact("s2", "cus_1", seq=2),
        },
        plans=PLANS,
        line_items=(
            item("s1", "2024-01-01", "2024-02-01", 4100, discount_in_cents=1000),
            item("s1", "2024-02-01", "2024-03-01", 5100, discount_in_cents=1000, order=(1, 0)),
            item("s2", "2024-01-10", "2024-02-10", 500),
        ),
    )
    new_biz, other_sub, expansion = build_timeline(facts).activities
    assert (new_biz.type, new_biz.discount_in_cents) == ("new_biz", 1000)
    assert describe(new_biz, "$") == "purchased the Monthly plan with $10.00 discount applied"
    assert (other_sub.type, describe(other_sub, "$")) == ("expansion", "expanded the Monthly plan")
    assert (expansion.type, describe(expansion, "€")) == ("expansion", "expanded the Monthly plan")

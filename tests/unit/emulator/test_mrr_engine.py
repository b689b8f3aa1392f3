"""MrrEngine over a real in-memory store: reading rows, the clock, caching, filters."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from mogulsync.emulator import mrr as mrr_module
from mogulsync.emulator.mrr import MrrEngine
from mogulsync.emulator.mrr_store import MetricsFilter, load_facts, narrow
from mogulsync.emulator.store import Store


class Clock:
    """A settable clock for the engine."""

    def __init__(self, text: str) -> None:
        self.moment = datetime.fromisoformat(text).replace(tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.moment


def stamp(day: str) -> str:
    """The import-object timestamp format the billing routes store."""
    return f"{day}T00:00:00.000Z"


class Books:
    """Writes rows in the shapes the CRM and billing routes store."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.count = 0

    def plan(self, uuid: str, name: str, unit: str = "month") -> None:
        body = {"uuid": uuid, "external_id": f"{name.lower()}_x", "name": name,
                "interval_count": 1, "interval_unit": unit, "data_source_uuid": "ds_1"}  # fmt: skip
        self.store.insert("plan", uuid, body, data_source_uuid="ds_1")

    def customer(self, uuid: str, country: str | None = None) -> None:
        body = {"uuid": uuid, "external_id": uuid, "name": uuid.upper(), "country": country,
                "data_source_uuid": "ds_1"}  # fmt: skip
        self.store.insert("customer", uuid, body, data_source_uuid="ds_1", external_id=uuid)

    def subscription(self, uuid: str, customer: str, plan: str, cancelled: list[str]) -> None:
        body = {"uuid": uuid, "external_id": f"{uuid}-ext", "subscription_set_external_id": None,
                "plan_uuid": plan, "data_source_uuid": "ds_1", "customer_uuid": customer,
                "cancellation_dates": [stamp(d) for d in cancelled]}  # fmt: skip
        self.store.insert("subscription", uuid, body, parent_uuid=customer)

    def invoice(self, customer: str, lines: list[dict[str, Any]], **extra: Any) -> str:
        self.count += 1
        uuid = f"inv_{self.count}"
        body = {"uuid": uuid, "external_id": uuid, "customer_uuid": customer,
                "data_source_uuid": "ds_1", "date": stamp("2024-01-01"), "currency": "EUR",
                "line_items": lines, "transactions": [], **extra}  # fmt: skip
        self.store.insert("invoice", uuid, body, parent_uuid=customer)
        return uuid


def line(sub: str, plan: str, start: str, end: str, amount: int, **extra: Any) -> dict[str, Any]:
    """A stored subscription line item."""
    return {"type": "subscription", "subscription_uuid": sub, "plan_uuid": plan,
            "subscription_external_id": f"{sub}-ext", "service_period_start": stamp(start),
            "service_period_end": stamp(end), "amount_in_cents": amount, "quantity": 2,
            "prorated": False, "cancelled_at": None, **extra}  # fmt: skip


@pytest.fixture
def books() -> Books:
    """Two plans, a paying German customer, a cancelled French one and a lead."""
    books = Books(Store())
    books.plan("pl_gold", "Gold")
    books.plan("pl_silver", "Silver")
    books.customer("cus_de", "DE")
    books.customer("cus_fr", "FR")
    books.customer("cus_lead")
    books.subscription("sub_de", "cus_de", "pl_gold", [])
    books.subscription("sub_fr", "cus_fr", "pl_silver", ["2024-03-15"])
    books.invoice("cus_de", [line("sub_de", "pl_gold", "2024-01-01", "2024-02-01", 5000),
                             {"type": "one_time", "amount_in_cents": 999}])  # fmt: skip
    books.invoice("cus_fr", [line("sub_fr", "pl_silver", "2024-02-01", "2024-03-01", 3000),
                             line("sub_fr", "pl_silver", "2024-03-01", "2024-04-01", 3000)])  # fmt: skip
    return books


def test_customer_figures(books: Books) -> None:
    """Active with MRR and customer-since; cancelled at zero; a lead has no status."""
    engine = MrrEngine(books.store, clock=Clock("2024-06-15"))
    active = engine.customer("cus_de")
    assert (active.mrr, active.arr, active.status, active.currency) == (
        5000,
        60000,
        "Active",
        "EUR",
    )
    assert active.customer_since == datetime(2024, 1, 1, tzinfo=UTC)
    cancelled = engine.customer("cus_fr")
    assert (cancelled.mrr, cancelled.status) == (0, "Cancelled")
    lead = engine.customer("cus_lead")
    assert (lead.mrr, lead.status, lead.customer_since, lead.currency) == (0, None, None, "USD")


def test_future_movements_appear_when_their_day_comes(books: Books) -> None:
    """An upgrade dated tomorrow is invisible today and counted from its day on."""
    clock = Clock("2024-06-15T23:00")
    engine = MrrEngine(books.store, clock=clock)
    books.invoice("cus_de", [line("sub_de", "pl_gold", "2024-06-16", "2024-07-16", 8000)])
    assert engine.customer("cus_de").mrr == 5000
    assert [a.type for a in engine.activities()] == ["new_biz", "new_biz", "churn"]
    clock.moment = datetime(2024, 6, 16, tzinfo=UTC)
    assert engine.customer("cus_de").mrr == 8000
    assert [a.type for a in engine.activities()][-1] == "expansion"


def test_results_are_cached_until_the_store_changes(books: Books) -> None:
    """Repeated reads reuse one timeline; any MRR-relevant write rebuilds it."""
    engine = MrrEngine(books.store, clock=Clock("2024-06-15"))
    first = engine.timeline()
    assert engine.timeline() is first
    books.invoice("cus_lead", [], disabled=True)
    assert engine.timeline() is not first


def test_disabled_invoices_and_one_time_items_have_no_mrr(books: Books) -> None:
    """Disabled invoices are ignored, as are one-time line items."""
    books.customer("cus_x")
    books.subscription("sub_x", "cus_x", "pl_gold", [])
    books.invoice("cus_x", [line("sub_x", "pl_gold", "2024-01-01", "2024-02-01", 100)],
                  disabled=True)  # fmt: skip
    facts = load_facts(books.store)
    assert sorted(i.subscription_uuid for i in facts.line_items) == ["sub_de", "sub_fr", "sub_fr"]
    assert MrrEngine(books.store, clock=Clock("2024-06-15")).customer("cus_x").status is None


def test_orphan_line_items_still_count(books: Books) -> None:
    """A line item whose subscription row is missing still makes MRR for its customer."""
    books.customer("cus_o")
    books.invoice("cus_o", [line("sub_o", "pl_gold", "2024-01-01", "2024-02-01", 700)])
    engine = MrrEngine(books.store, clock=Clock("2024-06-15"))
    assert engine.customer("cus_o").mrr == 700
    (state,) = engine.subscriptions("cus_o")
    assert state.subscription.external_id == "sub_o-ext"


def test_subscription_states(books: Books) -> None:
    """Running subscriptions show their paid-through date; cancelled ones their stop."""
    engine = MrrEngine(books.store, clock=Clock("2024-06-15"))
    (gold,) = engine.subscriptions("cus_de")
    assert (gold.active, gold.mrr, gold.quantity, gold.plan and gold.plan.name) == (
        True, 5000, 2, "Gold",
    )  # fmt: skip
    assert (gold.start, gold.end) == (
        datetime(2024, 1, 1, tzinfo=UTC),
        datetime(2024, 2, 1, tzinfo=UTC),
    )
    (silver,) = engine.subscriptions("cus_fr")
    assert (silver.active, silver.mrr, silver.end) == (
        False, 0, datetime(2024, 3, 15, tzinfo=UTC),
    )  # fmt: skip
    assert engine.subscriptions("cus_lead") == []


def test_filters_narrow_by_plan_and_country(books: Books) -> None:
    """Plans match by name, uuid or external id (any case); geo by customer country."""
    facts = load_facts(books.store)
    by_name = narrow(facts, MetricsFilter.parse("gold", None))
    assert {i.subscription_uuid for i in by_name.line_items} == {"sub_de"}
    by_external_id = narrow(facts, MetricsFilter.parse("silver_x, nothing", None))
    assert {i.subscription_uuid for i in by_external_id.line_items} == {"sub_fr"}
    in_france = narrow(facts, MetricsFilter.parse(None, "fr"))
    assert set(in_france.customers) == {"cus_fr"}
    assert narrow(facts, MetricsFilter.parse("", "")) is facts
    engine = MrrEngine(books.store, clock=Clock("2024-06-15"))
    ledger = engine.ledger(MetricsFilter.parse(None, "DE"))
    assert ledger.mrr(date(2024, 2, 15)) == 5000


def test_customer_lookup_without_the_account_timeline(books: Books) -> None:
    """After a write a customer is answered from its own rows, identically to the full build."""
    engine = MrrEngine(books.store, clock=Clock("2024-06-15"))
    books.invoice("cus_de", [line("sub_de", "pl_silver", "2024-05-01", "2024-06-01", 9000)])
    scoped = engine.customer_activities("cus_de")
    assert "timeline" not in engine._cache
    assert [(a.type, a.movement, a.plan_uuid) for a in scoped] == [
        ("new_biz", 5000, "pl_gold"),
        ("expansion", 4000, "pl_silver"),
    ]
    assert engine.customer("cus_de").mrr == 9000
    assert engine.timeline().by_customer["cus_de"] == scoped
    assert engine.customer_scope("cus_de")[1] is engine.timeline()
    assert engine.customer("cus_missing").status is None


def test_many_customer_lookups_switch_to_one_full_build(
    books: Books, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A long run of single-customer lookups ends in one account-wide build."""
    monkeypatch.setattr(mrr_module, "SCOPED_LOOKUPS_BEFORE_FULL_BUILD", 2)
    engine = MrrEngine(books.store, clock=Clock("2024-06-15"))
    engine.customer("cus_de")
    engine.customer("cus_fr")
    assert "timeline" not in engine._cache
    assert engine.customer("cus_lead").status is None
    assert "timeline" in engine._cache


def test_offsets_are_read_as_utc_days(books: Books) -> None:
    """A period starting at 01:00+02:00 starts on the previous UTC day."""
    books.customer("cus_tz")
    line_item = line("sub_tz", "pl_gold", "2024-01-01", "2024-02-01", 100)
    line_item["service_period_start"] = "2024-01-01T01:00:00+02:00"
    books.invoice("cus_tz", [line_item])
    (activity,) = MrrEngine(books.store, clock=Clock("2024-06-15")).customer_activities("cus_tz")
    assert (activity.date, activity.day) == (
        datetime(2023, 12, 31, 23, tzinfo=UTC),
        date(2023, 12, 31),
    )


def test_a_write_recomputes_only_its_customer(books: Books) -> None:
    """After a build, an invoice for one customer recomputes that customer alone, same result."""
    engine = MrrEngine(books.store, clock=Clock("2024-06-15"))
    engine.activities()
    assert engine.account().recomputed == {"cus_de", "cus_fr", "cus_lead"}
    books.invoice("cus_de", [line("sub_de", "pl_silver", "2024-05-01", "2024-06-01", 9000)])
    patched = engine.activities()
    assert engine.account().recomputed == {"cus_de"}
    assert patched == MrrEngine(books.store, clock=Clock("2024-06-15")).activities()
    assert patched[-1].type == "expansion"
    assert engine.ledger().mrr(date(2024, 6, 15)) == 9000


def test_a_plan_write_rebuilds_every_customer(books: Books) -> None:
    """Plans are shared, so a plan write recomputes the whole account."""
    engine = MrrEngine(books.store, clock=Clock("2024-06-15"))
    engine.activities()
    books.plan("pl_bronze", "Bronze")
    engine.activities()
    assert engine.account().recomputed == {"cus_de", "cus_fr", "cus_lead"}

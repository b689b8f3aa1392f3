"""A write after the account build costs only its customer: change tracking and lazy views."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from mogulsync.emulator.mrr import MrrEngine
from mogulsync.emulator.store import Store

TODAY = datetime(2024, 6, 15, tzinfo=UTC)


def clock() -> datetime:
    """A fixed 'now' so results do not depend on the day the tests run."""
    return TODAY


def add_customer(store: Store, uuid: str) -> None:
    """A customer row as the CRM routes store it."""
    body = {"uuid": uuid, "external_id": uuid, "name": uuid, "data_source_uuid": "ds_1"}
    store.insert("customer", uuid, body, data_source_uuid="ds_1", external_id=uuid)


def add_invoice(store: Store, customer: str, start: str, end: str, amount: int) -> None:
    """A one-line invoice on the monthly plan, for the customer's own subscription."""
    uuid = f"inv_{customer}_{start}"
    item: dict[str, Any] = {
        "type": "subscription",
        "subscription_uuid": f"sub_{customer}",
        "subscription_external_id": f"sub_{customer}",
        "plan_uuid": "pl_month",
        "service_period_start": f"{start}T00:00:00.000Z",
        "service_period_end": f"{end}T00:00:00.000Z",
        "amount_in_cents": amount,
        "quantity": 1,
        "prorated": False,
        "cancelled_at": None,
    }
    body = {"uuid": uuid, "external_id": uuid, "customer_uuid": customer,
            "data_source_uuid": "ds_1", "date": f"{start}T00:00:00.000Z", "currency": "EUR",
            "line_items": [item], "transactions": []}  # fmt: skip
    store.insert("invoice", uuid, body, parent_uuid=customer)


def books() -> Store:
    """A monthly plan and three paying customers."""
    store = Store()
    plan = {"uuid": "pl_month", "external_id": "month", "name": "Monthly",
            "interval_count": 1, "interval_unit": "month", "data_source_uuid": "ds_1"}  # fmt: skip
    store.insert("plan", "pl_month", plan, data_source_uuid="ds_1")
    for number, uuid in enumerate(("cus_a", "cus_b", "cus_c"), start=1):
        add_customer(store, uuid)
        add_invoice(store, uuid, "2024-01-01", "2024-02-01", 1000 * number)
    return store


def test_changed_customers_follows_the_latest_write_of_each_customer() -> None:
    """A customer written again counts as changed after every revision before its last write."""
    store = Store()
    add_customer(store, "cus_a")
    first = store.revision
    add_customer(store, "cus_b")
    second = store.revision
    store.update("customer", "cus_a", {"uuid": "cus_a", "name": "renamed"})
    assert store.changed_customers(0) == {"cus_a", "cus_b"}
    assert store.changed_customers(first) == {"cus_a", "cus_b"}
    assert store.changed_customers(second) == {"cus_a"}
    assert store.changed_customers(store.revision) == frozenset()


def test_customer_lookup_after_a_write_skips_the_account_wide_views() -> None:
    """After a write, one customer is answered from its own results, same as a fresh build."""
    store = books()
    engine = MrrEngine(store, clock=clock)
    engine.activities()  # the account-wide build
    add_invoice(store, "cus_b", "2024-05-01", "2024-06-01", 5000)
    patched = engine.customer("cus_b")
    assert "timeline" not in engine._cache
    assert "facts" not in engine._cache
    fresh = MrrEngine(store, clock=clock)
    assert patched == fresh.customer("cus_b")
    assert patched.mrr == 5000
    assert engine.subscriptions("cus_b") == fresh.subscriptions("cus_b")
    assert engine.customer("cus_missing") == fresh.customer("cus_missing")


def test_account_views_catch_up_with_several_writes() -> None:
    """Writes answered per customer still leave the account's activities and facts exact."""
    store = books()
    engine = MrrEngine(store, clock=clock)
    engine.activities()
    add_invoice(store, "cus_c", "2024-03-01", "2024-04-01", 9000)
    engine.customer("cus_c")
    add_invoice(store, "cus_a", "2024-02-01", "2024-03-01", 500)
    engine.customer("cus_a")
    fresh = MrrEngine(store, clock=clock)
    assert engine.activities() == fresh.activities()
    assert [a.customer_uuid for a in engine.activities()][-2:] == ["cus_a", "cus_c"]
    facts, expected = engine.facts(), fresh.facts()
    assert (facts.customers, facts.subscriptions) == (expected.customers, expected.subscriptions)
    # the account lists line items customer by customer, updated ones last
    assert sorted(facts.line_items, key=lambda i: i.order) == list(expected.line_items)

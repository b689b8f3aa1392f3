"""Emulated import subscriptions: creation from line items, the list view, cancellation."""

from __future__ import annotations

import httpx
import pytest
from tests.integration.emulator._billing import (
    UNKNOWN_CUS,
    Billing,
    created,
    import_invoices,
    invoice,
    make_billing,
    make_customer,
    make_plan,
    subscription_line,
)

LIST_KEYS = [
    "uuid", "external_id", "subscription_set_external_id", "plan_uuid", "data_source_uuid",
    "cancellation_dates",
]  # fmt: skip


@pytest.fixture
def billing(api: httpx.Client) -> Billing:
    """A data source with customer ``cus-1`` and plan ``gold``."""
    return make_billing(api)


def _listed(api: httpx.Client, customer: str, **params: object) -> dict:
    response = api.get(f"/import/customers/{customer}/subscriptions", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def _bill(api: httpx.Client, customer: str, external_id: str, plan: str, **line: object) -> dict:
    body = invoice(external_id, [subscription_line(None, plan, **line)])
    return created(import_invoices(api, customer, body))["invoices"][0]


def test_line_items_create_then_reuse_a_subscription(api: httpx.Client, billing: Billing) -> None:
    """The first line item creates the subscription; later ones of the customer reuse it."""
    first = _bill(api, billing.customer, "inv-1", billing.plan, subscription_set_external_id="set")
    second = _bill(
        api, billing.customer, "inv-2", billing.plan, start="2024-02-01", end="2024-03-01"
    )
    other = make_customer(api, billing.ds, "cus-2")
    elsewhere = _bill(api, other, "inv-3", billing.plan)
    sub_uuid = first["line_items"][0]["subscription_uuid"]
    assert second["line_items"][0]["subscription_uuid"] == sub_uuid
    assert elsewhere["line_items"][0]["subscription_uuid"] != sub_uuid

    listed = _listed(api, billing.customer)
    assert listed["customer_uuid"] == billing.customer
    assert (listed["current_page"], listed["total_pages"], listed["has_more"]) == (1, 1, False)
    [subscription] = listed["subscriptions"]
    assert list(subscription) == LIST_KEYS
    assert subscription == {
        "uuid": sub_uuid,
        "external_id": "sub-1",
        "subscription_set_external_id": "set",
        "plan_uuid": billing.plan,
        "data_source_uuid": billing.ds,
        "cancellation_dates": [],
    }


def test_plan_follows_the_latest_service_period(api: httpx.Client, billing: Billing) -> None:
    """A newer period moves the subscription's plan; a back-filled older one does not."""
    silver = make_plan(api, billing.ds, "silver")
    _bill(api, billing.customer, "jan", billing.plan)
    _bill(api, billing.customer, "mar", silver, start="2024-03-01", end="2024-04-01")
    assert _listed(api, billing.customer)["subscriptions"][0]["plan_uuid"] == silver
    _bill(api, billing.customer, "feb", billing.plan, start="2024-02-01", end="2024-03-01")
    assert _listed(api, billing.customer)["subscriptions"][0]["plan_uuid"] == silver


def test_line_item_cancelled_at_is_a_cancellation_date(api: httpx.Client, billing: Billing) -> None:
    """A line item's ``cancelled_at`` shows in the subscription's cancellation dates."""
    _bill(api, billing.customer, "inv-1", billing.plan, cancelled_at="2024-01-15 12:00:00")
    [subscription] = _listed(api, billing.customer)["subscriptions"]
    assert subscription["cancellation_dates"] == ["2024-01-15T12:00:00.000Z"]


def test_cancel_and_edit_cancellation_dates(api: httpx.Client, billing: Billing) -> None:
    """PATCH adds a cancellation, replaces the list, or clears it; each answers 202."""
    stored = _bill(api, billing.customer, "inv-1", billing.plan)
    path = f"/import/subscriptions/{stored['line_items'][0]['subscription_uuid']}"
    cancelled = api.patch(path, json={"cancelled_at": "2024-01-20 00:00:00"})
    assert cancelled.status_code == 202
    assert cancelled.json() == {
        "uuid": stored["line_items"][0]["subscription_uuid"],
        "external_id": "sub-1",
        "plan_uuid": billing.plan,
        "data_source_uuid": billing.ds,
        "cancellation_dates": ["2024-01-20T00:00:00.000Z"],
        "customer_uuid": billing.customer,
    }
    replaced = api.patch(
        path, json={"cancellation_dates": ["2024-03-01T00:00:00Z", "2024-02-01 00:00:00"]}
    )
    assert replaced.json()["cancellation_dates"] == [
        "2024-02-01T00:00:00.000Z",
        "2024-03-01T00:00:00.000Z",
    ]
    cleared = api.patch(path, json={"cancellation_dates": []})
    assert (cleared.status_code, cleared.json()["cancellation_dates"]) == (202, [])
    [listed] = _listed(api, billing.customer)["subscriptions"]
    assert listed["cancellation_dates"] == []
    # no set: no set id in the list either (chartmogul-ruby 2025 cassettes)
    assert "subscription_set_external_id" not in listed


def test_cancel_errors(api: httpx.Client, billing: Billing) -> None:
    """Bad dates are a 422, no date is a 400 and an unknown subscription a 404."""
    stored = _bill(api, billing.customer, "inv-1", billing.plan)
    path = f"/import/subscriptions/{stored['line_items'][0]['subscription_uuid']}"
    bad = api.patch(path, json={"cancelled_at": "soon"})
    assert (bad.status_code, bad.json()) == (
        422,
        {"errors": {"cancelled_at": "is not a valid ISO 8601 date/time"}},
    )
    bad_list = api.patch(path, json={"cancellation_dates": "2024-01-01"})
    assert bad_list.status_code == 422
    missing = api.patch(path, json={"note": "x"})
    assert (missing.status_code, missing.json()["code"]) == (400, 400)
    unknown = api.patch(
        "/import/subscriptions/sub_00000000-0000-0000-0000-000000000000",
        json={"cancelled_at": "2024-01-20"},
    )
    assert (unknown.status_code, unknown.json()) == (404, {"error": "Subscription not found"})
    no_customer = api.get(f"/import/customers/{UNKNOWN_CUS}/subscriptions")
    assert (no_customer.status_code, no_customer.json()["error"]) == (404, "Customer not found")


def test_subscription_goes_with_its_last_line_item(api: httpx.Client, billing: Billing) -> None:
    """Deleting one of two invoices keeps the subscription; deleting both removes it."""
    first = _bill(api, billing.customer, "inv-1", billing.plan)
    second = _bill(
        api, billing.customer, "inv-2", billing.plan, start="2024-02-01", end="2024-03-01"
    )
    api.delete(f"/invoices/{first['uuid']}")
    assert len(_listed(api, billing.customer)["subscriptions"]) == 1
    api.delete(f"/line_items/{second['line_items'][0]['uuid']}")
    assert _listed(api, billing.customer)["subscriptions"] == []


def test_list_pages_by_cursor(api: httpx.Client, billing: Billing) -> None:
    """The list view honours per_page and the cursor."""
    for number in range(3):
        _bill(api, billing.customer, f"inv-{number}", billing.plan, subscription=f"sub-{number}")
    first = _listed(api, billing.customer, per_page=2)
    assert ([s["external_id"] for s in first["subscriptions"]], first["has_more"]) == (
        ["sub-0", "sub-1"],
        True,
    )
    assert first["total_pages"] == 2
    rest = _listed(api, billing.customer, per_page=2, cursor=first["cursor"])
    assert ([s["external_id"] for s in rest["subscriptions"]], rest["has_more"]) == (
        ["sub-2"],
        False,
    )
    assert "total_pages" not in rest

"""Emulated edits of imported invoices, line items and transactions (PATCH, disable, status)."""

from __future__ import annotations

import httpx
import pytest
from tests.integration.emulator._billing import (
    INVOICE_TAKEN,
    LINE_ITEM_TAKEN,
    UNKNOWN_DS,
    Billing,
    import_one,
    make_billing,
)

NEW_AMOUNT = 6000


@pytest.fixture
def billing(api: httpx.Client) -> Billing:
    """A data source with customer ``cus-1`` and plan ``gold``."""
    return make_billing(api)


def _subscriptions(api: httpx.Client, billing: Billing) -> list[str]:
    listed = api.get(f"/import/customers/{billing.customer}/subscriptions").json()
    return [sub["external_id"] for sub in listed["subscriptions"]]


def test_line_item_patch_revalidates_and_syncs(api: httpx.Client, billing: Billing) -> None:
    """A patched line item is re-checked, stored, mirrored in its invoice and re-linked."""
    stored = import_one(api, billing)
    line = stored["line_items"][0]
    path = f"/line_items/{line['uuid']}"
    edited = api.patch(
        path, json={"amount_in_cents": NEW_AMOUNT, "subscription_external_id": "sub-9"}
    )
    assert edited.status_code == 200
    body = edited.json()
    assert (body["uuid"], body["amount_in_cents"], body["subscription_external_id"]) == (
        line["uuid"],
        NEW_AMOUNT,
        "sub-9",
    )
    assert body["subscription_uuid"] != line["subscription_uuid"]
    assert api.get(f"/invoices/{stored['uuid']}").json()["line_items"] == [body]
    assert _subscriptions(api, billing) == ["sub-9"]

    bad = api.patch(path, json={"quantity": 0})
    assert (bad.status_code, bad.json()) == (
        422,
        {"errors": {"quantity": "must be greater than 0"}},
    )
    import_one(api, billing, "inv-2")
    taken = api.patch(path, json={"external_id": "inv-2-li"})
    assert (taken.status_code, taken.json()) == (422, {"errors": {"external_id": LINE_ITEM_TAKEN}})
    by_external = api.patch(
        "/line_items",
        params={"data_source_uuid": billing.ds, "external_id": "inv-1-li"},
        json={"quantity": 4},
    )
    assert (by_external.json()["uuid"], by_external.json()["quantity"]) == (line["uuid"], 4)
    missing = api.patch("/line_items/li_unknown", json={"quantity": 2})
    assert (missing.status_code, missing.json()) == (404, {"error": "Line item not found"})


def test_transaction_patch(api: httpx.Client, billing: Billing) -> None:
    """A patched transaction is re-checked and mirrored in its invoice."""
    stored = import_one(api, billing)
    payment = stored["transactions"][0]
    edited = api.patch(f"/transactions/{payment['uuid']}", json={"result": "failed"})
    assert (edited.status_code, edited.json()["result"]) == (200, "failed")
    assert api.get(f"/invoices/{stored['uuid']}").json()["transactions"] == [edited.json()]
    bad = api.patch(f"/transactions/{payment['uuid']}", json={"type": "gift"})
    assert (bad.status_code, bad.json()) == (
        422,
        {"errors": {"type": "is not included in the list"}},
    )


def test_disabled_state_for_each_kind(api: httpx.Client, billing: Billing) -> None:
    """Invoices, line items and transactions can be disabled and enabled again."""
    stored = import_one(api, billing)
    targets = [
        f"/invoices/{stored['uuid']}",
        f"/line_items/{stored['line_items'][0]['uuid']}",
        f"/transactions/{stored['transactions'][0]['uuid']}",
    ]
    for path in targets:
        disabled = api.patch(f"{path}/disabled_state", json={"disabled": True})
        assert disabled.status_code == 200
        assert disabled.json()["disabled"] is True
        assert disabled.json()["disabled_at"]
        assert api.get(path).json()["disabled"] is True
    invoice = api.get(f"/invoices/{stored['uuid']}").json()
    assert invoice["line_items"][0]["disabled"] is True
    assert invoice["transactions"][0]["disabled"] is True
    # an edit keeps the flag; only disabled_state changes it
    kept = api.patch(f"/line_items/{stored['line_items'][0]['uuid']}", json={"quantity": 2})
    assert kept.json()["disabled"] is True
    enabled = api.patch(
        "/transactions/disabled_state",
        params={"data_source_uuid": billing.ds, "external_id": "inv-1-tr"},
        json={"disabled": False},
    ).json()
    assert (enabled["disabled"], enabled["disabled_at"]) == (False, None)
    bad = api.patch(f"{targets[0]}/disabled_state", json={"disabled": "yes"})
    assert (bad.status_code, bad.json()) == (422, {"errors": {"disabled": "must be true or false"}})


def test_invoice_patch_and_status(api: httpx.Client, billing: Billing) -> None:
    """An invoice's own fields are edited; its status is set by external id."""
    stored = import_one(api, billing)
    import_one(api, billing, "inv-2")
    edited = api.patch(
        f"/invoices/{stored['uuid']}", json={"currency": "eur", "external_id": "inv-1"}
    )
    assert (edited.status_code, edited.json()["currency"]) == (200, "EUR")
    assert edited.json()["line_items"] == stored["line_items"]
    taken = api.patch(f"/invoices/{stored['uuid']}", json={"external_id": "inv-2"})
    assert (taken.status_code, taken.json()) == (422, {"errors": {"external_id": INVOICE_TAKEN}})

    path = f"/data_sources/{billing.ds}/invoices/inv-1/status"
    updated = api.put(path, json={"status": "void"})
    assert (updated.status_code, updated.json()["status"]) == (200, "void")
    assert api.get(f"/invoices/{stored['uuid']}").json()["status"] == "void"
    blank = api.put(path, json={})
    assert (blank.status_code, blank.json()) == (422, {"errors": {"status": "can't be blank"}})
    unknown = api.put(f"/data_sources/{billing.ds}/invoices/nope/status", json={"status": "void"})
    assert (unknown.status_code, unknown.json()) == (404, {"error": "Invoice not found"})
    no_source = api.put(
        f"/data_sources/{UNKNOWN_DS}/invoices/inv-1/status", json={"status": "void"}
    )
    assert no_source.status_code == 404

"""Emulated transactions: import onto an invoice, validation, retrieve and delete."""

from __future__ import annotations

import httpx
import pytest
from tests.integration.emulator._billing import (
    TRANSACTION_TAKEN,
    UNKNOWN_INV,
    Billing,
    created,
    import_one,
    make_billing,
)

REFUND_CENTS = 1500


@pytest.fixture
def billing(api: httpx.Client) -> Billing:
    """A data source with customer ``cus-1`` and plan ``gold``."""
    return make_billing(api)


def _refund(external_id: str | None = "refund-1", **extra: object) -> dict[str, object]:
    body: dict[str, object] = {
        "type": "refund",
        "date": "2024-01-10 00:00:00",
        "result": "successful",
        "amount_in_cents": REFUND_CENTS,
        **extra,
    }
    if external_id is not None:
        body["external_id"] = external_id
    return body


def test_import_appends_to_the_invoice(api: httpx.Client, billing: Billing) -> None:
    """A 201 transaction joins the invoice's embedded list and can be retrieved."""
    stored = import_one(api, billing)
    added = created(
        api.post(
            f"/import/invoices/{stored['uuid']}/transactions",
            json=_refund(transaction_fees_in_cents=30, transaction_fees_currency="usd"),
        )
    )
    assert added == {
        "uuid": added["uuid"],
        "external_id": "refund-1",
        "amount_in_cents": REFUND_CENTS,
        "type": "refund",
        "date": "2024-01-10T00:00:00.000Z",
        "result": "successful",
        "transaction_fees_in_cents": 30,
        "transaction_fees_currency": "USD",
        "disabled": False,
        "disabled_at": None,
        "disabled_by": None,
    }
    assert added["uuid"].startswith("tr_")
    listed = api.get(f"/invoices/{stored['uuid']}").json()["transactions"]
    assert listed == [stored["transactions"][0], added]
    assert api.get(f"/transactions/{added['uuid']}").json() == added


def test_reused_external_id_is_taken(api: httpx.Client, billing: Billing) -> None:
    """A transaction external id used anywhere in the data source gives the 422 message."""
    stored = import_one(api, billing)
    path = f"/import/invoices/{stored['uuid']}/transactions"
    for external_id in ("inv-1-tr", "inv-1-tr"):
        response = api.post(path, json=_refund(external_id))
        assert (response.status_code, response.json()) == (
            422,
            {"errors": {"external_id": TRANSACTION_TAKEN}},
        )
    assert created(api.post(path, json=_refund(None)))["external_id"] is None
    assert created(api.post(path, json=_refund(None)))["external_id"] is None


def test_validation_and_unknown_invoice(api: httpx.Client, billing: Billing) -> None:
    """Bad fields are a 422 with bare field names; an unknown invoice is a 404."""
    stored = import_one(api, billing)
    response = api.post(
        f"/import/invoices/{stored['uuid']}/transactions",
        json={"type": "gift", "result": "ok", "amount_in_cents": 1.5},
    )
    assert response.status_code == 422
    assert response.json() == {
        "errors": {
            "amount_in_cents": "must be an integer",
            "type": "is not included in the list",
            "date": "can't be blank",
            "result": "is not included in the list",
        }
    }
    missing = api.post(f"/import/invoices/{UNKNOWN_INV}/transactions", json=_refund())
    assert (missing.status_code, missing.json()) == (404, {"error": "Invoice not found"})
    not_json = api.post(f"/import/invoices/{stored['uuid']}/transactions", content=b"[1]")
    assert (not_json.status_code, not_json.json()["code"]) == (400, 400)


def test_delete_by_uuid_and_by_external_id(api: httpx.Client, billing: Billing) -> None:
    """Deleting a transaction answers 204 and removes it from its invoice."""
    stored = import_one(api, billing)
    path = f"/import/invoices/{stored['uuid']}/transactions"
    refund = created(api.post(path, json=_refund()))
    assert api.delete(f"/transactions/{refund['uuid']}").status_code == 204
    gone = api.get(f"/transactions/{refund['uuid']}")
    assert (gone.status_code, gone.json()) == (404, {"error": "Transaction not found"})

    by_id = {"data_source_uuid": billing.ds, "external_id": "inv-1-tr"}
    assert api.get("/transactions", params=by_id).json() == stored["transactions"][0]
    assert api.delete("/transactions", params=by_id).status_code == 204
    assert api.get(f"/invoices/{stored['uuid']}").json()["transactions"] == []
    again = api.delete("/transactions", params=by_id)
    assert (again.status_code, again.json()) == (404, {"error": "Transaction not found"})
    # the freed external id can be used again
    assert created(api.post(path, json=_refund("inv-1-tr")))["external_id"] == "inv-1-tr"

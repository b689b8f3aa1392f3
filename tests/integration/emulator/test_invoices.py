"""Emulated invoices and line items: import, validation, lists, pages, retrieve, delete."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from tests.integration.emulator._billing import (
    INVOICE_TAKEN,
    LINE_ITEM_TAKEN,
    MONTHLY_CENTS,
    TRANSACTION_TAKEN,
    UNKNOWN_CUS,
    UNKNOWN_DS,
    UNKNOWN_INV,
    Billing,
    created,
    import_invoices,
    import_one,
    invoice,
    make_billing,
    make_customer,
    make_plan,
    payment,
    subscription_line,
)

INVOICE_KEYS = [
    "uuid", "external_id", "customer_uuid", "data_source_uuid", "date", "due_date",
    "currency", "collection_method", "status", "errors", "disabled", "disabled_at",
    "disabled_by", "line_items", "transactions",
]  # fmt: skip
LINE_ITEM_KEYS = [
    "uuid", "external_id", "type", "subscription_uuid", "subscription_external_id",
    "subscription_set_external_id", "prorated", "proration_type", "service_period_start",
    "service_period_end", "plan_uuid", "amount_in_cents", "quantity", "discount_code",
    "discount_amount_in_cents", "tax_amount_in_cents", "transaction_fees_in_cents",
    "account_code", "transaction_fees_currency", "discount_description", "event_order",
    "disabled", "disabled_at", "disabled_by",
]  # fmt: skip
TRANSACTION_KEYS = [
    "uuid", "external_id", "amount_in_cents", "type", "date", "result",
    "transaction_fees_in_cents", "transaction_fees_currency", "disabled", "disabled_at",
    "disabled_by",
]  # fmt: skip
PAGE_SIZE = 200
MANY_INVOICES = 250


@pytest.fixture
def billing(api: httpx.Client) -> Billing:
    """A data source with customer ``cus-1`` and plan ``gold``."""
    return make_billing(api)


def test_import_returns_the_recorded_invoice_shape(api: httpx.Client, billing: Billing) -> None:
    """A 201 import returns full invoices with defaults and import-object timestamps."""
    body = invoice(
        "inv-1",
        [
            subscription_line("li-1", billing.plan, quantity=2, discount_code="WELCOME"),
            {"type": "one_time", "amount_in_cents": 1500, "description": "Setup"},
        ],
        [payment("tr-1")],
        due_date="2024-01-08 00:00:00",
        date="2000-01-01 00:00:00 +0200",
    )
    response = import_invoices(api, billing.customer, body)
    assert response.status_code == 201
    [stored] = response.json()["invoices"]
    assert list(stored) == INVOICE_KEYS
    assert stored["uuid"].startswith("inv_")
    assert (stored["customer_uuid"], stored["data_source_uuid"]) == (billing.customer, billing.ds)
    assert (stored["date"], stored["due_date"]) == (
        "1999-12-31T22:00:00.000Z",
        "2024-01-08T00:00:00.000Z",
    )
    assert (stored["currency"], stored["collection_method"], stored["errors"]) == (
        "USD",
        "automatic",
        {},
    )
    sub_line, one_time = stored["line_items"]
    assert list(sub_line) == LINE_ITEM_KEYS
    assert sub_line["uuid"].startswith("li_")
    assert sub_line["subscription_uuid"].startswith("sub_")
    assert sub_line["service_period_start"] == "2024-01-01T00:00:00.000Z"
    assert (sub_line["quantity"], sub_line["prorated"], sub_line["discount_code"]) == (
        2,
        False,
        "WELCOME",
    )
    assert (sub_line["amount_in_cents"], sub_line["plan_uuid"]) == (MONTHLY_CENTS, billing.plan)
    assert (one_time["type"], one_time["quantity"], one_time["description"]) == (
        "one_time",
        1,
        "Setup",
    )
    assert (one_time["external_id"], one_time["account_code"]) == (None, "")
    # one-time items show no subscription keys (recorded one-time items have none)
    assert not {"subscription_uuid", "service_period_start", "plan_uuid"} & set(one_time)
    [tr] = stored["transactions"]
    assert list(tr) == TRANSACTION_KEYS
    assert tr["uuid"].startswith("tr_")
    assert (tr["amount_in_cents"], tr["date"]) == (None, "2024-01-01T00:05:00.000Z")


def test_rows_match_the_embedded_lists(api: httpx.Client, billing: Billing) -> None:
    """Retrieve, the line item and the transaction endpoints show the imported objects."""
    stored = import_one(api, billing)
    assert api.get(f"/invoices/{stored['uuid']}").json() == stored
    line = stored["line_items"][0]
    assert api.get(f"/line_items/{line['uuid']}").json() == line
    transaction = stored["transactions"][0]
    assert api.get(f"/transactions/{transaction['uuid']}").json() == transaction


def test_reused_external_ids_give_the_documented_messages(
    api: httpx.Client, billing: Billing
) -> None:
    """Invoice, line item and transaction external ids are unique per data source."""
    import_one(api, billing)
    other = make_customer(api, billing.ds, "cus-2")
    again = invoice("inv-1", [subscription_line("inv-1-li", billing.plan)], [payment("inv-1-tr")])
    response = import_invoices(api, other, again)
    assert response.status_code == 422
    assert response.json() == {
        "invoices": [
            {
                "external_id": "inv-1",
                "errors": {
                    "external_id": INVOICE_TAKEN,
                    "line_items.external_id": LINE_ITEM_TAKEN,
                    "transactions.external_id": TRANSACTION_TAKEN,
                },
            }
        ]
    }


def test_external_ids_are_free_in_another_data_source(api: httpx.Client, billing: Billing) -> None:
    """The same external ids import fine into a different data source."""
    import_one(api, billing)
    second = make_billing(api, "Second source")
    assert import_one(api, second)["data_source_uuid"] == second.ds


def test_duplicates_within_one_request(api: httpx.Client, billing: Billing) -> None:
    """Two invoices of one request cannot share an external id."""
    response = import_invoices(
        api,
        billing.customer,
        invoice("dup", [subscription_line("dup-li", billing.plan)]),
        invoice("dup", [subscription_line("dup-li", billing.plan)]),
    )
    assert response.status_code == 422
    assert response.json()["invoices"] == [
        {
            "external_id": "dup",
            "errors": {"external_id": INVOICE_TAKEN, "line_items.external_id": LINE_ITEM_TAKEN},
        }
    ]


def _line(plan: str, **changes: Any) -> dict[str, Any]:
    return {**subscription_line(None, plan), **changes}


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"currency": "Dollars"}, {"currency": "must be a 3-letter ISO 4217 currency code"}),
        ({"date": None}, {"date": "can't be blank"}),
        ({"date": "yesterday"}, {"date": "is not a valid ISO 8601 date/time"}),
        ({"external_id": ""}, {"external_id": "can't be blank"}),
        ({"collection_method": "cash"}, {"collection_method": "is not included in the list"}),
        ({"line_items": {"type": "one_time"}}, {"line_items": "must be an array"}),
        (
            {"line_items": [{"type": "gift", "amount_in_cents": 1}]},
            {"line_items.type": "is not included in the list"},
        ),
        (
            {"line_items": [{"type": "one_time", "amount_in_cents": "10.5"}]},
            {"line_items.amount_in_cents": "must be an integer"},
        ),
        (
            {"line_items": [{"type": "one_time", "amount_in_cents": 10, "quantity": 0}]},
            {"line_items.quantity": "must be greater than 0"},
        ),
        ({"line_items": ["oops"]}, {"line_items": "must be an object"}),
        (
            {
                "transactions": [
                    {"type": "chargeback", "result": "successful", "date": "2024-01-01"}
                ]
            },
            {"transactions.type": "is not included in the list"},
        ),
        (
            {"transactions": [{"type": "payment", "result": "maybe"}]},
            {
                "transactions.result": "is not included in the list",
                "transactions.date": "can't be blank",
            },
        ),
    ],
)
def test_invoice_field_validation(
    api: httpx.Client, billing: Billing, change: dict[str, Any], expected: dict[str, str]
) -> None:
    """Each invalid field is reported on its invoice with a 422."""
    body = {**invoice("bad"), **change}
    response = import_invoices(api, billing.customer, body)
    assert response.status_code == 422
    [entry] = response.json()["invoices"]
    assert entry["errors"] == expected


def test_subscription_line_item_validation(api: httpx.Client, billing: Billing) -> None:
    """Subscription lines need a plan of the same data source and an ordered period."""
    elsewhere = make_plan(api, make_billing(api, "Other").ds, "other-plan")
    body = invoice(
        "bad",
        [
            _line(billing.plan, service_period_end="2023-12-01", proration_type="sometimes"),
            _line(elsewhere, prorated="yes"),
            {"type": "subscription", "amount_in_cents": 1},
        ],
    )
    response = import_invoices(api, billing.customer, body)
    assert response.status_code == 422
    assert response.json()["invoices"][0]["errors"] == {
        "line_items.service_period_end": "must be after service_period_start",
        "line_items.proration_type": "is not included in the list",
        "line_items.plan_uuid": "Plan not found in this data source",
        "line_items.prorated": "must be true or false",
        "line_items.service_period_start": "can't be blank",
        "line_items.subscription_external_id": "can't be blank",
    }


def test_import_is_all_or_nothing(api: httpx.Client, billing: Billing) -> None:
    """One bad invoice fails the request, lists only the failures and stores nothing."""
    good = invoice("good", [subscription_line("good-li", billing.plan)], [payment("good-tr")])
    bad = invoice("bad", [subscription_line(None, billing.plan)], currency="??")
    response = import_invoices(api, billing.customer, good, bad)
    assert response.status_code == 422
    assert response.json() == {
        "invoices": [
            {
                "external_id": "bad",
                "errors": {"currency": "must be a 3-letter ISO 4217 currency code"},
            }
        ]
    }
    assert api.get("/invoices", params={"customer_uuid": billing.customer}).json()["invoices"] == []
    subscriptions = api.get(f"/import/customers/{billing.customer}/subscriptions").json()
    assert subscriptions["subscriptions"] == []
    fixed = import_invoices(api, billing.customer, good, {**bad, "currency": "eur"})
    assert [inv["currency"] for inv in created(fixed)["invoices"]] == ["USD", "EUR"]


def test_unknown_customer_and_missing_invoices(api: httpx.Client, billing: Billing) -> None:
    """An unknown customer is a 404 with error_details; no ``invoices`` key is a 400."""
    response = import_invoices(api, UNKNOWN_CUS, invoice("x"))
    assert response.status_code == 404
    assert response.json() == {
        "error": "Customer not found",
        "error_details": [
            {"param": "customer_uuid", "code": "invalid", "message": "Customer not found"}
        ],
    }
    missing = api.post(f"/import/customers/{billing.customer}/invoices", json={})
    assert missing.status_code == 400
    assert missing.json() == {
        "code": 400,
        "message": 'Parameter "invoices" is missing',
        "param": "invoices",
    }
    listed = api.get(f"/import/customers/{UNKNOWN_CUS}/invoices")
    assert (listed.status_code, listed.json()["error"]) == (404, "Customer not found")


def test_list_filters(api: httpx.Client, billing: Billing) -> None:
    """``GET /invoices`` filters by customer, data source, external id and validation type."""
    first = import_one(api, billing, "inv-1")
    other_customer = make_customer(api, billing.ds, "cus-2")
    second = created(
        import_invoices(
            api, other_customer, invoice("inv-2", [subscription_line(None, billing.plan)])
        )
    )["invoices"][0]
    other = make_billing(api, "Other")
    third = import_one(api, other, "inv-3")

    def uuids(**params: str) -> list[str]:
        response = api.get("/invoices", params=params)
        assert response.status_code == 200, response.text
        return [inv["uuid"] for inv in response.json()["invoices"]]

    # newest first, as the recorded cursors (creation times, descending) show
    assert uuids() == [third["uuid"], second["uuid"], first["uuid"]]
    assert uuids(customer_uuid=other_customer) == [second["uuid"]]
    assert uuids(data_source_uuid=billing.ds) == [second["uuid"], first["uuid"]]
    assert uuids(data_source_uuid=billing.ds, external_id="inv-1") == [first["uuid"]]
    assert uuids(validation_type="all") == uuids()
    assert uuids(validation_type="invalid") == []
    wrong = api.get("/invoices", params={"validation_type": "some"})
    assert (wrong.status_code, wrong.json()["param"]) == (400, "validation_type")


def test_pages_over_two_hundred_invoices(api: httpx.Client, billing: Billing) -> None:
    """250 invoices page 200 + 50 by cursor, with legacy fields on the first page only."""
    bodies = [
        invoice(f"many-{n:03d}", [{"type": "one_time", "amount_in_cents": n}])
        for n in range(MANY_INVOICES)
    ]
    created(import_invoices(api, billing.customer, *bodies))

    first = api.get("/invoices", params={"per_page": 500}).json()
    assert len(first["invoices"]) == PAGE_SIZE
    assert (first["has_more"], first["current_page"], first["total_pages"]) == (True, 1, 2)
    second = api.get("/invoices", params={"cursor": first["cursor"]}).json()
    assert set(second) == {"invoices", "cursor", "has_more"}
    assert (len(second["invoices"]), second["has_more"]) == (MANY_INVOICES - PAGE_SIZE, False)
    seen = [inv["external_id"] for inv in first["invoices"] + second["invoices"]]
    assert seen == [body["external_id"] for body in reversed(bodies)]  # newest first
    assert all(line["balance_transfer"] is None for line in first["invoices"][0]["line_items"])

    legacy = api.get("/invoices", params={"page": 2}).json()
    assert legacy["invoices"] == second["invoices"]
    assert (legacy["current_page"], legacy["total_pages"]) == (2, 2)

    mine = api.get(f"/import/customers/{billing.customer}/invoices").json()
    assert mine["customer_uuid"] == billing.customer
    assert (len(mine["invoices"]), mine["has_more"], mine["total_pages"]) == (PAGE_SIZE, True, 2)
    rest = api.get(
        f"/import/customers/{billing.customer}/invoices", params={"cursor": mine["cursor"]}
    ).json()
    assert (rest["customer_uuid"], len(rest["invoices"]), rest["has_more"]) == (
        billing.customer,
        MANY_INVOICES - PAGE_SIZE,
        False,
    )


def test_delete_removes_lines_and_transactions(api: httpx.Client, billing: Billing) -> None:
    """Deleting an invoice answers 204 and its line items and transactions go too."""
    stored = import_one(api, billing)
    deleted = api.delete(f"/invoices/{stored['uuid']}")
    assert (deleted.status_code, deleted.content) == (204, b"")
    for path, thing in (
        (f"/invoices/{stored['uuid']}", "Invoice"),
        (f"/line_items/{stored['line_items'][0]['uuid']}", "Line item"),
        (f"/transactions/{stored['transactions'][0]['uuid']}", "Transaction"),
    ):
        gone = api.get(path)
        assert (gone.status_code, gone.json()) == (404, {"error": f"{thing} not found"})
    again = api.delete(f"/invoices/{stored['uuid']}")
    assert (again.status_code, again.json()) == (404, {"error": "Invoice not found"})
    # the external ids are free again
    assert import_one(api, billing)["external_id"] == "inv-1"


def test_delete_by_external_id(api: httpx.Client, billing: Billing) -> None:
    """``DELETE /invoices?data_source_uuid=&external_id=`` deletes one invoice."""
    stored = import_one(api, billing)
    params = {"data_source_uuid": billing.ds, "external_id": "inv-1"}
    assert api.delete("/invoices", params=params).status_code == 204
    assert api.get(f"/invoices/{stored['uuid']}").status_code == 404
    assert api.delete("/invoices", params=params).json() == {"error": "Invoice not found"}
    assert api.delete("/invoices", params={"external_id": "inv-1"}).status_code == 400


def test_delete_all_invoices_of_a_customer(api: httpx.Client, billing: Billing) -> None:
    """The delete-all endpoint empties one customer and leaves the others alone."""
    import_one(api, billing, "inv-1")
    import_one(api, billing, "inv-2")
    other = make_customer(api, billing.ds, "cus-2")
    kept = created(import_invoices(api, other, invoice("inv-3")))["invoices"][0]

    path = f"/data_sources/{billing.ds}/customers/{billing.customer}/invoices"
    assert api.delete(path).status_code == 204
    assert api.get(f"/import/customers/{billing.customer}/invoices").json()["invoices"] == []
    assert [inv["uuid"] for inv in api.get("/invoices").json()["invoices"]] == [kept["uuid"]]

    no_source = api.delete(f"/data_sources/{UNKNOWN_DS}/customers/{billing.customer}/invoices")
    assert (no_source.status_code, no_source.json()["error"]) == (404, "Data source not found")
    no_customer = api.delete(f"/data_sources/{billing.ds}/customers/{UNKNOWN_CUS}/invoices")
    assert (no_customer.status_code, no_customer.json()["error"]) == (404, "Customer not found")


def test_line_item_endpoints(api: httpx.Client, billing: Billing) -> None:
    """A line item added to an invoice joins it; retrieve, delete and 404s work by uuid and id."""
    stored = import_one(api, billing)
    path = f"/import/invoices/{stored['uuid']}/line_items"
    added = created(
        api.post(path, json={"type": "one_time", "amount_in_cents": 700, "external_id": "extra"})
    )
    assert (added["uuid"][:3], added["amount_in_cents"], added["quantity"]) == ("li_", 700, 1)
    lines = api.get(f"/invoices/{stored['uuid']}").json()["line_items"]
    assert [line["uuid"] for line in lines] == [stored["line_items"][0]["uuid"], added["uuid"]]

    taken = api.post(path, json={"type": "one_time", "amount_in_cents": 1, "external_id": "extra"})
    assert (taken.status_code, taken.json()) == (422, {"errors": {"external_id": LINE_ITEM_TAKEN}})
    invalid = api.post(path, json={"type": "subscription"})
    assert invalid.status_code == 422
    assert invalid.json()["errors"]["plan_uuid"] == "can't be blank"
    no_invoice = api.post(f"/import/invoices/{UNKNOWN_INV}/line_items", json={"type": "one_time"})
    assert (no_invoice.status_code, no_invoice.json()) == (404, {"error": "Invoice not found"})

    by_id = {"data_source_uuid": billing.ds, "external_id": "extra"}
    assert api.get("/line_items", params=by_id).json() == added
    assert api.delete("/line_items", params=by_id).status_code == 204
    after = api.get(f"/invoices/{stored['uuid']}").json()["line_items"]
    assert [line["uuid"] for line in after] == [stored["line_items"][0]["uuid"]]
    missing = api.delete(f"/line_items/{added['uuid']}")
    assert (missing.status_code, missing.json()) == (404, {"error": "Line item not found"})

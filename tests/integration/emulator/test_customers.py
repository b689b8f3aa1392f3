"""Emulated /v1/customers: create, validation, list filters and pages, search, update, delete."""

from __future__ import annotations

import httpx
import pytest

from mogulsync.emulator.server import EmulatorServer

UNKNOWN_DS = "ds_00000000-0000-0000-0000-000000000000"
UNKNOWN_CUS = "cus_00000000-0000-0000-0000-000000000000"
DUPLICATE = "The external ID for this customer already exists in our system."


@pytest.fixture
def ds(api: httpx.Client) -> str:
    """A fresh data source uuid."""
    return api.post("/data_sources", json={"name": "Billing"}).json()["uuid"]


def make(api: httpx.Client, ds: str, external_id: str, **fields: object) -> dict:
    response = api.post(
        "/customers", json={"data_source_uuid": ds, "external_id": external_id, **fields}
    )
    assert response.status_code == 201, response.text
    return response.json()


def test_create_returns_the_recorded_customer_shape(api: httpx.Client, ds: str) -> None:
    """A created customer has every recorded key, expanded address and kebab-case fields."""
    created = make(
        api,
        ds,
        "cus_001",
        name="Peter Gibbons",
        email="peter@example.com",
        company="Initech",
        country="US",
        state="CA",
        city="San Francisco",
        zip="12345",
        lead_created_at="2015-11-01 00:00:00",
        free_trial_started_at="2015-11-07T01:20:00Z",
        website_url="https://initech.example",
    )
    assert list(created) == [
        "id", "uuid", "external_id", "name", "email", "status", "customer-since",
        "attributes", "data_source_uuid", "data_source_uuids", "external_ids", "company",
        "country", "state", "city", "zip", "lead_created_at", "free_trial_started_at",
        "address", "mrr", "arr", "billing-system-url", "chartmogul-url",
        "billing-system-type", "currency", "currency-sign", "owner", "website_url",
    ]  # fmt: skip
    assert isinstance(created["id"], int)
    assert created["uuid"].startswith("cus_")
    assert created["status"] == "New Lead"
    assert created["customer-since"] is None
    assert created["attributes"] == {"custom": {}, "clearbit": {}, "stripe": {}, "tags": []}
    assert created["external_ids"] == ["cus_001"]
    assert created["data_source_uuids"] == [ds]
    assert created["address"] == {
        "country": "United States",
        "state": "California",
        "city": "San Francisco",
        "address_zip": "12345",
    }
    assert created["lead_created_at"] == "2015-11-01T00:00:00.000Z"
    assert created["free_trial_started_at"] == "2015-11-07T01:20:00.000Z"
    assert (created["mrr"], created["arr"]) == (0, 0)
    assert created["billing-system-type"] == "Custom"
    assert created["chartmogul-url"].endswith(f"/customers/{created['id']}-Initech")
    assert (created["currency"], created["currency-sign"]) == ("USD", "$")
    assert api.get(f"/customers/{created['uuid']}").json() == created


def test_absent_texts_render_as_the_recorded_defaults(api: httpx.Client, ds: str) -> None:
    """Unset name, email and company are empty strings; address parts are null."""
    created = make(api, ds, "bare")
    assert (created["name"], created["email"], created["company"]) == ("", "", "")
    assert created["address"] == {
        "country": None,
        "state": None,
        "city": None,
        "address_zip": None,
    }


@pytest.mark.parametrize(
    ("spelling", "stored"),
    [
        ("2022-11-10 00:00:00", "2022-11-10T00:00:00.000Z"),
        ("2016-01-01 12:00:00 UTC", "2016-01-01T12:00:00.000Z"),
        ("2025-11-01T00:00:00Z", "2025-11-01T00:00:00.000Z"),
        ("2000-01-01 00:00:00 +0200", "1999-12-31T22:00:00.000Z"),
        ("2015-10-14", "2015-10-14T00:00:00.000Z"),
    ],
)
def test_accepts_the_documented_time_spellings(
    api: httpx.Client, ds: str, spelling: str, stored: str
) -> None:
    """Every ISO 8601 spelling ChartMogul accepts is stored in the import-object format."""
    assert make(api, ds, "t", lead_created_at=spelling)["lead_created_at"] == stored


def test_required_fields_and_unknown_data_source(api: httpx.Client, ds: str) -> None:
    """Missing keys are 400 (shape 1), unknown data sources 404 (shape 3), null ids 422."""
    missing_ds = api.post("/customers", json={"external_id": "x"})
    assert (missing_ds.status_code, missing_ds.json()) == (
        400,
        {
            "code": 400,
            "message": 'Parameter "data_source_uuid" is missing',
            "param": "data_source_uuid",
        },
    )
    missing_ext = api.post("/customers", json={"data_source_uuid": ds})
    assert missing_ext.json()["param"] == "external_id"
    unknown = api.post("/customers", json={"data_source_uuid": UNKNOWN_DS, "external_id": "x"})
    assert unknown.status_code == 404
    assert unknown.json()["error"] == "Data source not found"
    assert unknown.json()["error_details"][0]["param"] == "data_source_uuid"
    null_ext = api.post("/customers", json={"data_source_uuid": ds, "external_id": None})
    assert (null_ext.status_code, null_ext.json()) == (
        422,
        {"errors": {"external_id": "An external ID is required."}},
    )


def test_external_id_is_unique_per_data_source(api: httpx.Client, ds: str) -> None:
    """Reusing an external id in a data source is the recorded 422; another source is fine."""
    make(api, ds, "dup")
    again = api.post("/customers", json={"data_source_uuid": ds, "external_id": "dup"})
    assert (again.status_code, again.json()) == (422, {"errors": {"external_id": DUPLICATE}})
    other = api.post("/data_sources", json={"name": "Other"}).json()["uuid"]
    make(api, other, "dup")


def test_invalid_fields_are_reported_together(api: httpx.Client, ds: str) -> None:
    """Every invalid field appears in one 422 errors map."""
    response = api.post(
        "/customers",
        json={
            "data_source_uuid": ds,
            "external_id": "bad",
            "name": "n" * 256,
            "email": "not-an-email",
            "country": "USA",
            "lead_created_at": "yesterday",
            "website_url": "not a url",
            "status": "Shopping",
        },
    )
    assert response.status_code == 422
    assert set(response.json()["errors"]) == {
        "name",
        "email",
        "country",
        "lead_created_at",
        "website_url",
        "status",
    }
    assert "ISO 3166-1 alpha-2" in response.json()["errors"]["country"]
    assert api.get("/customers").json()["entries"] == []


def test_attributes_and_primary_contact_on_create(api: httpx.Client, ds: str) -> None:
    """Tags are de-duplicated, custom values typed, and primary_contact becomes contact 1."""
    created = make(
        api,
        ds,
        "attrs",
        attributes={
            "tags": ["vip", "vip", "beta"],
            "custom": [
                {"type": "Integer", "key": "seats", "value": "12"},
                {"type": "Timestamp", "key": "renewal", "value": "2016-01-31 00:00:00 UTC"},
            ],
        },
        primary_contact={"first_name": "Ann", "email": "ann@example.com"},
    )
    assert created["attributes"]["tags"] == ["vip", "beta"]
    assert created["attributes"]["custom"] == {"seats": 12, "renewal": "2016-01-31T00:00:00.000Z"}
    contacts = api.get(f"/customers/{created['uuid']}/contacts").json()["entries"]
    assert [(c["position"], c["first_name"], c["email"]) for c in contacts] == [
        (1, "Ann", "ann@example.com")
    ]


def test_list_filters(api: httpx.Client, ds: str) -> None:
    """data_source_uuid, external_id, status (underscores or spaces) and system filter."""
    other = api.post("/data_sources", json={"name": "Other"}).json()["uuid"]
    first = make(api, ds, "a")
    make(api, other, "b", status="Working Lead")

    def external_ids(**params: str) -> list[str]:
        response = api.get("/customers", params=params)
        assert response.status_code == 200
        return [entry["external_id"] for entry in response.json()["entries"]]

    assert external_ids(data_source_uuid=ds) == ["a"]
    assert external_ids(external_id="b") == ["b"]
    assert external_ids(external_id="nobody") == []
    assert external_ids(status="New_Lead") == ["a"]
    assert external_ids(status="Working Lead") == ["b"]
    assert external_ids(system="Custom") == ["a", "b"]
    assert external_ids(system="Stripe") == []
    assert api.get(f"/customers/{first['uuid']}").json()["status"] == "New Lead"


def test_list_pages_past_200_with_cursor_and_page(api: httpx.Client, ds: str) -> None:
    """Pages hold 200 rows; the first carries legacy fields; ``page`` is still served."""
    for index in range(203):
        make(api, ds, f"cus_{index:03d}")
    first = api.get("/customers", params={"per_page": 500}).json()
    assert len(first["entries"]) == 200
    assert first["has_more"] is True
    assert (first["per_page"], first["page"], first["current_page"], first["total_pages"]) == (
        200,
        1,
        1,
        2,
    )
    second = api.get("/customers", params={"cursor": first["cursor"]}).json()
    assert [entry["external_id"] for entry in second["entries"]] == [
        "cus_200",
        "cus_201",
        "cus_202",
    ]
    assert second["has_more"] is False
    assert second["cursor"] is not None
    assert "total_pages" not in second
    legacy = api.get("/customers", params={"page": 2, "per_page": 200}).json()
    assert [entry["external_id"] for entry in legacy["entries"]] == [
        "cus_200",
        "cus_201",
        "cus_202",
    ]
    assert (legacy["page"], legacy["current_page"], legacy["has_more"]) == (2, 2, False)


def test_search_by_email(api: httpx.Client, ds: str) -> None:
    """Search matches e-mails case-insensitively; no match is the recorded 404 body."""
    make(api, ds, "s1", email="Jane@Example.com")
    found = api.get("/customers/search", params={"email": "jane@example.com"}).json()
    assert [entry["external_id"] for entry in found["entries"]] == ["s1"]
    assert found["has_more"] is False
    assert found["current_page"] == 1
    missing = api.get("/customers/search", params={"email": "no@email.com"})
    assert (missing.status_code, missing.json()) == (
        404,
        {
            "code": 404,
            "message": 'Can\'t find any customers with email: "no@email.com"',
            "param": "email",
        },
    )


def test_unknown_customer_is_404(api: httpx.Client) -> None:
    """Retrieve, update and delete of an unknown uuid answer ``Customer not found``."""
    for method in ("GET", "PATCH", "DELETE"):
        response = api.request(method, f"/customers/{UNKNOWN_CUS}", json={})
        assert (response.status_code, response.json()) == (404, {"error": "Customer not found"})


def test_update_fields_tags_and_custom(api: httpx.Client, ds: str) -> None:
    """PATCH returns the full customer; tags replace; custom updates existing keys only."""
    created = make(
        api,
        ds,
        "u1",
        attributes={
            "tags": ["old"],
            "custom": [{"type": "Boolean", "key": "Toggle", "value": "t"}],
        },
    )
    path = f"/customers/{created['uuid']}"
    updated = api.patch(
        path,
        json={
            "name": "Test Customer",
            "company": "Curry 42",
            "country": "de",
            "status": "Qualified_Lead",
            "attributes": {"tags": ["wurst"], "custom": {"Toggle": "FALSE"}},
        },
    )
    assert updated.status_code == 200
    body = updated.json()
    assert (body["name"], body["company"], body["country"]) == ("Test Customer", "Curry 42", "DE")
    assert body["address"]["country"] == "Germany"
    assert body["status"] == "Qualified Lead"
    assert body["attributes"]["tags"] == ["wurst"]
    assert body["attributes"]["custom"] == {"Toggle": False}
    assert body["chartmogul-url"].endswith("-Curry_42")
    unknown_key = api.patch(path, json={"attributes": {"custom": {"Nope": 1}}})
    assert unknown_key.status_code == 422
    assert "Nope" in unknown_key.json()["errors"]["attributes.custom.Nope"]
    bad = api.patch(path, json={"email": "broken"})
    assert bad.status_code == 422
    assert api.get(path).json()["email"] == ""


def test_delete_takes_dependent_records(
    api: httpx.Client, ds: str, emulator_server: EmulatorServer
) -> None:
    """Deleting a customer removes its contacts, invoices, lines, transactions, subscriptions."""
    customer = make(api, ds, "gone", primary_contact={"email": "c@example.com"})
    keeper = make(api, ds, "kept", primary_contact={"email": "k@example.com"})
    store = emulator_server.emulator.store
    for owner in (customer["uuid"], keeper["uuid"]):
        invoice = f"inv_{owner}"
        store.insert("invoice", invoice, {"customer_uuid": owner}, parent_uuid=owner)
        store.insert("line_item", f"li_{owner}", {}, parent_uuid=invoice)
        store.insert("transaction", f"tr_{owner}", {}, parent_uuid=invoice)
        store.insert("subscription", f"sub_{owner}", {"customer_uuid": owner}, parent_uuid=owner)
    assert api.delete(f"/customers/{customer['uuid']}").status_code == 204
    assert api.get(f"/customers/{customer['uuid']}").status_code == 404
    for kind in ("contact", "invoice", "line_item", "transaction", "subscription"):
        assert store.count(kind) == 1, kind
    assert store.get("subscription", f"sub_{keeper['uuid']}") is not None


def test_nested_objects_are_validated(api: httpx.Client, ds: str) -> None:
    """Malformed attributes and primary_contact fields are 422s naming the nested field."""
    response = api.post(
        "/customers",
        json={
            "data_source_uuid": ds,
            "external_id": "nested",
            "attributes": "vip",
            "primary_contact": "someone",
        },
    )
    assert response.status_code == 422
    assert set(response.json()["errors"]) == {"attributes", "primary_contact"}
    contact = api.post(
        "/customers",
        json={"data_source_uuid": ds, "external_id": "nested", "primary_contact": {"email": "x"}},
    )
    assert contact.status_code == 422
    assert list(contact.json()["errors"]) == ["primary_contact.email"]
    assert api.get("/customers").json()["entries"] == []


def test_update_primary_contact(api: httpx.Client, ds: str) -> None:
    """PATCH primary_contact creates contact 1 when missing and updates it afterwards."""
    created = make(api, ds, "pc")
    path = f"/customers/{created['uuid']}"
    api.patch(path, json={"primary_contact": {"first_name": "Ann"}})
    api.patch(path, json={"primary_contact": {"title": "CEO"}})
    contacts = api.get(f"{path}/contacts").json()["entries"]
    assert [(c["position"], c["first_name"], c["title"]) for c in contacts] == [(1, "Ann", "CEO")]

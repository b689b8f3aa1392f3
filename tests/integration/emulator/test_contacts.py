"""Emulated /v1/contacts: create, list filters and pages, update, delete and merge."""

from __future__ import annotations

import httpx
import pytest

UNKNOWN_CON = "con_00000000-0000-0000-0000-000000000000"
CONTACT_KEYS = [
    "uuid", "customer_uuid", "customer_external_id", "data_source_uuid", "position",
    "external_id", "first_name", "last_name", "title", "email", "phone", "linked_in",
    "twitter", "notes", "custom",
]  # fmt: skip


@pytest.fixture
def ds(api: httpx.Client) -> str:
    """A fresh data source uuid."""
    return api.post("/data_sources", json={"name": "Billing"}).json()["uuid"]


@pytest.fixture
def customer(api: httpx.Client, ds: str) -> dict:
    """A customer to hang contacts on."""
    return api.post("/customers", json={"data_source_uuid": ds, "external_id": "cus_002"}).json()


def add(api: httpx.Client, customer: dict, **fields: object) -> dict:
    payload = {
        "customer_uuid": customer["uuid"],
        "data_source_uuid": customer["data_source_uuid"],
        **fields,
    }
    response = api.post("/contacts", json=payload)
    assert response.status_code == 201, response.text
    return response.json()


def test_create_returns_the_recorded_shape(api: httpx.Client, customer: dict) -> None:
    """A new contact has every recorded key, null defaults and the next position."""
    first = add(api, customer, email="new_contact@example.com")
    assert list(first) == CONTACT_KEYS
    assert first["uuid"].startswith("con_")
    assert first["customer_external_id"] == "cus_002"
    assert (first["position"], first["first_name"], first["custom"]) == (1, None, {})
    nested = api.post(
        f"/customers/{customer['uuid']}/contacts",
        json={
            "data_source_uuid": customer["data_source_uuid"],
            "first_name": "Foo",
            "external_id": "con_ext",
            "custom": [{"key": "Toggle", "value": True}],
        },
    )
    assert nested.status_code == 201
    assert (nested.json()["position"], nested.json()["custom"]) == (2, {"Toggle": True})
    assert api.get(f"/contacts/{first['uuid']}").json() == first


def test_create_errors(api: httpx.Client, customer: dict, ds: str) -> None:
    """Missing keys 400, unknown customer or data source 404, bad fields 422."""
    missing = api.post("/contacts", json={"customer_uuid": customer["uuid"]})
    assert (missing.status_code, missing.json()["param"]) == (400, "data_source_uuid")
    unknown_customer = api.post(
        "/contacts",
        json={"customer_uuid": "cus_00000000-0000-0000-0000-000000000000", "data_source_uuid": ds},
    )
    assert (unknown_customer.status_code, unknown_customer.json()) == (
        404,
        {"error": "Customer not found"},
    )
    unknown_ds = api.post(
        "/contacts",
        json={
            "customer_uuid": customer["uuid"],
            "data_source_uuid": "ds_00000000-0000-0000-0000-000000000000",
        },
    )
    assert (unknown_ds.status_code, unknown_ds.json()["error"]) == (404, "Data source not found")
    invalid = api.post(
        "/contacts",
        json={
            "customer_uuid": customer["uuid"],
            "data_source_uuid": ds,
            "email": "nope",
            "position": 0,
            "custom": [{"value": 1}],
        },
    )
    assert invalid.status_code == 422
    assert set(invalid.json()["errors"]) == {"email", "position", "custom"}


def test_list_filters_newest_first(api: httpx.Client, ds: str, customer: dict) -> None:
    """Lists filter by customer, data source, email and customer external id, newest first."""
    other = api.post("/customers", json={"data_source_uuid": ds, "external_id": "X1234"}).json()
    a = add(api, customer, email="a@example.com")
    b = add(api, customer, email="b@example.com")
    c = add(api, other, email="a@example.com")

    def uuids(path: str = "/contacts", **params: str) -> list[str]:
        response = api.get(path, params=params)
        assert response.status_code == 200
        return [entry["uuid"] for entry in response.json()["entries"]]

    assert uuids() == [c["uuid"], b["uuid"], a["uuid"]]
    assert uuids(customer_uuid=customer["uuid"]) == [b["uuid"], a["uuid"]]
    assert uuids(email="A@example.com") == [c["uuid"], a["uuid"]]
    assert uuids(customer_external_id="X1234") == [c["uuid"]]
    assert uuids(data_source_uuid=ds) == [c["uuid"], b["uuid"], a["uuid"]]
    assert uuids(f"/customers/{other['uuid']}/contacts") == [c["uuid"]]
    assert api.get("/customers/cus_unknown/contacts").status_code == 404


def test_list_pages_past_200(api: httpx.Client, customer: dict) -> None:
    """Cursor pages of 200 cover every contact once; the last page still has a cursor."""
    created = {add(api, customer)["uuid"] for _ in range(202)}
    seen: list[str] = []
    page = api.get("/contacts").json()
    assert (len(page["entries"]), page["has_more"]) == (200, True)
    seen += [entry["uuid"] for entry in page["entries"]]
    page = api.get("/contacts", params={"cursor": page["cursor"]}).json()
    assert (len(page["entries"]), page["has_more"]) == (2, False)
    assert page["cursor"] is not None
    seen += [entry["uuid"] for entry in page["entries"]]
    assert sorted(seen) == sorted(created)


def test_update_merges_custom_and_delete(api: httpx.Client, customer: dict) -> None:
    """PATCH takes custom as a list and returns a map; DELETE answers 200 {}."""
    contact = add(api, customer, custom=[{"key": "Keep", "value": 1}])
    path = f"/contacts/{contact['uuid']}"
    updated = api.patch(
        path,
        json={
            "position": 9,
            "first_name": "Foo",
            "title": "CTO",
            "custom": [{"key": "Toggle", "value": False}],
            "last_active_at": "2026-09-01T00:00:00Z",
        },
    )
    assert updated.status_code == 200
    body = updated.json()
    assert (body["position"], body["first_name"], body["title"]) == (9, "Foo", "CTO")
    assert body["custom"] == {"Keep": 1, "Toggle": False}
    assert "last_seen" not in body  # stored, but no recording shows it on a contact
    assert api.patch(path, json={"email": "bad"}).status_code == 422
    deleted = api.delete(path)
    assert (deleted.status_code, deleted.json()) == (200, {})
    assert api.get(path).json() == {"error": "Contact not found"}


def test_merge_keeps_into_and_fills_gaps(api: httpx.Client, customer: dict) -> None:
    """Merging keeps the target's values, takes the other's where empty, notes the merge."""
    into = add(api, customer, first_name="Foo", notes="Heading", custom=[{"key": "a", "value": 1}])
    source = add(api, customer, first_name="Bar", phone="+123", custom=[{"key": "b", "value": 2}])
    response = api.post(f"/contacts/{into['uuid']}/merge/{source['uuid']}", json={})
    assert response.status_code == 200
    merged = response.json()
    assert merged["uuid"] == into["uuid"]
    assert merged["customer_uuid"] is None  # as recorded; the contact keeps its customer
    assert api.get(f"/contacts/{into['uuid']}").json()["customer_uuid"] == into["customer_uuid"]
    assert (merged["first_name"], merged["phone"]) == ("Foo", "+123")
    assert merged["custom"] == {"a": 1, "b": 2}
    assert merged["notes"] == "Heading This contact was merged"
    assert api.get(f"/contacts/{source['uuid']}").status_code == 404
    missing = api.post(f"/contacts/{into['uuid']}/merge/{UNKNOWN_CON}", json={})
    assert missing.status_code == 404

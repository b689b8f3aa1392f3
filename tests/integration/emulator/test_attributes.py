"""Emulated customer tags and typed custom attributes, including the account-wide type lock."""

from __future__ import annotations

import httpx
import pytest


@pytest.fixture
def ds(api: httpx.Client) -> str:
    """A fresh data source uuid."""
    return api.post("/data_sources", json={"name": "Billing"}).json()["uuid"]


def make(api: httpx.Client, ds: str, external_id: str, **fields: object) -> str:
    response = api.post(
        "/customers", json={"data_source_uuid": ds, "external_id": external_id, **fields}
    )
    assert response.status_code == 201, response.text
    return response.json()["uuid"]


def test_tags_add_remove_and_retrieve(api: httpx.Client, ds: str) -> None:
    """Adding ignores duplicates, removing answers the rest, GET shows all attribute groups."""
    uuid = make(api, ds, "c", attributes={"tags": ["managed"]})
    added = api.post(f"/customers/{uuid}/attributes/tags", json={"tags": ["important", "managed"]})
    assert (added.status_code, added.json()) == (200, {"tags": ["managed", "important"]})
    removed = api.request(
        "DELETE", f"/customers/{uuid}/attributes/tags", json={"tags": ["managed"]}
    )
    assert (removed.status_code, removed.json()) == (200, {"tags": ["important"]})
    assert api.get(f"/customers/{uuid}/attributes").json() == {
        "tags": ["important"],
        "stripe": {},
        "custom": {},
    }
    assert api.post(f"/customers/{uuid}/attributes/tags", json={}).status_code == 400
    bad = api.post(f"/customers/{uuid}/attributes/tags", json={"tags": "vip"})
    assert bad.status_code == 422


def test_tags_by_email_apply_to_every_match(api: httpx.Client, ds: str) -> None:
    """By-email tagging returns the updated customers as entries."""
    make(api, ds, "a", email="shared@example.com")
    make(api, ds, "b", email="SHARED@example.com")
    make(api, ds, "c", email="other@example.com")
    response = api.post(
        "/customers/attributes/tags",
        json={"email": "shared@example.com", "tags": ["important", "Prio1"]},
    )
    assert response.status_code == 200
    entries = response.json()["entries"]
    assert [(e["external_id"], e["attributes"]["tags"]) for e in entries] == [
        ("a", ["important", "Prio1"]),
        ("b", ["important", "Prio1"]),
    ]
    nobody = api.post("/customers/attributes/tags", json={"email": "x@y.zz", "tags": ["t"]})
    assert (nobody.status_code, nobody.json()["param"]) == (404, "email")


@pytest.mark.parametrize(
    ("type_name", "value", "stored"),
    [
        ("String", "String Value", "String Value"),
        ("Integer", 1234, 1234),
        ("Integer", "-7", -7),
        ("Decimal", "12.5", 12.5),
        ("Timestamp", "2016-01-31 00:00:00 UTC", "2016-01-31T00:00:00.000Z"),
        ("Boolean", "TRUE", True),
        ("Boolean", "true", True),
        ("Boolean", "t", True),
        ("Boolean", "1", True),
        ("Boolean", "FALSE", False),
        ("Boolean", "false", False),
        ("Boolean", "f", False),
        ("Boolean", "0", False),
    ],
)
def test_typed_values_are_normalised(
    api: httpx.Client, ds: str, type_name: str, value: object, stored: object
) -> None:
    """Each type accepts its documented spellings and stores the normalised value."""
    uuid = make(api, ds, "typed")
    response = api.post(
        f"/customers/{uuid}/attributes/custom",
        json={"custom": [{"type": type_name, "key": "field_1", "value": value, "source": "crm"}]},
    )
    assert (response.status_code, response.json()) == (200, {"custom": {"field_1": stored}})


@pytest.mark.parametrize(
    ("type_name", "value"),
    [
        ("String", "x" * 256),
        ("Integer", "12.5"),
        ("Integer", True),
        ("Decimal", "lots"),
        ("Timestamp", "someday"),
        ("Boolean", "yes"),
    ],
)
def test_values_that_do_not_fit_their_type_are_422(
    api: httpx.Client, ds: str, type_name: str, value: object
) -> None:
    """A value the type cannot hold is rejected and nothing is stored."""
    uuid = make(api, ds, "typed")
    response = api.post(
        f"/customers/{uuid}/attributes/custom",
        json={"custom": [{"type": type_name, "key": "field_1", "value": value}]},
    )
    assert response.status_code == 422
    assert list(response.json()["errors"]) == ["custom.field_1"]
    assert api.get(f"/customers/{uuid}/attributes").json()["custom"] == {}


def test_key_and_type_must_be_valid(api: httpx.Client, ds: str) -> None:
    """Keys are letters, digits and underscores; types are the five documented ones."""
    uuid = make(api, ds, "keys")
    bad_key = api.post(
        f"/customers/{uuid}/attributes/custom",
        json={"custom": [{"type": "String", "key": "has space", "value": "v"}]},
    )
    assert bad_key.status_code == 422
    assert "letters, digits and underscores" in bad_key.json()["errors"]["custom[0]"]
    bad_type = api.post(
        f"/customers/{uuid}/attributes/custom",
        json={"custom": [{"type": "Money", "key": "k", "value": 1}]},
    )
    assert bad_type.status_code == 422
    assert "String, Integer, Decimal, Timestamp, Boolean" in bad_type.json()["errors"]["custom.k"]


def test_type_is_locked_account_wide(api: httpx.Client, ds: str) -> None:
    """A key keeps its first type for every customer, even after values are removed."""
    first = make(api, ds, "first")
    second = make(api, ds, "second")
    created = api.post(
        f"/customers/{first}/attributes/custom",
        json={"custom": [{"type": "String", "key": "plan_tier", "value": "gold"}]},
    )
    assert created.status_code == 200
    removed = api.request(
        "DELETE", f"/customers/{first}/attributes/custom", json={"custom": ["plan_tier"]}
    )
    assert removed.status_code == 204
    clash = api.post(
        f"/customers/{second}/attributes/custom",
        json={"custom": [{"type": "Integer", "key": "plan_tier", "value": 3}]},
    )
    assert clash.status_code == 422
    message = clash.json()["errors"]["custom.plan_tier"]
    assert "plan_tier" in message
    assert "String" in message
    same_type = api.post(
        f"/customers/{second}/attributes/custom",
        json={"custom": [{"type": "string", "key": "plan_tier", "value": "3"}]},
    )
    assert same_type.json() == {"custom": {"plan_tier": "3"}}
    on_create = api.post(
        "/customers",
        json={
            "data_source_uuid": ds,
            "external_id": "third",
            "attributes": {"custom": [{"type": "Boolean", "key": "plan_tier", "value": True}]},
        },
    )
    assert on_create.status_code == 422
    assert "attributes.custom.plan_tier" in on_create.json()["errors"]


def test_conflicting_types_in_one_request_are_rejected(api: httpx.Client, ds: str) -> None:
    """Two types for one new key in the same request fail and lock nothing."""
    uuid = make(api, ds, "c")
    response = api.post(
        f"/customers/{uuid}/attributes/custom",
        json={
            "custom": [
                {"type": "Integer", "key": "fresh", "value": 1},
                {"type": "String", "key": "fresh", "value": "one"},
            ]
        },
    )
    assert response.status_code == 422
    later = api.post(
        f"/customers/{uuid}/attributes/custom",
        json={"custom": [{"type": "String", "key": "fresh", "value": "one"}]},
    )
    assert later.status_code == 200


def test_put_updates_existing_keys_only(api: httpx.Client, ds: str) -> None:
    """PUT takes an untyped map, coerces with the locked type and refuses unknown keys."""
    uuid = make(
        api,
        ds,
        "c",
        attributes={"custom": [{"type": "Integer", "key": "seats", "value": 1}]},
    )
    path = f"/customers/{uuid}/attributes/custom"
    updated = api.put(path, json={"custom": {"seats": "5"}})
    assert (updated.status_code, updated.json()) == (200, {"custom": {"seats": 5}})
    wrong = api.put(path, json={"custom": {"seats": "many"}})
    assert wrong.status_code == 422
    unknown = api.put(path, json={"custom": {"brand_new": "x"}})
    assert unknown.status_code == 422
    assert "brand_new" in unknown.json()["errors"]["custom.brand_new"]


def test_custom_by_email(api: httpx.Client, ds: str) -> None:
    """By-email custom attributes are typed and returned on the matching customers."""
    make(api, ds, "a", email="team@example.com")
    response = api.post(
        "/customers/attributes/custom",
        json={
            "email": "team@example.com",
            "custom": [{"type": "Decimal", "key": "CAC", "value": 213}],
        },
    )
    assert response.status_code == 200
    assert [e["attributes"]["custom"] for e in response.json()["entries"]] == [{"CAC": 213.0}]
    missing = api.post("/customers/attributes/custom", json={"email": "team@example.com"})
    assert (missing.status_code, missing.json()["param"]) == (400, "custom")


def test_unknown_customer_is_404(api: httpx.Client) -> None:
    """Attribute endpoints answer an unknown customer with ``Customer not found``."""
    response = api.get("/customers/cus_00000000-0000-0000-0000-000000000000/attributes")
    assert (response.status_code, response.json()) == (404, {"error": "Customer not found"})

"""Emulated customer merges, unmerges and subscription connections."""

from __future__ import annotations

import httpx
import pytest

from mogulsync.emulator.server import EmulatorServer
from mogulsync.emulator.store import Store


@pytest.fixture
def ds(api: httpx.Client) -> str:
    """A fresh data source uuid."""
    return api.post("/data_sources", json={"name": "Billing"}).json()["uuid"]


@pytest.fixture
def store(emulator_server: EmulatorServer) -> Store:
    """The served emulator's store, to seed billing rows other modules own."""
    return emulator_server.emulator.store


def make(api: httpx.Client, ds: str, external_id: str, **fields: object) -> dict:
    response = api.post(
        "/customers", json={"data_source_uuid": ds, "external_id": external_id, **fields}
    )
    assert response.status_code == 201, response.text
    return response.json()


def seed_billing(store: Store, ds: str, customer_uuid: str, tag: str) -> None:
    """An invoice and a subscription of the customer, shaped as the invoice module stores them."""
    body = {"customer_uuid": customer_uuid, "data_source_uuid": ds}
    store.insert("invoice", f"inv_{tag}", body, data_source_uuid=ds, parent_uuid=customer_uuid)
    store.insert(
        "subscription",
        f"sub_{tag}",
        {**body, "uuid": f"sub_{tag}", "external_id": tag},
        data_source_uuid=ds,
        external_id=tag,
        parent_uuid=customer_uuid,
    )


def test_merge_moves_everything_into_the_target(api: httpx.Client, ds: str, store: Store) -> None:
    """A merge answers 202 {} and the target holds the source's ids, contacts and billing."""
    source = make(api, ds, "from", email="f@example.com", attributes={"tags": ["a"]})
    target = make(api, ds, "into", primary_contact={"email": "t@example.com"})
    api.post(
        f"/customers/{source['uuid']}/contacts",
        json={"data_source_uuid": ds, "email": "s@example.com"},
    )
    seed_billing(store, ds, source["uuid"], "src")
    response = api.post(
        "/customers/merges",
        json={
            "from": {"customer_uuid": source["uuid"]},
            "into": {"data_source_uuid": ds, "external_id": "into"},
        },
    )
    assert (response.status_code, response.json()) == (202, {})
    assert api.get(f"/customers/{source['uuid']}").status_code == 404
    merged = api.get(f"/customers/{target['uuid']}").json()
    assert merged["external_ids"] == ["into", "from"]
    assert merged["email"] == "f@example.com"
    assert merged["attributes"]["tags"] == ["a", "merged-customer"]
    contacts = api.get(f"/customers/{target['uuid']}/contacts").json()["entries"]
    assert sorted((c["position"], c["email"]) for c in contacts) == [
        (1, "t@example.com"),
        (2, "s@example.com"),
    ]
    assert store.get("invoice", "inv_src").body["customer_uuid"] == target["uuid"]
    assert [row.uuid for row in store.find("subscription", parent_uuid=target["uuid"])] == [
        "sub_src"
    ]
    by_old_id = api.get("/customers", params={"external_id": "from"}).json()["entries"]
    assert [entry["uuid"] for entry in by_old_id] == [target["uuid"]]
    reuse = api.post("/customers", json={"data_source_uuid": ds, "external_id": "from"})
    assert reuse.status_code == 422
    third = make(api, ds, "third")
    by_merged_id = api.post(
        "/customers/merges",
        json={
            "from": {"data_source_uuid": ds, "external_id": "third"},
            "into": {"data_source_uuid": ds, "external_id": "from"},
        },
    )
    assert by_merged_id.status_code == 202
    assert api.get(f"/customers/{third['uuid']}").status_code == 404
    final = api.get(f"/customers/{target['uuid']}").json()
    assert final["external_ids"] == ["into", "from", "third"]


def test_merge_errors(api: httpx.Client, ds: str) -> None:
    """Unknown customers are 404, missing sides 400, and a self-merge 422."""
    only = make(api, ds, "only")
    unknown = api.post(
        "/customers/merges",
        json={
            "from": {"data_source_uuid": ds, "external_id": "ghost"},
            "into": {"customer_uuid": only["uuid"]},
        },
    )
    assert (unknown.status_code, unknown.json()["error"]) == (404, "Customer not found")
    missing = api.post("/customers/merges", json={"into": {"customer_uuid": only["uuid"]}})
    assert (missing.status_code, missing.json()["param"]) == (400, "from")
    itself = api.post(
        "/customers/merges",
        json={"from": {"customer_uuid": only["uuid"]}, "into": {"customer_uuid": only["uuid"]}},
    )
    assert itself.status_code == 422


def test_unmerge_restores_the_merged_customer(api: httpx.Client, ds: str, store: Store) -> None:
    """Unmerging splits the merged-in customer off again with the billing it brought."""
    source = make(api, ds, "from", name="Source")
    target = make(api, ds, "into", name="Target")
    seed_billing(store, ds, source["uuid"], "src")
    api.post(
        "/customers/merges",
        json={"from": {"customer_uuid": source["uuid"]}, "into": {"customer_uuid": target["uuid"]}},
    )
    payload = {
        "customer_uuid": target["uuid"],
        "data_source_uuid": ds,
        "external_id": "from",
        "move_to_new_customer": [],
    }
    response = api.post("/customers/unmerges", json=payload)
    assert (response.status_code, response.json()) == (202, {})
    restored = api.get("/customers", params={"external_id": "from"}).json()["entries"]
    assert [(entry["name"], entry["external_ids"]) for entry in restored] == [("Source", ["from"])]
    assert api.get(f"/customers/{target['uuid']}").json()["external_ids"] == ["into"]
    assert store.get("invoice", "inv_src").body["customer_uuid"] == restored[0]["uuid"]
    again = api.post("/customers/unmerges", json=payload)
    assert again.status_code == 422


def test_connect_and_disconnect_subscriptions(api: httpx.Client, ds: str, store: Store) -> None:
    """Connected subscriptions share a group; disconnecting one dissolves a pair."""
    customer = make(api, ds, "subs")
    seed_billing(store, ds, customer["uuid"], "one")
    seed_billing(store, ds, customer["uuid"], "two")
    path = f"/customers/{customer['uuid']}"
    connect = api.post(
        f"{path}/connect_subscriptions",
        json={
            "subscriptions": [
                {"data_source_uuid": ds, "uuid": "sub_one"},
                {"data_source_uuid": ds, "external_id": "two"},
            ]
        },
    )
    assert (connect.status_code, connect.json()) == (202, {})
    groups = {
        store.get("subscription", uuid).body.get("connection_group")
        for uuid in ("sub_one", "sub_two")
    }
    assert len(groups) == 1
    assert None not in groups
    disconnect = api.post(
        f"{path}/disconnect_subscriptions",
        json={"subscriptions": [{"data_source_uuid": ds, "uuid": "sub_one"}]},
    )
    assert (disconnect.status_code, disconnect.json()) == (202, {})
    for uuid in ("sub_one", "sub_two"):
        assert "connection_group" not in store.get("subscription", uuid).body


def test_connect_errors(api: httpx.Client, ds: str, store: Store) -> None:
    """Unknown subscriptions 404; others' subscriptions and single ones 422; no list 400."""
    mine = make(api, ds, "mine")
    theirs = make(api, ds, "theirs")
    seed_billing(store, ds, mine["uuid"], "m")
    seed_billing(store, ds, theirs["uuid"], "t")
    path = f"/customers/{mine['uuid']}/connect_subscriptions"
    unknown = api.post(path, json={"subscriptions": [{"data_source_uuid": ds, "uuid": "sub_x"}]})
    assert (unknown.status_code, unknown.json()["error"]) == (404, "Subscription not found")
    foreign = api.post(
        path,
        json={"subscriptions": [{"uuid": "sub_m"}, {"uuid": "sub_t"}]},
    )
    assert foreign.status_code == 422
    single = api.post(path, json={"subscriptions": [{"uuid": "sub_m"}]})
    assert single.status_code == 422
    assert api.post(path, json={}).status_code == 400

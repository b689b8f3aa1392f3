"""List filters served from indexes: system over several data sources, merged customers."""

from __future__ import annotations

import httpx
import pytest

from mogulsync.emulator.server import EmulatorServer


def _source(api: httpx.Client, name: str) -> str:
    return str(api.post("/data_sources", json={"name": name}).json()["uuid"])


def _customer(api: httpx.Client, ds: str, external_id: str) -> str:
    response = api.post("/customers", json={"data_source_uuid": ds, "external_id": external_id})
    assert response.status_code == 201, response.text
    return str(response.json()["uuid"])


def _external_ids(api: httpx.Client, path: str, key: str, **params: str) -> list[str]:
    return sorted(item["external_id"] for item in api.get(path, params=params).json()[key])


@pytest.fixture
def sources(api: httpx.Client) -> tuple[str, str]:
    """Two Custom data sources with customers a1, a2 and b1, and one plan each."""
    first, second = _source(api, "First"), _source(api, "Second")
    for ds, external_id in ((first, "a1"), (first, "a2"), (second, "b1")):
        _customer(api, ds, external_id)
    for ds, external_id in ((first, "pa"), (second, "pb")):
        plan = {"data_source_uuid": ds, "name": external_id, "external_id": external_id}
        api.post("/plans", json={**plan, "interval_count": 1, "interval_unit": "month"})
    return first, second


def test_system_filter_spans_every_source_of_that_system(
    api: httpx.Client, sources: tuple[str, str]
) -> None:
    """system=Custom lists customers and plans of both Custom sources, and narrows with a source."""
    first, second = sources
    assert _external_ids(api, "/customers", "entries", system="custom") == ["a1", "a2", "b1"]
    assert _external_ids(
        api, "/customers", "entries", system="Custom", data_source_uuid=second
    ) == ["b1"]
    assert _external_ids(api, "/customers", "entries", system="Stripe") == []
    assert _external_ids(api, "/plans", "plans", system="Custom") == ["pa", "pb"]
    assert _external_ids(api, "/plans", "plans", system="Custom", data_source_uuid=first) == ["pa"]
    counted = api.get("/customers", params={"system": "Custom", "per_page": 2}).json()
    assert (counted["total_pages"], counted["has_more"]) == (2, True)


def test_filters_after_a_merge_see_merged_ids(api: httpx.Client, sources: tuple[str, str]) -> None:
    """After b1 merges into a1, a1 is found by b1's id and source, with system still applied."""
    first, second = sources
    into = api.get("/customers", params={"external_id": "a1"}).json()["entries"][0]["uuid"]
    merged_away = api.get("/customers", params={"external_id": "b1"}).json()["entries"][0]
    api.post(
        f"/customers/{merged_away['uuid']}/contacts",
        json={"data_source_uuid": second, "email": "b1@example.com"},
    )
    response = api.post(
        "/customers/merges",
        json={"from": {"customer_uuid": merged_away["uuid"]}, "into": {"customer_uuid": into}},
    )
    assert response.status_code == httpx.codes.ACCEPTED

    def uuids(**params: str) -> list[str]:
        return [c["uuid"] for c in api.get("/customers", params=params).json()["entries"]]

    assert uuids(external_id="b1") == [into]
    assert uuids(external_id="b1", data_source_uuid=second, system="Custom") == [into]
    assert into in uuids(data_source_uuid=second)
    assert uuids(external_id="b1", system="Stripe") == []
    assert len(uuids(data_source_uuid=first)) == 2
    contacts = api.get("/contacts", params={"customer_external_id": "b1"}).json()["entries"]
    assert [contact["email"] for contact in contacts] == ["b1@example.com"]


def test_external_id_lookups_use_an_index_in_id_order(emulator_server: EmulatorServer) -> None:
    """A filter on external id alone is answered from an index already in seq order."""
    store = emulator_server.emulator.store
    plan = store._db.execute(
        "EXPLAIN QUERY PLAN SELECT seq FROM objects WHERE kind = ? AND external_id = ?"
        " ORDER BY seq LIMIT 201",
        ("invoice", "x"),
    ).fetchall()
    detail = " ".join(str(step[-1]) for step in plan)
    assert "external_id=?" in detail
    assert "TEMP B-TREE" not in detail


def test_in_filter_matches_any_value_and_empty_set_matches_nothing(
    emulator_server: EmulatorServer,
) -> None:
    """Store filters accept a set of values; an empty set finds no row."""
    store = emulator_server.emulator.store
    for index in range(3):
        store.insert("plan", f"pl_{index}", {}, data_source_uuid=f"ds_{index}")
    found = store.find("plan", data_source_uuid=frozenset({"ds_0", "ds_2"}))
    assert [row.uuid for row in found] == ["pl_0", "pl_2"]
    assert store.count("plan", data_source_uuid=frozenset()) == 0

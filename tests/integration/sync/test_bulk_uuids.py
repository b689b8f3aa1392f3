"""After a bulk load the imported records' uuids are learnt, so later writes need no lookup."""

from __future__ import annotations

import duckdb
import pytest
from tests.integration.sync._bulk_support import (
    billing_project,
    billing_warehouse,
    bulk_engine,
    endpoint_calls,
)
from tests.integration.sync._support import all_pages, api

from mogulsync.emulator.server import EmulatorServer
from mogulsync.sync.state import StateStore

pytestmark = pytest.mark.anyio
CUSTOMERS = 150
INVOICES_PER_CUSTOMER = 1


def _resetendpoint_calls(server: EmulatorServer) -> None:
    with api(server) as client:
        client.delete(f"{server.base_url}/_emulator/stats").raise_for_status()


def _rename(tmp_path, account: str) -> None:
    db = duckdb.connect(str(tmp_path / "w.duckdb"))
    db.execute(f"update accounts set company = 'Renamed' where id = '{account}'")
    db.close()


def _snapshot_uuids(config, sync: str) -> dict[str, str | None]:
    state = StateStore(config.state_dir)
    try:
        return dict(state._db.execute("SELECT pk, uuid FROM snapshot WHERE sync = ?", (sync,)))
    finally:
        state.close()


async def test_changed_customer_after_bulk_load_costs_one_update_and_no_lookup(server, tmp_path):
    """The listing after the import records every uuid: an update is a single PATCH."""
    url = billing_warehouse(tmp_path, CUSTOMERS, INVOICES_PER_CUSTOMER)
    config = billing_project(server, tmp_path, url)
    first = await bulk_engine(config).run("customers")
    assert (first.status.value, first.rows.succeeded) == ("success", CUSTOMERS)
    calls = endpoint_calls(server)
    assert calls.get("POST /v1/customers", 0) == 0, calls  # imported, not sent row by row
    assert calls["GET /v1/customers"] == 2, calls  # existence check + the uuid listing
    with api(server) as client:
        listed = {c["external_id"]: c["uuid"] for c in all_pages(client, "/customers", "entries")}
    assert _snapshot_uuids(config, "customers") == listed

    _rename(tmp_path, "acct-3")
    _resetendpoint_calls(server)
    changed = await bulk_engine(config).run("customers")
    assert (changed.status.value, changed.rows.changed) == ("success", 1)
    calls = endpoint_calls(server)
    assert calls == {"GET /v1/data_sources": 1, "PATCH /v1/customers/{id}": 1}, calls
    with api(server) as client:
        found = client.get("/customers", params={"external_id": "acct-3"}).json()["entries"]
    assert [c["company"] for c in found] == ["Renamed"]


async def test_imported_invoices_and_plans_learn_their_uuids_for_the_resolver(server, tmp_path):
    """Plans and invoices imported in bulk are in the snapshot and the registry with uuids."""
    url = billing_warehouse(tmp_path, CUSTOMERS, INVOICES_PER_CUSTOMER)
    config = billing_project(server, tmp_path, url)
    engine = bulk_engine(config)
    records = [await engine.run(name) for name in ("plans", "customers", "invoices")]
    assert [r.status.value for r in records] == ["success"] * 3
    with api(server) as client:
        invoices = {i["external_id"]: i["uuid"] for i in all_pages(client, "/invoices", "invoices")}
        plans = {p["external_id"]: p["uuid"] for p in all_pages(client, "/plans", "plans")}
    assert set(_snapshot_uuids(config, "invoices").values()) == set(invoices.values())
    assert set(_snapshot_uuids(config, "plans").values()) == set(plans.values())
    state = StateStore(config.state_dir)
    try:
        [source] = {row[0] for row in state._db.execute("SELECT data_source_uuid FROM registry")}
        assert state.known_uuid("invoice", source, "inv-7-0") == invoices["inv-7-0"]
        assert state.known_uuid("plan", source, "plan-7") == plans["plan-7"]
    finally:
        state.close()


async def test_uuids_stay_unknown_when_the_listing_would_cost_too_much(server, tmp_path):
    """Below one page per ``listing_ratio`` imported rows nothing is listed: uuids stay NULL."""
    url = billing_warehouse(tmp_path, CUSTOMERS, INVOICES_PER_CUSTOMER)
    config = billing_project(server, tmp_path, url)
    first = await bulk_engine(config, listing_ratio=CUSTOMERS + 1).run("customers")
    assert (first.status.value, first.rows.succeeded) == ("success", CUSTOMERS)
    assert endpoint_calls(server)["GET /v1/customers"] == 1  # the existence check only
    assert set(_snapshot_uuids(config, "customers").values()) == {None}

    _rename(tmp_path, "acct-3")
    _resetendpoint_calls(server)
    changed = await bulk_engine(config, listing_ratio=CUSTOMERS + 1).run("customers")
    assert changed.rows.changed == 1
    calls = endpoint_calls(server)
    assert (calls["GET /v1/customers"], calls["PATCH /v1/customers/{id}"]) == (1, 1), calls

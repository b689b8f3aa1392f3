"""A row in flight that leaves the model: its record, if a killed run created it, is deleted."""

from __future__ import annotations

import duckdb
import httpx
import pytest
from tests.integration.sync._support import all_pages, api, engine, make_warehouse, project

from mogulsync.sync.diff import RowStatus
from mogulsync.sync.state import StateStore

pytestmark = pytest.mark.anyio
#: every customer create and lookup answers 502 (processed nothing, outcome unknown to us)
FAIL_CUSTOMERS = {"error_rate": 1.0, "error_statuses": [502], "path_pattern": "^/v1/customers$"}


def _config(emulator_server, tmp_path, on_delete: str):
    url = make_warehouse(
        tmp_path / "w.duckdb",
        [
            "create table accounts(id varchar, company varchar)",
            "insert into accounts values ('acct-0', 'Zero'), ('acct-1', 'One')",
        ],
    )
    sync = {"model": "accounts", "object": "customer", "data_source": "W",
            "mapping": {"external_id": "id", "company": "company"}, "custom_attributes": "none",
            "on_delete": on_delete}  # fmt: skip
    models = {"accounts": {"table": "accounts", "primary_key": "id"}}
    return project(emulator_server, tmp_path, url, models, {"customers": sync})


def _model(tmp_path, statement: str) -> None:
    db = duckdb.connect(str(tmp_path / "w.duckdb"))
    db.execute(statement)
    db.close()


def _faults(admin: httpx.Client, faults: dict[str, object] | None) -> None:
    if faults is None:
        admin.delete("/faults").raise_for_status()
    else:
        admin.put("/faults", json=faults).raise_for_status()


async def _leave_in_flight(emulator_server, admin: httpx.Client, tmp_path, config) -> None:
    """acct-5 and acct-6 are sent by a run whose outcome for them is unknown."""
    _model(tmp_path, "insert into accounts values ('acct-5', 'Five'), ('acct-6', 'Six')")
    _faults(admin, FAIL_CUSTOMERS)
    try:
        record = await engine(config).run("customers")
    finally:
        _faults(admin, None)
    assert record.rows.failed == 2
    state = StateStore(config.state_dir)
    try:
        priors = state.priors("customers", ["acct-5", "acct-6"])
    finally:
        state.close()
    assert {(p.status, p.digest, p.uuid, p.ref) for p in priors.values()} == {
        (RowStatus.INFLIGHT, None, None, "acct-5"),
        (RowStatus.INFLIGHT, None, None, "acct-6"),
    }


def _create_customer(emulator_server, external_id: str) -> None:
    """A customer in the sync's data source, created outside the sync."""
    with api(emulator_server) as client:
        known = client.get("/customers", params={"external_id": "acct-0"}).json()["entries"][0]
        body = {"data_source_uuid": known["data_source_uuid"], "external_id": external_id}
        client.post("/customers", json=body).raise_for_status()


def _customers(emulator_server) -> dict[str, str]:
    with api(emulator_server) as client:
        return {c["external_id"]: c["uuid"] for c in all_pages(client, "/customers", "entries")}


async def test_in_flight_row_that_landed_is_deleted_when_it_leaves_the_model(
    emulator_server, admin, tmp_path
):
    """on_delete: delete finds the record by external id and deletes it; a missing one is
    simply forgotten."""
    config = _config(emulator_server, tmp_path, "delete")
    assert (await engine(config).run("customers")).status.value == "success"
    await _leave_in_flight(emulator_server, admin, tmp_path, config)
    _create_customer(emulator_server, "acct-5")  # that run's create of acct-5 had landed
    _model(tmp_path, "delete from accounts where id in ('acct-5', 'acct-6')")

    record = await engine(config).run("customers")
    assert (record.status.value, record.rows.removed, record.rows.failed) == ("success", 2, 0)
    assert sorted(_customers(emulator_server)) == ["acct-0", "acct-1"]
    state = StateStore(config.state_dir)
    try:
        assert state.counts("customers") == {"synced": 2}
    finally:
        state.close()


async def test_in_flight_rows_are_only_forgotten_without_on_delete(
    emulator_server, admin, tmp_path
):
    """on_delete: ignore never deletes: the in-flight rows leave the snapshot, records stay."""
    config = _config(emulator_server, tmp_path, "ignore")
    await engine(config).run("customers")
    await _leave_in_flight(emulator_server, admin, tmp_path, config)
    _create_customer(emulator_server, "acct-5")
    _model(tmp_path, "delete from accounts where id in ('acct-5', 'acct-6')")

    record = await engine(config).run("customers")
    assert (record.status.value, record.rows.removed) == ("success", 0)
    assert sorted(_customers(emulator_server)) == ["acct-0", "acct-1", "acct-5"]

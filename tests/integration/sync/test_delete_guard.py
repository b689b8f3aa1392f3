"""The mass-delete safeguard (``max_deletes``) against the emulator over real HTTP.

A model that is emptied (or returns few rows) must not delete the sync's records in
ChartMogul: the run fails with a message, nothing is deleted, the rows stay in the snapshot.
"""

from __future__ import annotations

from typing import Any

import duckdb
import httpx
import pytest
from tests.integration.sync._support import all_pages, api, engine, make_warehouse, project

from mogulsync.config import AppConfig
from mogulsync.emulator.server import EmulatorServer
from mogulsync.runs import RunStore
from mogulsync.sync.delete_guard import TooManyDeletesError
from mogulsync.sync.plan import plan_sync
from mogulsync.sync.state import StateStore

pytestmark = pytest.mark.anyio

ROWS = 12


def _config(server: EmulatorServer, tmp_path, rows: int = ROWS, **sync: Any) -> AppConfig:
    url = make_warehouse(
        tmp_path / "w.duckdb",
        [
            (
                "create table accounts as select 'a' || i as id, 'Company ' || i as company"
                f" from range(1, {rows + 1}) t(i)"
            )
        ],
    )
    base = {"model": "accounts", "object": "customer", "data_source": "W",
            "mapping": {"external_id": "id", "name": "company"}, "custom_attributes": "none",
            "on_delete": "delete", "bulk": "off"}  # fmt: skip
    models = {"accounts": {"table": "accounts", "primary_key": "id"}}
    return project(server, tmp_path, url, models, {"customers": {**base, **sync}})


def _sql(tmp_path, statement: str) -> None:
    db = duckdb.connect(str(tmp_path / "w.duckdb"))
    db.execute(statement)
    db.close()


def _customers(server: EmulatorServer) -> set[str]:
    with api(server) as client:
        return {c["external_id"] for c in all_pages(client, "/customers", "entries")}


def _snapshot_keys(config: AppConfig) -> set[str]:
    state = StateStore(config.state_dir)
    try:
        return set(state.priors("customers", [f"a{i}" for i in range(1, 200)]))
    finally:
        state.close()


def _writes(server: EmulatorServer) -> int:
    stats = httpx.get(f"{server.base_url}/_emulator/stats", timeout=30).json()
    return int(stats["writes_succeeded"])


def _deletes_sent(config: AppConfig, run_id: str) -> int:
    store = RunStore(config.state_dir)
    try:
        return sum(entry.method == "DELETE" for entry in store.requests(run_id))
    finally:
        store.close()


async def test_emptied_model_deletes_nothing_and_fails_until_allowed(emulator_server, tmp_path):
    """Default limit: an emptied model is refused (failed, message, nothing deleted, snapshot
    kept, refused again next run); allow_deletes then deletes them all."""
    config = _config(emulator_server, tmp_path)
    first = await engine(config).run("customers")
    assert (first.status.value, first.rows.succeeded) == ("success", ROWS)
    _sql(tmp_path, "delete from accounts")

    refused = await engine(config).run("customers")
    assert refused.status.value == "failed"
    assert isinstance(refused.error, TooManyDeletesError)
    assert (refused.rows.removed, refused.rows.succeeded, refused.rows.failed) == (0, 0, 0)
    message = refused.message or ""
    assert "sync `customers` would delete 12 of its 12 records" in message
    # the default says what it means
    assert "the default max_deletes (refused: more than 10 and more than 50%) allows 10" in message
    assert "nothing was deleted" in message
    assert "Check the model `accounts`" in message
    assert "mogulsync sync run customers --allow-deletes" in message
    assert "raise `max_deletes`" in message
    assert emulator_server.api_key not in message
    assert _deletes_sent(config, refused.run_id) == 0
    assert len(_customers(emulator_server)) == ROWS  # read back from ChartMogul
    assert len(_snapshot_keys(config)) == ROWS  # the rows that left are still known

    again = await engine(config).run("customers")  # nothing was lost: refused again
    assert (again.status.value, again.error.deletes) == ("failed", ROWS)  # type: ignore[union-attr]

    allowed = await engine(config).run("customers", allow_deletes=True)
    assert (allowed.status.value, allowed.rows.removed, allowed.rows.succeeded) == (
        "success",
        ROWS,
        ROWS,
    )
    assert _deletes_sent(config, allowed.run_id) == ROWS
    assert _customers(emulator_server) == set()
    assert _snapshot_keys(config) == set()


async def test_default_limit_lets_ordinary_churn_through(emulator_server, tmp_path):
    """Half of the records, or 10 or fewer, are deleted as before; 11 of 12 are not."""
    config = _config(emulator_server, tmp_path)
    await engine(config).run("customers")
    _sql(tmp_path, "delete from accounts where id in ('a1','a2','a3','a4','a5','a6')")
    half = await engine(config).run("customers")  # 6 of 12: not more than half
    assert (half.status.value, half.rows.removed) == ("success", 6)
    assert len(_customers(emulator_server)) == ROWS - 6

    (tmp_path / "small").mkdir()
    small = _config(emulator_server, tmp_path / "small", rows=4, data_source="Small")
    await engine(small).run("customers")
    _sql(tmp_path / "small", "delete from accounts where id <> 'a1'")
    churn = await engine(small).run("customers")  # 3 of 4 (75 %) but only 3 records
    assert (churn.status.value, churn.rows.removed) == ("success", 3)


async def test_percent_limit(emulator_server, tmp_path):
    """ "20%" of 10 records: 2 deletes go, 3 are refused (and none of the 3 is deleted)."""
    config = _config(emulator_server, tmp_path, rows=10, max_deletes="20%")
    await engine(config).run("customers")
    _sql(tmp_path, "delete from accounts where id in ('a1','a2')")
    within = await engine(config).run("customers")
    assert (within.status.value, within.rows.removed) == ("success", 2)
    _sql(tmp_path, "delete from accounts where id in ('a3','a4','a5')")
    over = await engine(config).run("customers")  # 3 of the 8 now managed > 1.6
    assert over.status.value == "failed"
    assert "would delete 3 of its 8 records" in (over.message or "")
    assert 'max_deletes "20%" allows 1:' in (over.message or "")
    assert {"a3", "a4", "a5"} <= _customers(emulator_server)


async def test_absolute_limit_and_creates_still_go(emulator_server, tmp_path):
    """max_deletes: 2 refuses 3 deletes; the same run's creates and updates are sent."""
    config = _config(emulator_server, tmp_path, rows=5, max_deletes=2)
    await engine(config).run("customers")
    _sql(tmp_path, "delete from accounts where id in ('a1','a2','a3')")
    _sql(tmp_path, "update accounts set company = 'Renamed' where id = 'a4'")
    _sql(tmp_path, "insert into accounts values ('a50', 'Newcomer')")
    refused = await engine(config).run("customers")
    assert refused.status.value == "failed"
    assert (refused.rows.added, refused.rows.changed, refused.rows.succeeded) == (1, 1, 2)
    assert "would delete 3 of its 5 records" in (refused.message or "")
    assert "max_deletes 2 allows 2:" in (refused.message or "")
    with api(emulator_server) as client:
        found = {c["external_id"]: c for c in all_pages(client, "/customers", "entries")}
    assert set(found) == {"a1", "a2", "a3", "a4", "a5", "a50"}
    assert found["a4"]["name"] == "Renamed"
    # the created row is in the snapshot now: 6 managed, 3 deletes still more than 2
    again = await engine(config).run("customers")
    assert "would delete 3 of its 6 records" in (again.message or "")
    assert (again.rows.added, again.rows.changed, again.rows.unchanged) == (0, 0, 3)


async def test_null_turns_the_limit_off(emulator_server, tmp_path):
    """max_deletes: null deletes everything that left, as before the safeguard."""
    config = _config(emulator_server, tmp_path, max_deletes=None)
    await engine(config).run("customers")
    _sql(tmp_path, "delete from accounts")
    record = await engine(config).run("customers")
    assert (record.status.value, record.rows.removed) == ("success", ROWS)
    assert _customers(emulator_server) == set()


async def test_plan_says_the_run_would_be_refused_and_writes_nothing(emulator_server, tmp_path):
    """sync plan counts the deletes, names the limit and the refusal; no write anywhere."""
    config = _config(emulator_server, tmp_path)
    await engine(config).run("customers")
    _sql(tmp_path, "delete from accounts where id <> 'a1'")
    before = _writes(emulator_server)
    plan = await plan_sync(config, "customers", engine(config).settings)
    assert plan.counts["deletes"] == ROWS - 1
    assert (plan.max_deletes, plan.managed) == ("50%", ROWS)
    assert plan.deletes_refused is not None
    assert plan.deletes_refused.startswith("it would delete 11 of its 12 records in ChartMogul;")
    assert "so the run would delete none and fail" in plan.deletes_refused
    assert plan.as_dict()["deletes_refused"] == plan.deletes_refused
    assert _writes(emulator_server) == before
    assert len(_snapshot_keys(config)) == ROWS

    _sql(tmp_path, "insert into accounts select 'a' || i, 'Back' from range(2, 8) t(i)")
    fine = await plan_sync(config, "customers", engine(config).settings)
    assert (fine.counts["deletes"], fine.deletes_refused) == (5, None)


async def test_unsure_removals_count_against_the_limit(emulator_server, tmp_path):
    """Rows left in flight (a killed run may have created them) count as deletes too."""
    config = _config(emulator_server, tmp_path, rows=2, max_deletes=2)
    await engine(config).run("customers")
    state = StateStore(config.state_dir)
    try:  # as after a kill -9: marked in flight, outcome unknown
        state.mark_inflight("customers", [("a7", "d7", "a7"), ("a8", "d8", "a8")])
    finally:
        state.close()
    _sql(tmp_path, "delete from accounts where id = 'a1'")
    plan = await plan_sync(config, "customers", engine(config).settings)
    assert plan.counts["deletes"] == 3
    assert plan.deletes_refused is not None
    record = await engine(config).run("customers")
    assert "would delete 3 of its 4 records" in (record.message or "")
    assert _snapshot_keys(config) == {"a1", "a2", "a7", "a8"}
    assert _customers(emulator_server) == {"a1", "a2"}


async def test_bulk_creates_go_while_deletes_are_refused(server, tmp_path):
    """A model replaced by new rows: the bulk import creates them; the old are not deleted."""
    config = _config(server, tmp_path, bulk="auto")
    await engine(config).run("customers")
    _sql(tmp_path, "delete from accounts")
    _sql(tmp_path, "insert into accounts select 'b' || i, 'New ' || i from range(1, 61) t(i)")
    record = await engine(config).run("customers")
    assert record.status.value == "failed"
    assert (record.rows.added, record.rows.succeeded) == (60, 60)
    assert "would delete 12 of its 12 records" in (record.message or "")
    customers = _customers(server)
    assert len(customers) == ROWS + 60
    store = RunStore(config.state_dir)
    try:
        paths = {entry.path for entry in store.requests(record.run_id)}
    finally:
        store.close()
    assert any(path.endswith("/json_imports") for path in paths)


async def test_refused_run_keeps_the_new_definition(emulator_server, tmp_path):
    """A mapping change resends every row once; a refusal does not make the next run resend
    them all again (the rows were sent, only the deletes were refused)."""
    config = _config(emulator_server, tmp_path)
    await engine(config).run("customers")
    _sql(tmp_path, "delete from accounts where id <> 'a1'")
    changed_sync = config.syncs["customers"].model_copy(update={"mapping": {"external_id": "id"}})
    changed = config.model_copy(update={"syncs": {"customers": changed_sync}})
    refused = await engine(changed).run("customers")
    assert (refused.status.value, refused.rows.changed) == ("failed", 1)
    again = await engine(changed).run("customers")
    assert (again.rows.changed, again.rows.unchanged) == (0, 1)


async def test_the_snapshot_is_counted_only_when_deletes_could_be_refused(
    emulator_server, tmp_path, monkeypatch
):
    """No removals, or no more than the default's 10: the run makes no count of its
    snapshot (a re-run pays nothing for the guard); 11 removals are judged on a count."""
    calls: list[str] = []
    original = StateStore.counts

    def counting(self: StateStore, sync: str) -> dict[str, int]:
        calls.append(sync)
        return original(self, sync)

    monkeypatch.setattr(StateStore, "counts", counting)
    config = _config(emulator_server, tmp_path, rows=30)
    await engine(config).run("customers")
    await engine(config).run("customers")  # nothing changed
    _sql(tmp_path, "delete from accounts where id in ('a1','a2','a3')")
    assert (await engine(config).run("customers")).rows.removed == 3
    assert calls == []
    _sql(tmp_path, "delete from accounts where cast(substr(id, 2) as integer) between 4 and 14")
    judged = await engine(config).run("customers")  # 11 of 27: within half, counted
    assert (judged.status.value, judged.rows.removed, calls) == ("success", 11, ["customers"])


@pytest.mark.parametrize("state", ["embedded", "warehouse"])
async def test_rows_chartmogul_never_accepted_are_not_records_it_manages(
    emulator_server, tmp_path, state
):
    """Rows that failed and never landed are no records in ChartMogul: counted among the
    managed ones, 30 failing rows made 12 deletes of an emptied model look like 12 of 42
    (under half, so all 12 real customers were deleted)."""
    config = _config(emulator_server, tmp_path, state=state)
    await engine(config).run("customers")
    # 30 rows ChartMogul refuses at every run: `update` finds no such customer to update
    _sql(tmp_path, "insert into accounts select 'z' || i, 'Ghost' from range(1, 31) t(i)")
    update_sync = config.syncs["customers"].model_copy(update={"mode": "update"})
    update = config.model_copy(update={"syncs": {"customers": update_sync}})
    failing = await engine(update).run("customers")
    assert (failing.rows.succeeded, failing.rows.failed) == (ROWS, 30)
    _sql(tmp_path, "delete from accounts")

    plan = await plan_sync(update, "customers", engine(update).settings)
    assert (plan.counts["deletes"], plan.managed) == (ROWS, ROWS)
    assert plan.deletes_refused is not None
    refused = await engine(update).run("customers")
    assert refused.status.value == "failed"
    assert f"would delete {ROWS} of its {ROWS} records" in (refused.message or "")
    assert len(_customers(emulator_server)) == ROWS

"""A row that leaves the model while another row takes its match key (a re-keyed model, a
row deleted and inserted again under a new surrogate id, a dedup keeping the other row).

With ``on_delete: delete`` the removed row's record is the one the new row now names:
deleting it would lose a record the model holds, and the snapshot would believe the new row
synced. The run keeps the record, forgets the removed row and says so; ``sync plan`` agrees,
and the mass-delete safeguard does not count it. Real HTTP to the emulator, real DuckDB,
the suite's PostgreSQL for the ``state_store`` and ``state: warehouse`` paths.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import duckdb
import pytest
from tests.integration.sync._support import all_pages, api, engine, make_warehouse, project

from mogulsync.config import AppConfig
from mogulsync.emulator.server import EmulatorServer
from mogulsync.runs import RunRecord, RunStore
from mogulsync.sync.bulk import BulkSettings
from mogulsync.sync.plan import plan_sync

pytestmark = pytest.mark.anyio

_ACCOUNTS = [
    "create table accounts(pk varchar, ext varchar, company varchar, mail varchar)",
    "insert into accounts values ('1', 'A', 'Alpha', 'a@x.io'), ('2', 'B', 'Beta', 'b@x.io')",
]


def _customers_sync(**sync: Any) -> dict[str, Any]:
    return {"model": "accounts", "object": "customer", "data_source": "W",
            "mapping": {"external_id": "ext", "name": "company", "email": "mail"},
            "custom_attributes": "none", "on_delete": "delete", "bulk": "off",
            **sync}  # fmt: skip


def _config(server: EmulatorServer, tmp_path, sync: dict[str, Any]) -> AppConfig:
    url = make_warehouse(tmp_path / "w.duckdb", _ACCOUNTS)
    models = {"accounts": {"table": "accounts", "primary_key": "pk"}}
    return project(server, tmp_path, url, models, {"customers": sync})


def _sql(tmp_path, *statements: str) -> None:
    db = duckdb.connect(str(tmp_path / "w.duckdb"))
    for statement in statements:
        db.execute(statement)
    db.close()


def _customers(server: EmulatorServer) -> dict[str, dict[str, Any]]:
    with api(server) as client:
        return {c["external_id"]: c for c in all_pages(client, "/customers", "entries")}


def _deletes_sent(config: AppConfig, run_id: str) -> int:
    store = RunStore(config.state_dir)
    try:
        return sum(entry.method == "DELETE" for entry in store.requests(run_id))
    finally:
        store.close()


_REKEY = ("delete from accounts where pk = '1'", "insert into accounts values ('3', 'A', 'Alpha 3', 'a@x.io')")  # fmt: skip

Records = Callable[[EmulatorServer], dict[str, str]]


def _customer_uuids(server: EmulatorServer) -> dict[str, str]:
    return {ext: customer["uuid"] for ext, customer in _customers(server).items()}


async def _rekeyed_run_keeps_a(
    config: AppConfig,
    server: EmulatorServer,
    tmp_path,
    *,
    sync: str = "customers",
    records: Records = _customer_uuids,
    rekey: tuple[str, ...] = _REKEY,
    record: str = "external_id A",
    insert: bool = False,
    **kw: Any,
) -> RunRecord:
    """Row 1 (A) leaves, row 3 (A) arrives: record A stays, and stays on later runs."""
    first = await engine(config, **kw).run(sync)
    assert (first.status.value, first.rows.succeeded) == ("success", 2), first.message
    before = records(server)
    _sql(tmp_path, *rekey)

    plan = await plan_sync(config, sync, engine(config).settings)
    assert plan.counts["deletes"] == 0
    assert (plan.kept, plan.kept_samples) == (1, [{"key": "1", "record": record, "now": "3"}])

    run = await engine(config, **kw).run(sync)
    assert run.rows.removed == 1
    assert f"{record} is now row 3" in (run.message or "")
    assert _deletes_sent(config, run.run_id) == 0
    assert records(server) == before  # nothing deleted, nothing created twice
    if insert:
        # insert mode refuses row 3 as "already exists" this once; it takes the record
        # over on the next run (looked up, never updated)
        assert (run.status.value, run.rows.failed) == ("partial", 1), run.message
        settled = await engine(config, **kw).run(sync)
        assert (settled.status.value, settled.rows.succeeded) == ("success", 1), settled.message
    else:
        assert run.status.value == "success", run.message

    later = await engine(config, **kw).run(sync)  # the snapshot agrees with ChartMogul
    assert (later.status.value, later.rows.removed, later.rows.unchanged) == ("success", 0, 2)
    assert records(server) == before
    return run


@pytest.mark.parametrize("mode", ["upsert", "insert"])
@pytest.mark.parametrize("bulk", ["off", "auto"])
async def test_customer_rekeyed_by_external_id_is_kept(emulator_server, tmp_path, mode, bulk):
    config = _config(emulator_server, tmp_path, _customers_sync(mode=mode, bulk=bulk))
    # min_rows=1: the bulk path imports even this one new row
    await _rekeyed_run_keeps_a(
        config, emulator_server, tmp_path, insert=mode == "insert", bulk=BulkSettings(min_rows=1)
    )
    if mode == "upsert":
        assert _customers(emulator_server)["A"]["name"] == "Alpha 3"

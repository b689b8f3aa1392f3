"""``state: warehouse`` on DuckDB: snapshot tables in the DuckDB file, diffed there."""

from __future__ import annotations

import duckdb
import pytest
from tests.integration.sync._support import all_pages, api, engine, make_warehouse, project

from mogulsync.runs import RunStore

pytestmark = pytest.mark.anyio

ROWS = 20


async def test_duckdb_warehouse_diff_sends_only_changes(emulator_server, tmp_path):
    """First run creates all; a re-run sends nothing; one edit sends one update."""
    path = tmp_path / "w.duckdb"
    url = make_warehouse(
        path,
        [
            (
                "create table accounts as select 'd' || i as id, 'Company ' || i as company,"
                f" i as seats from range(1, {ROWS + 1}) t(i)"
            )
        ],
    )
    config = project(
        emulator_server,
        tmp_path,
        url,
        {"accounts": {"table": "accounts", "primary_key": "id"}},
        {
            "customers": {
                "model": "accounts",
                "object": "customer",
                "data_source": "Duck",
                "mapping": {"external_id": "id", "name": "company"},
                "state": "warehouse",
                "bulk": "off",
            }
        },
    )
    first = await engine(config).run("customers")
    assert (first.status.value, first.rows.succeeded) == ("success", ROWS)
    second = await engine(config).run("customers")
    assert (second.rows.unchanged, second.api_calls) == (ROWS, 1)  # the data source lookup
    db = duckdb.connect(str(path))
    db.execute("update accounts set seats = 99 where id = 'd3'")  # a custom attribute
    assert db.execute("select count(*) from mogulsync.warehouse_snapshot").fetchone() == (ROWS,)
    db.close()
    third = await engine(config).run("customers")
    assert (third.rows.changed, third.rows.unchanged, third.rows.succeeded) == (1, ROWS - 1, 1)
    store = RunStore(config.state_dir)
    try:
        writes = [e.path for e in store.requests(third.run_id) if e.method != "GET"]
    finally:
        store.close()
    assert writes
    with api(emulator_server) as client:
        customers = {c["external_id"]: c for c in all_pages(client, "/customers", "entries")}
    assert customers["d3"]["attributes"]["custom"]["seats"] == 99
    assert len(customers) == ROWS

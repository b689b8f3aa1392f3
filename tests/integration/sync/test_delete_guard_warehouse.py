"""The mass-delete safeguard with ``state: warehouse`` (the anti-join's removals are limited
the same way; DuckDB, and PostgreSQL through the suite's server) and with the team-shared
PostgreSQL ``state_store``."""

from __future__ import annotations

import uuid
from typing import Any

import duckdb
import psycopg
import pytest
from tests.integration.sync._support import all_pages, api, engine, make_warehouse, project

from mogulsync.config import parse_config
from mogulsync.emulator.server import EmulatorServer
from mogulsync.sync.plan import plan_sync

pytestmark = pytest.mark.anyio

ROWS = 15


def _sync(schema: str = "mogulsync") -> dict[str, Any]:
    return {"model": "accounts", "object": "customer", "data_source": "WD",
            "mapping": {"external_id": "id", "name": "company"}, "custom_attributes": "none",
            "on_delete": "delete", "state": "warehouse", "state_schema": schema,
            "bulk": "off"}  # fmt: skip


def _customers(server: EmulatorServer) -> set[str]:
    with api(server) as client:
        return {c["external_id"] for c in all_pages(client, "/customers", "entries")}


async def test_duckdb_warehouse_state_refuses_an_emptied_model(emulator_server, tmp_path):
    """An emptied DuckDB model: refused, nothing deleted, snapshot table kept; allowed once."""
    path = tmp_path / "w.duckdb"
    url = make_warehouse(
        path,
        [
            (
                "create table accounts as select 'd' || i as id, 'Company ' || i as company"
                f" from range(1, {ROWS + 1}) t(i)"
            )
        ],
    )
    models = {"accounts": {"table": "accounts", "primary_key": "id"}}
    config = project(emulator_server, tmp_path, url, models, {"customers": _sync()})
    assert (await engine(config).run("customers")).rows.succeeded == ROWS
    db = duckdb.connect(str(path))
    db.execute("delete from accounts")
    db.close()

    plan = await plan_sync(config, "customers", engine(config).settings)
    assert (plan.counts["deletes"], plan.managed) == (ROWS, ROWS)
    assert plan.deletes_refused is not None

    refused = await engine(config).run("customers")
    assert refused.status.value == "failed"
    assert f"would delete {ROWS} of its {ROWS} records" in (refused.message or "")
    assert len(_customers(emulator_server)) == ROWS
    db = duckdb.connect(str(path))
    kept = db.execute("select count(*) from mogulsync.warehouse_snapshot").fetchone()
    db.close()
    assert kept == (ROWS,)

    allowed = await engine(config).run("customers", allow_deletes=True)
    assert (allowed.status.value, allowed.rows.removed) == ("success", ROWS)
    assert _customers(emulator_server) == set()


@pytest.mark.postgres
async def test_postgres_warehouse_state_percent_limit(emulator_server, postgres_server, tmp_path):
    """PostgreSQL warehouse, max_deletes "10%": 1 of 15 goes, 3 more are refused."""
    table = f"dg_accounts_{uuid.uuid4().hex[:8]}"
    schema = f"dg_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(postgres_server.dsn, autocommit=True) as db:
        db.execute(f"create table {table} (id text, company text)")
        db.execute(
            f"insert into {table} select 'p' || i, 'Co ' || i from generate_series(1, {ROWS}) i"
        )
    models = {"accounts": {"sql": f"select * from {table}", "primary_key": "id"}}
    sync = {**_sync(schema), "max_deletes": "10%"}
    config = project(emulator_server, tmp_path, postgres_server.url, models, {"customers": sync})
    await engine(config).run("customers")

    with psycopg.connect(postgres_server.dsn, autocommit=True) as db:
        db.execute(f"delete from {table} where id = 'p1'")
    within = await engine(config).run("customers")  # 1 of 15 <= 1.5
    assert (within.status.value, within.rows.removed) == ("success", 1)

    with psycopg.connect(postgres_server.dsn, autocommit=True) as db:
        db.execute(f"delete from {table} where id in ('p2', 'p3', 'p4')")
        db.execute(f"insert into {table} values ('p99', 'New')")  # not counted as managed
    refused = await engine(config).run("customers")
    assert (refused.status.value, refused.rows.added, refused.rows.succeeded) == ("failed", 1, 1)
    assert "would delete 3 of its 14 records" in (refused.message or "")
    assert {"p2", "p3", "p4", "p99"} <= _customers(emulator_server)
    with psycopg.connect(postgres_server.dsn) as db:
        kept = db.execute(
            f"select pk from {schema}.warehouse_snapshot where pk in ('p2', 'p3', 'p4')"
        ).fetchall()
    assert len(kept) == 3


@pytest.mark.postgres
async def test_shared_postgres_state_store_refuses_an_emptied_model(
    emulator_server, postgres_server, tmp_path
):
    """state_store (team-shared snapshots in PostgreSQL): the same refusal, read back from
    ChartMogul; the snapshot still holds every row."""
    schema = f"dgs_{uuid.uuid4().hex[:8]}"
    url = make_warehouse(
        tmp_path / "w.duckdb",
        [
            (
                "create table accounts as select 's' || i as id, 'Company ' || i as company"
                f" from range(1, {ROWS + 1}) t(i)"
            )
        ],
    )
    sync = {**_sync(), "state": "embedded", "data_source": "Shared"}
    raw = {
        "chartmogul": {"api_key": "${CM_KEY}", "base_url": emulator_server.base_url},
        "state_dir": str(tmp_path / "state"),
        "warehouses": {"main": url},
        "models": {"accounts": {"warehouse": "main", "table": "accounts", "primary_key": "id"}},
        "syncs": {"customers": sync},
        "state_store": {"url": "${STATE_URL}", "schema": schema},
    }
    env = {"CM_KEY": emulator_server.api_key, "STATE_URL": postgres_server.url}
    config = parse_config(raw, env=env)
    assert (await engine(config).run("customers")).rows.succeeded == ROWS
    db = duckdb.connect(str(tmp_path / "w.duckdb"))
    db.execute("delete from accounts")
    db.close()
    refused = await engine(config).run("customers")
    assert refused.status.value == "failed"
    assert f"would delete {ROWS} of its {ROWS} records" in (refused.message or "")
    assert len(_customers(emulator_server)) == ROWS
    with psycopg.connect(postgres_server.dsn) as pg:
        kept = pg.execute(f"select count(*) from {schema}.snapshot").fetchone()
    assert kept == (ROWS,)

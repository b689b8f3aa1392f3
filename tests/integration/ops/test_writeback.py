"""Sync logs written back to the sync's own warehouse (DuckDB file and real PostgreSQL)."""

from __future__ import annotations

import uuid

import duckdb
import psycopg
import pytest
from tests.integration.ops._support import ACCOUNTS_DDL, create_customer, ops_project
from tests.integration.sync._support import engine, make_warehouse

from mogulsync.runs import RunStore

pytestmark = pytest.mark.anyio

ROWS = "('a1','Acme','a@acme.io'),('a2','Beta','b@beta.io'),('a3','Bad','not-an-email'),('a4','Taken','t@t.io')"


class _Duck:
    def __init__(self, tmp_path):
        self.path = tmp_path / "w.duckdb"
        self.url = make_warehouse(self.path, [ACCOUNTS_DDL, f"insert into accounts values {ROWS}"])
        self.table = "accounts"
        self.schema = "mogulsync"

    def execute(self, sql):
        with duckdb.connect(str(self.path)) as db:
            db.execute(sql)

    def fetch(self, sql):
        with duckdb.connect(str(self.path)) as db:
            return db.execute(sql).fetchall()


class _Postgres:
    def __init__(self, server):
        self.dsn = server.dsn
        self.url = server.url
        suffix = uuid.uuid4().hex[:8]
        self.table = f"accounts_{suffix}"
        self.schema = f"logs_{suffix}"
        self.execute(f"{ACCOUNTS_DDL.replace('accounts', self.table)}")
        self.execute(f"insert into {self.table} values {ROWS}")

    def execute(self, sql):
        with psycopg.connect(self.dsn, autocommit=True) as db:
            db.execute(sql)

    def fetch(self, sql):
        with psycopg.connect(self.dsn) as db:
            return db.execute(sql).fetchall()


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def warehouse(request, tmp_path):
    if request.param == "duckdb":
        return _Duck(tmp_path)
    return _Postgres(request.getfixturevalue("postgres_server"))


def _logs(warehouse, run_id):
    rows = warehouse.fetch(
        "select primary_key, operation, status, error_message, chartmogul_uuid, sync_name,"
        f" logged_at from {warehouse.schema}.sync_log where run_id = '{run_id}'"
    )
    return {row[0]: row[1:] for row in rows}


async def test_run_logs_successes_rejections_invalid_rows_and_deletes(
    emulator_server, tmp_path, warehouse
):
    """Every acted-on row lands in the warehouse log with operation, status, error and uuid."""
    create_customer(emulator_server, "a4")  # insert mode: ChartMogul refuses a duplicate
    config = ops_project(
        emulator_server,
        tmp_path,
        warehouse.url,
        table=warehouse.table,
        sync={"mode": "insert", "on_delete": "delete"},
        sync_logs={"enabled": True, "schema": warehouse.schema},
    )
    first = await engine(config).run("customers")
    assert (first.rows.succeeded, first.rows.failed, first.rows.invalid) == (2, 2, 1)
    assert first.message is None

    logs = _logs(warehouse, first.run_id)
    assert sorted(logs) == ["a1", "a2", "a3", "a4"]
    for key in ("a1", "a2"):
        operation, status, error, cm_uuid, sync, logged_at = logs[key]
        assert (operation, status, error, sync) == ("added", "succeeded", None, "customers")
        assert cm_uuid.startswith("cus_")
        assert logged_at is not None
    assert logs["a3"][:2] == (None, "invalid")
    assert "email" in logs["a3"][2]
    assert logs["a3"][3] is None
    assert logs["a4"][:2] == ("added", "failed")
    assert logs["a4"][2].startswith("external_id: a customer with external_id 'a4' already exists")

    warehouse.execute(f"delete from {warehouse.table} where id = 'a1'")
    second = await engine(config).run("customers")
    removed = _logs(warehouse, second.run_id)
    assert removed["a1"][:2] == ("removed", "succeeded")
    assert removed["a1"][3] == logs["a1"][3]  # the deleted record's uuid
    assert "a2" not in removed  # unchanged rows cost nothing and are not logged


async def test_writeback_failure_is_a_warning_not_a_failed_sync(emulator_server, tmp_path):
    """A log table the rows cannot go into leaves the sync's outcome alone, with a warning."""
    duck = _Duck(tmp_path)
    duck.execute("create schema mogulsync")
    duck.execute("create table mogulsync.sync_log (something_else integer)")
    config = ops_project(emulator_server, tmp_path, duck.url, sync_logs=True)
    record = await engine(config).run("customers")
    assert (record.status.value, record.rows.succeeded) == ("partial", 3)
    assert record.message is not None
    assert "warning: sync logs: 4 row(s) not written to mogulsync.sync_log" in record.message
    # the fix names the table's shape too, not only write access
    assert "that mogulsync.sync_log has the sync log's columns" in record.message
    store = RunStore(config.state_dir)
    try:
        assert store.get(record.run_id).message == record.message
    finally:
        store.close()


async def test_sync_can_opt_out_of_sync_logs(emulator_server, tmp_path):
    """`sync_logs: false` on a sync writes no log table even when sync logs are enabled."""
    duck = _Duck(tmp_path)
    config = ops_project(
        emulator_server, tmp_path, duck.url, sync={"sync_logs": False}, sync_logs=True
    )
    record = await engine(config).run("customers")
    assert record.rows.succeeded == 3
    tables = duck.fetch("select table_name from information_schema.tables")
    assert ("sync_log",) not in tables


DUPLICATE = (
    "id: duplicate primary key 'a1' (rows 1 and 3): row 1 was kept and synced, row 3 skipped"
)


async def test_rows_without_a_key_or_with_a_repeated_one_are_logged_by_row_number(
    emulator_server, tmp_path
):
    """Two null keys are two log rows named by row number, not one row with an empty key."""
    path = tmp_path / "keys.duckdb"
    rows = "('a1','Acme','a@acme.io'),(NULL,'One','1@x.io'),('a1','Again','b@acme.io'),"
    rows += "(NULL,'Two','2@x.io')"
    url = make_warehouse(path, [ACCOUNTS_DDL, f"insert into accounts values {rows}"])
    config = ops_project(
        emulator_server, tmp_path, url, sync_logs={"enabled": True, "schema": "mogulsync"}
    )
    record = await engine(config).run("customers")
    with duckdb.connect(str(path)) as db:
        found = db.execute(
            "select primary_key, status, error_message from mogulsync.sync_log"
            f" where run_id = '{record.run_id}' and status = 'invalid' order by primary_key"
        ).fetchall()
    assert found == [
        ("a1", "invalid", DUPLICATE),
        ("row 2 (primary key is null)", "invalid",
         "id: primary key id is null or blank (the row with name='One', email='1@x.io')"),
        ("row 4 (primary key is null)", "invalid",
         "id: primary key id is null or blank (the row with name='Two', email='2@x.io')"),
    ]  # fmt: skip

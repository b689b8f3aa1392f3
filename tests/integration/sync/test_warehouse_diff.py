"""``state: warehouse`` end to end on a real PostgreSQL: the warehouse diffs, only changes move."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest
from tests.integration.sync._support import all_pages, api, engine, errors_by_key, project

from mogulsync.config import AppConfig
from mogulsync.runs import RunRecord, RunStore
from mogulsync.sync.plan import plan_sync

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]

ROWS = 30
WRITE_METHODS = {"POST", "PATCH", "PUT", "DELETE"}


@pytest.fixture
def table(postgres_server: Any) -> str:
    name = f"wd_accounts_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(postgres_server.dsn, autocommit=True) as db:
        db.execute(f"create table {name} (id text, company text, seats integer)")
        db.execute(
            f"insert into {name} select 'a' || i, 'Company ' || i, i"
            f" from generate_series(1, {ROWS}) i"
        )
    return name


def _config(
    server: Any, tmp_path: Path, url: str, table: str, schema: str, **extra: Any
) -> AppConfig:
    return project(
        server,
        tmp_path,
        url,
        {"accounts": {"sql": f"select * from {table}", "primary_key": "id"}},
        {
            "customers": {
                "model": "accounts",
                "object": "customer",
                "data_source": "WD",
                "mapping": {"external_id": "id", "name": "company"},
                "state": "warehouse",
                "state_schema": schema,
                "bulk": "off",
                "custom_attributes": "none",
                **extra,
            }
        },
    )


def _writes(config: AppConfig, record: RunRecord) -> int:
    store = RunStore(config.state_dir)
    try:
        return sum(1 for entry in store.requests(record.run_id) if entry.method in WRITE_METHODS)
    finally:
        store.close()


def _snapshot(dsn: str, schema: str) -> dict[str, tuple[str, str | None]]:
    with psycopg.connect(dsn) as db:
        rows = db.execute(
            f"select pk, status, digest from {schema}.warehouse_snapshot where sync = 'customers'"
        ).fetchall()
    return {pk: (status, digest) for pk, status, digest in rows}


def _customers(server: Any) -> dict[str, list[dict[str, Any]]]:
    with api(server) as client:
        found: dict[str, list[dict[str, Any]]] = {}
        for customer in all_pages(client, "/customers", "entries"):
            found.setdefault(customer["external_id"], []).append(customer)
        return found


async def test_second_run_sends_nothing_and_changes_send_only_themselves(
    emulator_server, postgres_server, table, tmp_path
):
    """First run creates all; a re-run sends 0 writes; edits/adds/removals send only those rows."""
    schema = f"wd_{uuid.uuid4().hex[:8]}"
    config = _config(
        emulator_server, tmp_path, postgres_server.url, table, schema, on_delete="delete"
    )
    first = await engine(config).run("customers")
    assert (first.status.value, first.rows.added, first.rows.succeeded) == ("success", ROWS, ROWS)
    snapshot = _snapshot(postgres_server.dsn, schema)
    assert len(snapshot) == ROWS
    assert {status for status, _ in snapshot.values()} == {"synced"}
    assert all(len(digest or "") == 32 for _, digest in snapshot.values())  # MD5 hex from SQL

    second = await engine(config).run("customers")
    assert (second.rows.unchanged, second.rows.added, second.rows.changed) == (ROWS, 0, 0)
    assert _writes(config, second) == 0

    with psycopg.connect(postgres_server.dsn, autocommit=True) as db:
        db.execute(f"update {table} set company = 'Renamed ' || id where id in ('a1', 'a2')")
        db.execute(f"update {table} set seats = seats + 100 where id = 'a3'")  # not mapped
        db.execute(f"delete from {table} where id = 'a4'")
        db.execute(f"insert into {table} values ('a99', 'Newcomer', 1)")
    third = await engine(config).run("customers")
    counts = third.rows
    assert (counts.added, counts.changed, counts.removed) == (1, 2, 1)
    assert counts.unchanged == ROWS - 3
    assert third.status.value == "success"
    assert _writes(config, third) == 4  # 1 create + 2 updates + 1 delete
    customers = _customers(emulator_server)
    assert customers["a1"][0]["name"] == "Renamed a1"
    assert "a4" not in customers
    assert "a99" in customers
    assert all(len(found) == 1 for found in customers.values())


async def test_killed_run_leaves_inflight_rows_that_resolve_without_duplicates(
    emulator_server, postgres_server, table, tmp_path
):
    """In-flight rows (landed or not) are resolved by lookup on the next run: each record once."""
    schema = f"wd_{uuid.uuid4().hex[:8]}"
    config = _config(emulator_server, tmp_path, postgres_server.url, table, schema)
    await engine(config).run("customers")
    with psycopg.connect(postgres_server.dsn, autocommit=True) as db:
        # As if a run was killed after marking: a1..a10 landed but were never recorded, and
        # a100..a104 were marked in flight but their requests never left.
        db.execute(
            f"update {schema}.warehouse_snapshot set status = 'inflight', digest = null,"
            " uuid = null where pk in (" + ",".join(f"'a{i}'" for i in range(1, 11)) + ")"
        )
        db.execute(
            f"insert into {table} select 'a' || i, 'Late ' || i, i from generate_series(100, 104) i"
        )
        db.execute(
            f"insert into {schema}.warehouse_snapshot (sync, pk, status, attempt_digest, updated_at)"
            " select 'customers', 'a' || i, 'inflight', 'x', now() from generate_series(100, 104) i"
        )
    record = await engine(config).run("customers")
    assert record.status.value == "success"
    assert record.rows.succeeded == 15
    customers = _customers(emulator_server)
    assert len(customers) == ROWS + 5
    assert all(len(found) == 1 for found in customers.values())
    assert {status for status, _ in _snapshot(postgres_server.dsn, schema).values()} == {"synced"}
    again = await engine(config).run("customers")
    assert _writes(config, again) == 0


async def test_duplicate_and_blank_keys_are_invalid_rows(
    emulator_server, postgres_server, table, tmp_path
):
    """Keys found twice by the SQL GROUP BY, and null keys, are reported like the embedded path."""
    schema = f"wd_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(postgres_server.dsn, autocommit=True) as db:
        db.execute(f"insert into {table} values ('a5', 'Twin of a5', 5), (null, 'No key', 0)")
    config = _config(emulator_server, tmp_path, postgres_server.url, table, schema)
    record = await engine(config).run("customers")
    # like the embedded path: the first row of a key is synced, the next is invalid
    assert (record.rows.invalid, record.rows.succeeded) == (2, ROWS)
    errors = errors_by_key(Path(config.state_dir), record)
    # rows 1-30 are a1..a30, then the twin of a5 (row 31) and the null key (row 32); the
    # warehouse keeps a key's row of the lowest row hash (stable whatever the model's order)
    twin = _customers(emulator_server)["a5"][0]["name"] == "Twin of a5"
    kept, skipped = (31, 5) if twin else (5, 31)
    assert errors["a5"][0][1] == (
        f"duplicate primary key 'a5' (rows 5 and 31): row {kept} was kept and synced,"
        f" row {skipped} skipped"
    )
    assert errors["row 32 (primary key is null)"][0][1] == (
        "primary key id is null or blank (the row with company='No key', seats='0')"
    )
    second = await engine(config).run("customers")
    assert (second.rows.invalid, second.rows.unchanged) == (2, ROWS)
    again = errors_by_key(Path(config.state_dir), second)
    assert again["a5"] == errors["a5"]  # the same row kept on every run
    assert set(again) == {"a5", "row 32 (primary key is null)"}
    assert _writes(config, second) == 0


async def test_mapping_change_resends_everything_once(
    emulator_server, postgres_server, table, tmp_path
):
    """A new mapping changes the sync's definition: one full resend, then quiet again."""
    schema = f"wd_{uuid.uuid4().hex[:8]}"
    config = _config(emulator_server, tmp_path, postgres_server.url, table, schema)
    await engine(config).run("customers")
    remapped = _config(
        emulator_server, tmp_path, postgres_server.url, table, schema, custom_attributes=["seats"]
    )
    record = await engine(remapped).run("customers")
    assert (record.rows.changed, record.rows.succeeded) == (ROWS, ROWS)
    quiet = await engine(remapped).run("customers")
    assert quiet.rows.unchanged == ROWS
    assert _writes(remapped, quiet) == 0


async def test_plan_reads_the_warehouse_diff_without_writing(
    emulator_server, postgres_server, table, tmp_path
):
    """`sync plan` counts from the SQL diff and never creates the snapshot tables."""
    schema = f"wd_{uuid.uuid4().hex[:8]}"
    config = _config(
        emulator_server, tmp_path, postgres_server.url, table, schema, on_delete="delete"
    )
    settings = engine(config).settings
    before = await plan_sync(config, "customers", settings)
    assert before.counts["creates"] == ROWS
    with psycopg.connect(postgres_server.dsn) as db:
        exists = db.execute(
            "select count(*) from information_schema.schemata where schema_name = %s", (schema,)
        ).fetchone()
    assert exists == (0,)
    await engine(config).run("customers")
    with psycopg.connect(postgres_server.dsn, autocommit=True) as db:
        db.execute(f"update {table} set company = 'Other' where id = 'a7'")
        db.execute(f"delete from {table} where id = 'a8'")
    after = await plan_sync(config, "customers", settings)
    assert (after.counts["updates"], after.counts["deletes"], after.counts["unchanged"]) == (
        1,
        1,
        ROWS - 2,
    )
    assert after.samples["updates"][0]["key"] == "a7"

"""The team-shared PostgreSQL state store: shared snapshots, one run per sync, full syncs."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from typing import Any

import psycopg
import pytest
from tests.integration.sync._support import all_pages, api, engine, project

from mogulsync.config import parse_config
from mogulsync.sync.diff import RowStatus
from mogulsync.sync.state import RowResult, SyncLockedError
from mogulsync.sync.state_postgres import PostgresStateStore, PostgresSyncLock, lock_key

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]

#: how long a killed holder's session may take to disappear (the server notices the EOF)
RELEASE_DEADLINE_S = 30
_HOLDER = """
import sys, time
from mogulsync.sync.state_postgres import PostgresSyncLock
lock = PostgresSyncLock(sys.argv[1], sys.argv[2], "customers")
lock.acquire()
print("held", flush=True)
time.sleep(600)
"""


@pytest.fixture
def schema() -> str:
    return f"st_{uuid.uuid4().hex[:8]}"


def test_two_workers_see_each_others_snapshot_and_registry(postgres_server, schema):
    """What one store records, another store on the same database reads."""
    first = PostgresStateStore(postgres_server.url, schema)
    second = PostgresStateStore(postgres_server.url, schema)
    try:
        first.mark_inflight("customers", [("a1", "d1", "x1"), ("a2", "d2", None)])
        assert second.priors("customers", ["a1"])["a1"].status is RowStatus.INFLIGHT
        assert second.priors("customers", ["a1"])["a1"].ref == "x1"  # found if orphaned
        first.record(
            "customers", [RowResult("a1", ok=True, uuid="cus_1"), RowResult("a2", ok=False)]
        )
        priors = second.priors("customers", ["a1", "a2", "a3"])
        assert (priors["a1"].digest, priors["a1"].status, priors["a1"].uuid) == (
            "d1",
            RowStatus.SYNCED,
            "cus_1",
        )
        assert priors["a1"].ref == "x1"
        assert priors["a2"].status is RowStatus.FAILED
        assert "a3" not in priors
        first.remember_uuids([("plan", "ds_1", "gold", "pl_1")])
        assert second.known_uuid("plan", "ds_1", "gold") == "pl_1"
        first.save_definition("customers", "v1")
        assert second.definition_changed("customers", "v2")
        assert second.counts("customers") == {"synced": 1, "failed": 1}
    finally:
        first.close()
        second.close()


def test_seen_keys_are_per_session_and_find_duplicates_and_removed_rows(postgres_server, schema):
    """Keys seen in a run live in the session's temp table: duplicates and removals as embedded."""
    store = PostgresStateStore(postgres_server.url, schema)
    other = PostgresStateStore(postgres_server.url, schema)
    try:
        store.mark_inflight("s", [("a", "1", None), ("b", "2", None), ("c", "3", None)])
        store.record("s", [RowResult(k, ok=True) for k in "abc"])
        store.start_seen()
        other.start_seen()
        assert store.see(["a", "b", "a"]) == [True, True, False]
        assert store.see(["b"]) == [False]
        assert other.see(["a"]) == [True]  # another worker's run has its own seen keys
        # each key keeps the row number it was first seen at; None (a null key) is never new
        assert store.see([None, "d", "a"], first_row=4) == [False, True, False]
        assert store.seen_rows(["a", "b", "d", "nope"]) == {"a": 1, "b": 2, "d": 5}
        assert [key for key, _ in store.unseen("s")] == ["c"]
        store.forget("s", ["c"])
        assert store.counts("s") == {"synced": 2}
    finally:
        store.close()
        other.close()


def test_second_worker_is_refused_while_the_first_holds_the_lock(postgres_server, schema):
    """pg_try_advisory_lock: a second run of the same sync gets SyncLockedError, others run."""
    holder = PostgresSyncLock(postgres_server.url, schema, "customers")
    holder.acquire()
    try:
        with pytest.raises(SyncLockedError, match="already running"):
            PostgresSyncLock(postgres_server.url, schema, "customers").acquire()
        elsewhere = PostgresSyncLock(postgres_server.url, schema, "contacts")
        elsewhere.acquire()
        elsewhere.release()
    finally:
        holder.release()
    after = PostgresSyncLock(postgres_server.url, schema, "customers")
    after.acquire()
    after.release()


def test_lock_is_released_when_the_holder_dies(postgres_server, schema):
    """A worker killed with SIGKILL loses its session, and with it the lock."""
    process = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, postgres_server.url, schema],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "held"
        with pytest.raises(SyncLockedError, match="mogulsync"):  # names the holding worker
            PostgresSyncLock(postgres_server.url, schema, "customers").acquire()
    finally:
        process.kill()
        process.wait()
        if process.stdout is not None:
            process.stdout.close()
    key = lock_key(schema, "customers")
    deadline = time.monotonic() + RELEASE_DEADLINE_S
    with psycopg.connect(postgres_server.dsn, autocommit=True) as db:
        while time.monotonic() < deadline:
            held = db.execute(
                "select count(*) from pg_locks where locktype = 'advisory'"
                " and classid = %s and objid = %s",
                ((key >> 32) & 0xFFFFFFFF, key & 0xFFFFFFFF),
            ).fetchone()
            if held == (0,):
                break
            time.sleep(0.05)
    lock = PostgresSyncLock(postgres_server.url, schema, "customers")
    lock.acquire()
    lock.release()


@pytest.fixture
def accounts(postgres_server: Any) -> str:
    name = f"st_accounts_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(postgres_server.dsn, autocommit=True) as db:
        db.execute(f"create table {name} (id text, company text)")
        db.execute(
            f"insert into {name} select 'a' || i, 'Company ' || i from generate_series(1, 12) i"
        )
    return name


async def test_full_sync_through_the_shared_store(
    emulator_server, postgres_server, accounts, schema, tmp_path
):
    """A sync whose state is in PostgreSQL: all land once, a worker elsewhere sends nothing."""
    syncs = {
        "customers": {
            "model": "accounts",
            "object": "customer",
            "data_source": "Shared",
            "mapping": {"external_id": "id", "name": "company"},
        }
    }
    base = project(
        emulator_server,
        tmp_path / "one",
        postgres_server.url,
        {"accounts": {"table": accounts, "primary_key": "id"}},
        syncs,
    )
    raw: dict[str, Any] = {
        **base.model_dump(by_alias=True, mode="json", exclude={"chartmogul", "warehouses"}),
        "chartmogul": {"api_key": "${CM_KEY}", "base_url": emulator_server.base_url},
        "warehouses": {"main": "${WAREHOUSE_URL}"},
        "state_store": {"url": "${STATE_URL}", "schema": schema},
    }
    env = {
        "CM_KEY": emulator_server.api_key,
        "STATE_URL": postgres_server.url,
        "WAREHOUSE_URL": postgres_server.url,
    }
    config = parse_config(raw, env=env)
    first = await engine(config).run("customers")
    assert (first.status.value, first.rows.succeeded) == ("success", 12)
    # another worker, with its own empty state_dir, shares the snapshot
    elsewhere = parse_config({**raw, "state_dir": str(tmp_path / "two")}, env=env)
    second = await engine(elsewhere).run("customers")
    assert (second.rows.unchanged, second.rows.succeeded) == (12, 0)
    with api(emulator_server) as client:
        customers = all_pages(client, "/customers", "entries")
    assert len(customers) == 12
    with psycopg.connect(postgres_server.dsn) as db:
        synced = db.execute(
            f"select count(*) from {schema}.snapshot where status = 'synced'"
        ).fetchone()
    assert synced == (12,)

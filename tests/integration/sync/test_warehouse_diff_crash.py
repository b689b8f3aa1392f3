"""``state: warehouse`` under kill -9, a second worker and a user without CREATE on the database."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import yaml
from sqlalchemy.engine import make_url
from tests.integration.sync._support import all_pages, api, engine

from mogulsync.config import AppConfig, parse_config
from mogulsync.emulator.server import EmulatorServer
from mogulsync.runs import RunStore
from mogulsync.sync.state import SyncLockedError
from mogulsync.sync.state_postgres import PostgresSyncLock

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]

ROWS = 60
#: every request waits this long, so the killed run is caught with requests on the wire
LATENCY_MS = 300
#: how long the killed run may take to reach the moment it is killed at
RUN_DEADLINE_S = 60
POLL_S = 0.01
WRITE_METHODS = {"POST", "PATCH", "PUT", "DELETE"}


def _table(dsn: str) -> str:
    name = f"wc_accounts_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(dsn, autocommit=True) as db:
        db.execute(f"create table {name} (id text, company text)")
        db.execute(
            f"insert into {name} select 'a' || i, 'Company ' || i from generate_series(1, {ROWS}) i"
        )
    return name


def _raw(server: EmulatorServer, tmp_path: Path, table: str, schema: str) -> dict[str, Any]:
    return {
        "chartmogul": {"api_key": "${CM_KEY}", "base_url": server.base_url},
        "state_dir": str(tmp_path / "state"),
        "warehouses": {"main": "${WAREHOUSE_URL}"},
        "models": {"accounts": {"warehouse": "main", "table": table, "primary_key": "id"}},
        "syncs": {
            "customers": {
                "model": "accounts",
                "object": "customer",
                "data_source": "Crash",
                "mapping": {"external_id": "id", "name": "company"},
                "state": "warehouse",
                "state_schema": schema,
                "bulk": "off",
                "custom_attributes": "none",
            }
        },
    }


def _inflight(dsn: str, schema: str) -> int:
    with psycopg.connect(dsn, autocommit=True) as db:
        try:
            found = db.execute(
                f"select count(*) from {schema}.warehouse_snapshot where status = 'inflight'"
            ).fetchone()
        except psycopg.errors.UndefinedTable:
            return 0
    return int(found[0]) if found else 0


def _landed(client: httpx.Client) -> int:
    return len(all_pages(client, "/customers", "entries"))


def _kill_mid_send(process: subprocess.Popen[bytes], server: EmulatorServer, dsn: str, schema: str):
    """SIGKILL the run once some rows landed in ChartMogul while others are still in flight."""
    with api(server) as client:
        for _ in range(int(RUN_DEADLINE_S / POLL_S)):
            if process.poll() is not None:
                pytest.fail(f"the run ended (exit {process.returncode}) before it could be killed")
            landed = _landed(client)
            if 0 < landed < ROWS and _inflight(dsn, schema) > 0:
                process.send_signal(signal.SIGKILL)
                process.wait()
                return landed
            try:
                process.wait(timeout=POLL_S)
            except subprocess.TimeoutExpired:
                continue
    pytest.fail("the run never reached the killing point")


def _killed_cli_run(
    server: EmulatorServer, workdir: Path, env: dict[str, str], dsn: str, schema: str
) -> tuple[int, int]:
    """`mogulsync sync run customers` with slow answers, killed mid-send: exit code, landed."""
    with httpx.Client(base_url=f"{server.base_url}/_emulator", timeout=30) as admin:
        admin.patch("/limits", json={"latency_ms": LATENCY_MS}).raise_for_status()
        process = subprocess.Popen(
            [sys.executable, "-m", "mogulsync", "sync", "run", "customers"],
            cwd=workdir,
            env={**os.environ, **env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        landed = _kill_mid_send(process, server, dsn, schema)
        admin.patch("/limits", json={"latency_ms": 0}).raise_for_status()
    return process.returncode, landed


def _writes(config: AppConfig, run_id: str) -> int:
    store = RunStore(config.state_dir)
    try:
        return sum(1 for entry in store.requests(run_id) if entry.method in WRITE_METHODS)
    finally:
        store.close()


async def test_kill_9_mid_send_then_rerun_creates_every_customer_once(
    emulator_server, postgres_server, tmp_path
):
    """Killed with rows committed in flight in the warehouse: the re-run lands each row once."""
    server = emulator_server
    table, schema = _table(postgres_server.dsn), f"wc_{uuid.uuid4().hex[:8]}"
    raw = _raw(server, tmp_path, table, schema)
    env = {"CM_KEY": server.api_key, "WAREHOUSE_URL": postgres_server.url}
    (tmp_path / "mogulsync.yml").write_text(yaml.safe_dump(raw), encoding="utf-8")
    code, landed = _killed_cli_run(server, tmp_path, env, postgres_server.dsn, schema)
    assert code == -signal.SIGKILL
    assert 0 < landed < ROWS
    # what the kill left: rows still in flight in the warehouse (marked before sending)
    assert _inflight(postgres_server.dsn, schema) > 0

    config = parse_config(raw, env=env)
    record = await engine(config).run("customers")
    assert record.status.value == "success"
    with api(server) as client:
        customers = [c["external_id"] for c in all_pages(client, "/customers", "entries")]
    assert sorted(customers) == sorted(f"a{i}" for i in range(1, ROWS + 1))
    assert _inflight(postgres_server.dsn, schema) == 0
    quiet = await engine(config).run("customers")
    assert (quiet.rows.unchanged, _writes(config, quiet.run_id)) == (ROWS, 0)


async def test_second_worker_is_refused_by_the_warehouse_lock(
    emulator_server, postgres_server, tmp_path
):
    """With no state_store, a PostgreSQL warehouse holds the sync's lock: other machines wait."""
    table, schema = _table(postgres_server.dsn), f"wc_{uuid.uuid4().hex[:8]}"
    raw = _raw(emulator_server, tmp_path, table, schema)
    env = {"CM_KEY": emulator_server.api_key, "WAREHOUSE_URL": postgres_server.url}
    holder = PostgresSyncLock(postgres_server.url, schema, "customers")  # a worker elsewhere
    holder.acquire()
    try:
        elsewhere = parse_config({**raw, "state_dir": str(tmp_path / "other")}, env=env)
        with pytest.raises(SyncLockedError, match="already running"):
            await engine(elsewhere).run("customers")
    finally:
        holder.release()
    record = await engine(parse_config(raw, env=env)).run("customers")
    assert (record.status.value, record.rows.succeeded) == ("success", ROWS)


async def test_user_with_only_a_premade_schema_can_keep_the_snapshot(
    emulator_server, postgres_server, tmp_path
):
    """A warehouse user without CREATE on the database uses the schema a DBA made for it."""
    table, schema = _table(postgres_server.dsn), f"wc_{uuid.uuid4().hex[:8]}"
    role = f"wc_role_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(postgres_server.dsn, autocommit=True) as db:
        db.execute(f"create role {role} login")
        db.execute(f"create schema {schema} authorization {role}")
        db.execute(f"grant select on {table} to {role}")
    url = make_url(postgres_server.url).set(username=role).render_as_string(hide_password=False)
    raw = _raw(emulator_server, tmp_path, table, schema)
    config = parse_config(raw, env={"CM_KEY": emulator_server.api_key, "WAREHOUSE_URL": url})
    first = await engine(config).run("customers")
    assert (first.status.value, first.rows.succeeded) == ("success", ROWS), first.message
    second = await engine(config).run("customers")
    assert second.rows.unchanged == ROWS

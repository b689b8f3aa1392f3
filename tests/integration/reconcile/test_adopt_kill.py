"""``reconcile --adopt`` killed with -9 halfway, then adopted again: the next run is exact.

Halfway is made, not caught: the model is a PostgreSQL view that reads its rows ``FOR SHARE``,
and the test holds one row locked, so the adopt's read of the model stops at that row with
the rows before it adopted, for as long as the test likes. (Polling for the moment the adopt
was halfway missed it on a loaded machine: the whole adopt takes a fraction of a second.)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import chartmogul
import psycopg
import pytest
import yaml
from tests.integration.reconcile._support import (
    config,
    customer_uuids,
    load,
    official,
    writes,
)
from tests.integration.sync._support import engine

from mogulsync.emulator.server import EmulatorServer
from mogulsync.sync.state import STATE_FILE
from mogulsync.testing.postgres import PostgresServer

CUSTOMERS = 400
#: rows per warehouse batch: the adopt writes its state in many small steps
BATCH = 4
SCHEMA = "adopt_kill"
#: the row the test holds locked while the adopt runs: it stops there, halfway
HELD = "acct-200"
API_KEY_ENV = "RECONCILE_TEST_KEY"
#: a bound on the whole kill loop (a safety net, not a speed expectation)
DEADLINE_S = 120
ADOPT = (sys.executable, "-m", "mogulsync", "reconcile", "customers", "--adopt")


def _warehouse(postgres: PostgresServer) -> str:
    """The reconcile tests' accounts and invoices in PostgreSQL; ``accounts`` is a view that
    reads its rows FOR SHARE, so a row the test locks stops a read there."""
    lines = json.dumps(
        [
            {
                "type": "one_time",
                "amount_in_cents": 500,
                "external_id": "li-X",
                "description": "Setup",
            }
        ]
    )
    with psycopg.connect(postgres.dsn, autocommit=True) as db:
        db.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
        db.execute(f"CREATE SCHEMA {SCHEMA}")
        db.execute(
            f"CREATE TABLE {SCHEMA}.account_rows AS SELECT 'acct-' || i AS id,"
            " 'Customer ' || i AS name, 'Company ' || i AS company, 'gold' AS tier,"
            " i AS seats, i * 1.5 AS score, i % 2 = 0 AS vip,"
            " TIMESTAMP '2026-01-01 00:00:00' + i * INTERVAL '1 day' AS renewal"
            f" FROM generate_series(0, {CUSTOMERS - 1}) i ORDER BY i"
        )
        db.execute(
            f"CREATE VIEW {SCHEMA}.accounts AS SELECT * FROM {SCHEMA}.account_rows FOR SHARE"
        )
        db.execute(
            f"CREATE TABLE {SCHEMA}.invoices AS SELECT 'inv-' || i AS id, 'acct-' || i AS account,"
            " DATE '2025-01-01' AS date, 'USD' AS currency,"
            " replace(%s, 'li-X', 'li-' || i) AS lines"
            f" FROM generate_series(0, {CUSTOMERS - 1}) i",
            [lines],
        )
    return postgres.url


@contextlib.contextmanager
def _held(postgres: PostgresServer, key: str) -> Iterator[None]:
    """Hold the account row ``key`` locked (FOR UPDATE) until the block ends."""
    with psycopg.connect(postgres.dsn) as db:
        db.execute(f"SELECT 1 FROM {SCHEMA}.account_rows WHERE id = %s FOR UPDATE", [key])
        yield
        db.rollback()


def _project_file(server: EmulatorServer, tmp_path: Path, url: str) -> Path:
    raw = {
        "chartmogul": {"api_key": f"${{{API_KEY_ENV}}}", "base_url": server.base_url},
        "state_dir": str(tmp_path / "state"),
        "warehouses": {"main": {"url": url, "batch_size": BATCH, "schema": SCHEMA}},
        "models": {"accounts": {"warehouse": "main", "table": "accounts", "primary_key": "id"}},
        "syncs": {
            "customers": {
                "model": "accounts",
                "object": "customer",
                "data_source": "W",
                "mapping": {"external_id": "id", "company": "company"},
            }
        },
    }
    path = tmp_path / "mogulsync.yml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


def _adopted(state_dir: Path) -> tuple[int, bool]:
    """(rows in the snapshot, whether the definition was saved), read without writing."""
    try:
        db = sqlite3.connect(f"file:{state_dir / STATE_FILE}?mode=ro", uri=True, timeout=5)
    except sqlite3.OperationalError:
        return 0, False
    try:
        rows = db.execute("SELECT count(*) FROM snapshot WHERE sync = 'customers'").fetchone()
        saved = db.execute("SELECT count(*) FROM sync_definition WHERE sync = 'customers'")
        return int(rows[0]), bool(saved.fetchone()[0])
    except sqlite3.OperationalError:
        return 0, False  # tables not created yet
    finally:
        db.close()


def _adopt(project: Path, server: EmulatorServer, *, kill: bool) -> int | None:
    """Run `mogulsync reconcile customers --adopt`; with ``kill``, SIGKILL it mid-adopt.

    The process is frozen (SIGSTOP) as soon as part of the snapshot is written, checked to
    be mid-adopt (definition not yet saved), then killed. Returns None when killed so.
    """
    log = project.parent / "adopt.stderr"
    with log.open("wb") as stderr:
        process = subprocess.Popen(
            [*ADOPT, "-c", str(project)],
            env={**os.environ, API_KEY_ENV: server.api_key},
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    if not kill:
        process.wait(timeout=DEADLINE_S)
        assert process.returncode in {0, 3}, log.read_text(errors="replace")
        return process.returncode
    state_dir = project.parent / "state"
    deadline = time.monotonic() + DEADLINE_S
    try:
        while process.poll() is None and time.monotonic() < deadline:
            rows, saved = _adopted(state_dir)
            if saved:  # the definition before the rows: a kill now would hide a change
                break
            if rows:
                process.send_signal(signal.SIGSTOP)
                rows, saved = _adopted(state_dir)
                process.send_signal(signal.SIGKILL)
                process.wait()
                return None if not saved and rows < CUSTOMERS else 0
            time.sleep(0.002)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return process.returncode


@pytest.mark.postgres
def test_adopt_killed_halfway_then_repeated(server, postgres_server, tmp_path):
    """A kill mid-adopt leaves a usable state; adopting again makes the next run exact."""
    url = _warehouse(postgres_server)
    project_config = config(server, tmp_path, url, schema_=SCHEMA)
    asyncio.run(load(project_config))
    project = _project_file(server, tmp_path, url)
    cm = official(server)
    uuids = customer_uuids(server)
    chartmogul.Customer.modify(cm, uuid=uuids["acct-11"], data={"company": "Edited"}).get()
    chartmogul.Customer.destroy(cm, uuid=uuids["acct-12"]).get()

    shutil.rmtree(tmp_path / "state", ignore_errors=True)
    with _held(postgres_server, HELD):  # the adopt cannot read past it: killed halfway
        assert _adopt(project, server, kill=True) is None, "not killed halfway"
    rows, saved = _adopted(tmp_path / "state")
    assert 0 < rows < CUSTOMERS
    assert not saved

    assert _adopt(project, server, kill=False) == 3  # something differs: exit 3
    assert _adopt(project, server, kill=False) == 3  # repeating is harmless
    before = writes(server)
    record = asyncio.run(engine(project_config).run("customers"))
    after = writes(server)
    assert record.status.value == "success", record.message
    assert (record.rows.added, record.rows.changed) == (1, 1)
    sent = {k: after[k] - before.get(k, 0) for k in after if after[k] != before.get(k, 0)}
    assert sent == {
        "POST /v1/customers": 1,
        "PATCH /v1/customers/{id}": 1,
        "POST /v1/customers/{id}/attributes/custom": 1,
    }, sent

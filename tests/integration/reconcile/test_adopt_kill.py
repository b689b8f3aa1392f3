"""``reconcile --adopt`` killed with -9 halfway, then adopted again: the next run is exact."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import chartmogul
import pytest
import yaml
from tests.integration.reconcile._support import (
    config,
    customer_uuids,
    load,
    official,
    warehouse,
    writes,
)
from tests.integration.sync._support import engine

from mogulsync.emulator.server import EmulatorServer
from mogulsync.sync.state import STATE_FILE

CUSTOMERS = 400
#: rows per warehouse batch: the adopt writes its state in many small steps
BATCH = 4
API_KEY_ENV = "RECONCILE_TEST_KEY"
#: a bound on the whole kill loop (a safety net, not a speed expectation)
DEADLINE_S = 120
ADOPT = (sys.executable, "-m", "mogulsync", "reconcile", "customers", "--adopt")


def _project_file(server: EmulatorServer, tmp_path: Path, url: str) -> Path:
    raw = {
        "chartmogul": {"api_key": f"${{{API_KEY_ENV}}}", "base_url": server.base_url},
        "state_dir": str(tmp_path / "state"),
        "warehouses": {"main": {"url": url, "batch_size": BATCH}},
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
            if rows and not saved:
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


def test_adopt_killed_halfway_then_repeated(server, tmp_path):
    """A kill mid-adopt leaves a usable state; adopting again makes the next run exact."""
    url = warehouse(tmp_path, CUSTOMERS)
    asyncio.run(load(config(server, tmp_path, url)))
    project = _project_file(server, tmp_path, url)
    cm = official(server)
    uuids = customer_uuids(server)
    chartmogul.Customer.modify(cm, uuid=uuids["acct-11"], data={"company": "Edited"}).get()
    chartmogul.Customer.destroy(cm, uuid=uuids["acct-12"]).get()

    for _attempt in range(5):  # a machine fast enough to adopt between two polls: again
        shutil.rmtree(tmp_path / "state", ignore_errors=True)
        if _adopt(project, server, kill=True) is None:
            break
    else:
        pytest.fail("no adopt was caught halfway in 5 attempts")
    rows, saved = _adopted(tmp_path / "state")
    assert 0 < rows < CUSTOMERS
    assert not saved

    assert _adopt(project, server, kill=False) == 3  # something differs: exit 3
    assert _adopt(project, server, kill=False) == 3  # repeating is harmless
    before = writes(server)
    record = asyncio.run(engine(config(server, tmp_path, url)).run("customers"))
    after = writes(server)
    assert record.status.value == "success", record.message
    assert (record.rows.added, record.rows.changed) == (1, 1)
    sent = {k: after[k] - before.get(k, 0) for k in after if after[k] != before.get(k, 0)}
    assert sent == {
        "POST /v1/customers": 1,
        "PATCH /v1/customers/{id}": 1,
        "POST /v1/customers/{id}/attributes/custom": 1,
    }, sent

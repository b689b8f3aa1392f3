"""kill -9 `mogulsync sync run` while its bulk import is queued: the re-run lands each row once.

The emulator runs in this process with slow imports; the CLI runs in a subprocess and is
killed once its state shows rows in flight and the emulator has accepted their import. The
import then completes with nobody waiting for it, so every record exists in ChartMogul while
the state still says "in flight" — the case the next run must resolve by lookup.
"""

from __future__ import annotations

import collections
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.conftest import unlimited_settings
from tests.integration.sync._bulk_support import billing_warehouse, bulk_engine, endpoint_calls
from tests.integration.sync._bulk_support import syncs as billing_syncs
from tests.integration.sync._support import all_pages, api

from mogulsync.config import AppConfig, parse_config
from mogulsync.emulator.server import EmulatorServer
from mogulsync.runs import RunStore
from mogulsync.sync.state import STATE_FILE, StateStore

pytestmark = pytest.mark.anyio

#: well above the 50-row bulk threshold, all in one import (at most 1,000 customers each)
CUSTOMERS = 200
#: each import stays queued, then processing, this long: the kill lands while it is queued
IMPORT_STEP_S = 0.5
POLL_S = 0.02
#: only a guard against a hang; the CLI reaches its import in a second or two
DEADLINE_S = 60.0
IMPORTS = "POST /v1/data_sources/{id}/json_imports"
WRITE_METHODS = {"POST", "PATCH", "PUT", "DELETE"}
UNFINISHED = {"queued", "processing"}
API_KEY_ENV = "CM_KEY"


@pytest.fixture
def slow_imports() -> Iterator[EmulatorServer]:
    """An emulator whose bulk imports take a second from POST to completion."""
    with EmulatorServer(unlimited_settings(json_import_step_s=IMPORT_STEP_S)) as server:
        yield server


def _raw(server: EmulatorServer, tmp_path: Path, url: str) -> dict[str, Any]:
    """The project file the CLI reads (the same one the in-process runs parse)."""
    tables = ("accounts", "plans", "invoices")
    return {
        "chartmogul": {"api_key": f"${{{API_KEY_ENV}}}", "base_url": server.base_url},
        "state_dir": str(tmp_path / "state"),
        "warehouses": {"main": url},
        "models": {t: {"warehouse": "main", "table": t, "primary_key": "id"} for t in tables},
        "syncs": billing_syncs(),
    }


def _inflight(state_dir: Path, sync: str) -> int:
    """Rows of ``sync`` in flight, read without writing (the CLI owns the file)."""
    try:
        db = sqlite3.connect(f"file:{state_dir / STATE_FILE}?mode=ro", uri=True, timeout=5)
    except sqlite3.OperationalError:
        return 0  # not created yet
    try:
        found = db.execute(
            "SELECT count(*) FROM snapshot WHERE sync = ? AND status = 'inflight'", (sync,)
        ).fetchone()
    except sqlite3.OperationalError:
        return 0  # schema not created yet
    finally:
        db.close()
    return int(found[0])


def _imports(server: EmulatorServer) -> int:
    return endpoint_calls(server).get(IMPORTS, 0)


def _kill_while_importing(server: EmulatorServer, tmp_path: Path, sync: str) -> str:
    """Run the CLI; SIGKILL it once rows are in flight and their import was accepted.

    Returns the killed run's id.
    """
    imports_before = _imports(server)
    log = tmp_path / f"{sync}.stderr"
    with log.open("wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "mogulsync", "sync", "run", sync],
            cwd=tmp_path,
            env={**os.environ, API_KEY_ENV: server.api_key},
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
        try:
            deadline = time.monotonic() + DEADLINE_S
            while time.monotonic() < deadline:
                if process.poll() is not None:
                    output = log.read_text(errors="replace")
                    pytest.fail(f"the run ended ({process.returncode}) before the kill:\n{output}")
                if _inflight(tmp_path / "state", sync) and _imports(server) > imports_before:
                    process.send_signal(signal.SIGKILL)
                    break
                time.sleep(POLL_S)
            else:
                pytest.fail("the run never reached its import")
        finally:
            if process.poll() is None:
                process.kill()
            process.wait()
    assert process.returncode == -signal.SIGKILL
    runs = RunStore(tmp_path / "state")
    try:
        return runs.latest(sync=sync, limit=1)[0].run_id
    finally:
        runs.close()


def _finish_import(server: EmulatorServer, run_id: str) -> str:
    """Wait (bounded) until the killed run's first import ends; its final status."""
    with api(server) as client:
        sources = client.get("/data_sources").raise_for_status().json()["data_sources"]
        path = f"/data_sources/{sources[0]['uuid']}/json_imports/mogulsync-{run_id}-1"
        deadline = time.monotonic() + DEADLINE_S
        while time.monotonic() < deadline:
            status = str(client.get(path).raise_for_status().json()["status"])
            if status not in UNFINISHED:
                return status
            time.sleep(POLL_S)
    pytest.fail(f"the import of run {run_id} never finished")


def _state_counts(tmp_path: Path, sync: str) -> dict[str, int]:
    state = StateStore(tmp_path / "state")
    try:
        return state.counts(sync)
    finally:
        state.close()


def _writes(config: AppConfig, run_id: str) -> int:
    runs = RunStore(config.state_dir)
    try:
        return sum(1 for entry in runs.requests(run_id) if entry.method in WRITE_METHODS)
    finally:
        runs.close()


def _in_chartmogul(server: EmulatorServer) -> dict[str, collections.Counter[str]]:
    """How many times each external id exists, per object."""
    with api(server) as client:
        customers = all_pages(client, "/customers", "entries")
        invoices = all_pages(client, "/invoices", "invoices")
    return {
        "customers": collections.Counter(c["external_id"] for c in customers),
        "invoices": collections.Counter(i["external_id"] for i in invoices),
        "transactions": collections.Counter(
            t["external_id"] for i in invoices for t in i["transactions"]
        ),
    }


async def _killed_then_resumed(
    server: EmulatorServer, tmp_path: Path, config: AppConfig, sync: str
) -> None:
    """Kill the CLI mid-import, let the import land, re-run twice: resolved, then quiet."""
    run_id = _kill_while_importing(server, tmp_path, sync)
    # what the kill left: every row in flight, and an import that lands with nobody waiting
    assert _state_counts(tmp_path, sync) == {"inflight": CUSTOMERS}
    assert _finish_import(server, run_id) == "completed"
    imports = _imports(server)

    resumed = await bulk_engine(config).run(sync)
    assert (resumed.status.value, resumed.rows.succeeded) == ("success", CUSTOMERS)
    assert _state_counts(tmp_path, sync) == {"synced": CUSTOMERS}
    # the in-flight rows were looked up over REST, never imported again
    assert _imports(server) == imports

    quiet = await bulk_engine(config).run(sync)
    assert (quiet.rows.unchanged, _writes(config, quiet.run_id)) == (CUSTOMERS, 0)


async def test_kill_9_while_bulk_imports_are_queued_then_rerun_lands_each_record_once(
    slow_imports, tmp_path
):
    """Customers, then invoices with payments: killed mid-import, each record exists once."""
    server = slow_imports
    url = billing_warehouse(tmp_path, CUSTOMERS, 1)
    raw = _raw(server, tmp_path, url)
    (tmp_path / "mogulsync.yml").write_text(yaml.safe_dump(raw), encoding="utf-8")
    config = parse_config(raw, env={API_KEY_ENV: server.api_key})

    await _killed_then_resumed(server, tmp_path, config, "customers")
    plans = await bulk_engine(config).run("plans")  # the invoices' line items name plans
    assert plans.status.value == "success", plans.message
    await _killed_then_resumed(server, tmp_path, config, "invoices")

    found = _in_chartmogul(server)
    expected = {
        "customers": {f"acct-{i}" for i in range(CUSTOMERS)},
        "invoices": {f"inv-{i}-0" for i in range(CUSTOMERS)},
        "transactions": {f"tr-{i}-0" for i in range(CUSTOMERS)},
    }
    for kind, ids in expected.items():
        assert set(found[kind]) == ids, kind
        assert max(found[kind].values()) == 1, f"duplicate {kind}"

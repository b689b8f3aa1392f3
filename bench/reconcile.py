"""Taking over a filled account: ``reconcile --adopt`` + ``sync run`` vs a first ``sync run``.

    .venv/bin/python bench/reconcile.py [--customers 100000]

ChartMogul already holds the customers "another tool" loaded (by bulk import); the warehouse
model has the same customers, of which 1 % now differ (a changed company) and 0.5 % are new.
Both paths start with no mogulsync state, against a fresh emulator loaded identically and
enforcing ChartMogul's limits (40 req/s, 20 connections) with 50 ms latency:

- naive (baseline): the first ``sync run`` with no state (it updates every existing record);
- adopt: ``reconcile customers --adopt`` then ``sync run`` (only the missing and drifted rows).

Printed: API calls (the emulator's count of ``/v1`` requests), writes and wall time of each
path, their ratios, the peak resident memory of the process during the reconcile, and
whether both paths left ChartMogul equal to the model.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb
import httpx

from mogulsync.config import AppConfig, parse_config
from mogulsync.emulator.server import EmulatorServer
from mogulsync.emulator.settings import EmulatorSettings
from mogulsync.reconcile import reconcile
from mogulsync.sync.engine import SyncEngine

LATENCY_MS = 50.0
CHANGED_EVERY = 100  # 1 % of the existing customers differ in the warehouse
NEW_EVERY = 200  # 0.5 % of the model's customers are not in ChartMogul yet
TARGET_CALLS = 50.0
TARGET_TIME = 20.0


@dataclass(frozen=True, slots=True)
class Cost:
    """What one path cost."""

    calls: int
    writes: int
    seconds: float
    in_sync: bool


def write_models(path: Path, customers: int) -> None:
    """``accounts`` (the warehouse) and ``loaded`` (what the other tool put in ChartMogul)."""
    db = duckdb.connect(str(path))
    db.execute(
        "create table accounts as select 'acct-' || i as id, 'Customer ' || i as name,"
        " 'Company ' || i || (case when i % 100 = 1 then ' (renamed)' else '' end) as company,"
        " ['US', 'GB', 'DE'][i % 3 + 1] as country"
        f" from range({customers}) t(i)"
    )
    db.execute(
        "create table loaded as select id, name,"
        " replace(company, ' (renamed)', '') as company, country"
        f" from accounts where cast(split_part(id, '-', 2) as integer) % {NEW_EVERY} <> 7"
    )
    db.close()


def project(tmp: Path, server: EmulatorServer, table: str, state: str) -> AppConfig:
    """One customer sync of ``table`` into data source `crm`."""
    return parse_config(
        {
            "chartmogul": {"api_key": "${K}", "base_url": server.base_url},
            "state_dir": str(tmp / state),
            "warehouses": {"main": f"duckdb:///{tmp / 'w.duckdb'}"},
            "models": {"m": {"warehouse": "main", "table": table, "primary_key": "id"}},
            "syncs": {
                "customers": {
                    "model": "m",
                    "object": "customer",
                    "data_source": "crm",
                    "custom_attributes": "none",
                    "mapping": {"external_id": "id"},
                }
            },
        },
        env={"K": server.api_key},
    )


def _limits(server: EmulatorServer, *, on: bool) -> None:
    body = (
        {"rate_limit": 40, "max_connections": 20, "latency_ms": LATENCY_MS}
        if on
        else {"rate_limit": 0, "max_connections": 0, "latency_ms": 0}
    )
    httpx.patch(f"{server.base_url}/_emulator/limits", json=body).raise_for_status()


async def _load_other_tool(tmp: Path, server: EmulatorServer) -> None:
    """The other tool's load: every customer of ``loaded``, through bulk imports."""
    record = await SyncEngine(project(tmp, server, "loaded", "other-tool")).run("customers")
    if record.status.value != "success":
        raise RuntimeError(f"loading failed: {record.message}")


async def one_path(customers: int, *, adopt: bool) -> tuple[Cost, int]:
    """Load a fresh emulator, then take it over by one path; (cost, peak RSS in KiB)."""
    with tempfile.TemporaryDirectory() as name, EmulatorServer(EmulatorSettings()) as server:
        tmp = Path(name)
        write_models(tmp / "w.duckdb", customers)
        _limits(server, on=False)
        await _load_other_tool(tmp, server)
        _limits(server, on=True)
        config = project(tmp, server, "accounts", "state")
        stats = server.emulator.stats
        stats.reset()
        started = time.monotonic()
        if adopt:
            await reconcile(config, "customers", adopt=True)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        record = await SyncEngine(config).run("customers")
        seconds = time.monotonic() - started
        calls, writes = stats.requests_total, stats.writes
        _limits(server, on=False)
        check = await reconcile(config, "customers")
        if record.status.value != "success":
            raise RuntimeError(f"the run ended {record.status.value}: {record.message}")
    return Cost(calls, writes, seconds, not check.differs), peak


def _row(label: str, path: Cost) -> str:
    state = "ChartMogul = model" if path.in_sync else "DIFFERS from the model"
    return f"{label:<34} {path.calls:>9,} {path.writes:>9,} {path.seconds:>9.1f}  {state}"


def main(customers: int) -> None:
    naive, _ = asyncio.run(one_path(customers, adopt=False))
    adopted, peak = asyncio.run(one_path(customers, adopt=True))
    changed = customers // CHANGED_EVERY
    new = customers // NEW_EVERY
    print(
        f"{customers:,} customers in the model, {customers - new:,} already in ChartMogul,"
        f" ~{changed:,} differing, ~{new:,} new; 40 req/s, 20 connections, {LATENCY_MS:.0f} ms"
    )
    print(f"{'path':<34} {'API calls':>9} {'writes':>9} {'wall s':>9}")
    print(_row("first sync run, no state (naive)", naive))
    print(_row("reconcile --adopt + sync run", adopted))
    fewer_calls = naive.calls / adopted.calls
    less_time = naive.seconds / adopted.seconds
    print(
        f"ratios: {fewer_calls:.1f}x fewer API calls (target ≥ {TARGET_CALLS:.0f}x:"
        f" {'met' if fewer_calls >= TARGET_CALLS else 'MISSED'}), {less_time:.1f}x less wall"
        f" time (target ≥ {TARGET_TIME:.0f}x: {'met' if less_time >= TARGET_TIME else 'MISSED'})"
    )
    print(f"peak RSS of the process after the reconcile (emulator included): {peak / 1024:.0f} MiB")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=100_000)
    main(parser.parse_args().customers)

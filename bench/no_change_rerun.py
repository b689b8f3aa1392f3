"""Re-runs of a 100,000-row customer sync: nothing changed, then 1% of rows changed.

    .venv/bin/python bench/no_change_rerun.py [--rows 100000] [--changed 0.01]

The first run populates ChartMogul and the snapshot through the default path (bulk JSON
import) with the emulator's limits lifted — only to set up cheaply; it is not measured.
Then the emulator enforces ChartMogul's limits (40 req/s, 20 connections, 50 ms latency)
and the benchmark measures:

1. a re-run with no change: write calls (the emulator's count of non-GET ``/v1`` requests;
   target 0) and wall time, against a baseline measured in the same run: the bare read of
   the model from the warehouse (``SqlAlchemySource.stream``, no processing);
2. a re-run after ``--changed`` of the rows changed in the warehouse: write calls against
   the number of changed rows (target: within 5%).

The model has standard fields only: a customer update whose custom attributes changed
costs a second write (``POST /customers/attributes/custom``), see docs/sync.md.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections import Counter
from pathlib import Path

import duckdb
import httpx

from mogulsync.config import AppConfig, parse_config
from mogulsync.emulator.server import EmulatorServer
from mogulsync.emulator.settings import EmulatorSettings, Limits
from mogulsync.runs import RunRecord
from mogulsync.sync.connect import model_of, open_source
from mogulsync.sync.engine import SyncEngine

SYNC = "customers"
LATENCY_MS = 50.0
RATE_LIMIT = 40.0
MAX_CONNECTIONS = 20
#: write calls may exceed the changed rows by this fraction
TARGET_WRITE_SLACK = 0.05


def write_model(path: Path, rows: int) -> None:
    """A customer model with standard fields."""
    db = duckdb.connect(str(path))
    db.execute(
        "create or replace table accounts as select 'acct-' || i as id, 'Company ' || i as name,"
        " 'billing' || i || '@example.com' as email, ['US', 'GB', 'DE'][i % 3 + 1] as country,"
        " 'City ' || (i % 100) as city"
        f" from range({rows}) t(i)"
    )
    db.close()


def change_rows(path: Path, fraction: float) -> int:
    """Rename every ``1/fraction``-th customer; the number of rows changed."""
    step = round(1 / fraction)
    db = duckdb.connect(str(path))
    db.execute(
        "update accounts set name = name || ' (renamed)'"
        f" where cast(substr(id, 6) as integer) % {step} = 0"
    )
    changed = db.execute("select count(*) from accounts where name like '%(renamed)'").fetchone()
    db.close()
    assert changed is not None
    return int(changed[0])


def project(tmp: Path, server: EmulatorServer) -> AppConfig:
    """One customer sync, standard fields only."""
    return parse_config(
        {
            "chartmogul": {"api_key": "${K}", "base_url": server.base_url},
            "state_dir": str(tmp / "state"),
            "warehouses": {"main": f"duckdb:///{tmp / 'w.duckdb'}"},
            "models": {"m": {"warehouse": "main", "table": "accounts", "primary_key": "id"}},
            "syncs": {
                SYNC: {
                    "model": "m",
                    "object": "customer",
                    "data_source": "bench",
                    "mapping": {"external_id": "id"},
                    "custom_attributes": "none",
                }
            },
        },
        env={"K": server.api_key},
    )


def set_limits(server: EmulatorServer, *, on: bool) -> None:
    """Switch ChartMogul's limits (and the latency) on or off."""
    limits = (
        {"rate_limit": RATE_LIMIT, "max_connections": MAX_CONNECTIONS, "latency_ms": LATENCY_MS}
        if on
        else {"rate_limit": 0, "max_connections": 0, "latency_ms": 0}
    )
    httpx.patch(f"{server.base_url}/_emulator/limits", json=limits).raise_for_status()


def calls(server: EmulatorServer) -> Counter[str]:
    """API calls since the last reset: all, writes (non-GET) and the write endpoints."""
    found: Counter[str] = Counter()
    for endpoint, statuses in server.emulator.stats.by_endpoint.items():
        total = sum(statuses.values())
        found["all"] += total
        if not endpoint.startswith("GET "):
            found["writes"] += total
            found[endpoint] += total
    return found


def bare_read(config: AppConfig) -> float:
    """Seconds to stream the whole model without processing it (the baseline)."""
    model = model_of(config, SYNC)
    source = open_source(config, model)
    started = time.monotonic()
    for _batch in source.stream(model):
        pass
    seconds = time.monotonic() - started
    source.close()
    return seconds


async def timed_run(config: AppConfig, server: EmulatorServer) -> tuple[RunRecord, float]:
    """One run of the sync, with the emulator's counters reset first."""
    server.emulator.stats.reset()
    started = time.monotonic()
    record = await SyncEngine(config).run(SYNC)
    seconds = time.monotonic() - started
    if record.error is not None:
        raise RuntimeError(record.message)
    return record, seconds


async def main(rows: int, fraction: float) -> None:
    unlimited = Limits(rate_limit=0, max_connections=0)
    with tempfile.TemporaryDirectory() as name, EmulatorServer(EmulatorSettings(limits=unlimited)) as server:  # fmt: skip
        tmp = Path(name)
        write_model(tmp / "w.duckdb", rows)
        config = project(tmp, server)
        first, first_s = await timed_run(config, server)
        setup = calls(server)
        print(
            f"setup (not measured): first run, default path, emulator limits lifted: {rows:,} rows,"
            f" {first.rows.added:,} added, {setup['all']:,} API calls, {first_s:.1f}s"
        )
        await asyncio.to_thread(set_limits, server, on=True)
        read_s = await asyncio.to_thread(bare_read, config)
        same, same_s = await timed_run(config, server)
        same_calls = calls(server)
        changed = await asyncio.to_thread(change_rows, tmp / "w.duckdb", fraction)
        delta, delta_s = await timed_run(config, server)
        delta_calls = calls(server)
    print(f"limits on: {RATE_LIMIT:.0f} req/s, {MAX_CONNECTIONS} connections, {LATENCY_MS:.0f} ms")
    print(f"{'run':<40} {'wall s':>8} {'x read':>7} {'API calls':>9} {'writes':>7}")
    print(f"{'baseline: bare warehouse read':<40} {read_s:>8.2f} {1:>7.2f} {'-':>9} {'-':>7}")
    print(
        f"{'re-run, nothing changed':<40} {same_s:>8.2f} {same_s / read_s:>7.2f}"
        f" {same_calls['all']:>9} {same_calls['writes']:>7}"
        f"   unchanged {same.rows.unchanged:,}, changed {same.rows.changed}"
    )
    print(
        f"{f're-run, {changed:,} rows changed':<40} {delta_s:>8.2f} {delta_s / read_s:>7.2f}"
        f" {delta_calls['all']:>9} {delta_calls['writes']:>7}"
        f"   changed {delta.rows.changed:,}, succeeded {delta.rows.succeeded:,}"
    )
    endpoints = {k: v for k, v in delta_calls.items() if k not in ("all", "writes")}
    print(f"  write endpoints of the 1% run: {endpoints}")
    ratio = delta_calls["writes"] / changed
    print(
        f"no-change writes: {same_calls['writes']} (target 0:"
        f" {'met' if same_calls['writes'] == 0 else 'MISSED'}); 1% run: {ratio:.3f} writes per"
        f" changed row (target ≤ {1 + TARGET_WRITE_SLACK:.2f}:"
        f" {'met' if abs(ratio - 1) <= TARGET_WRITE_SLACK else 'MISSED'})"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--changed", type=float, default=0.01, help="fraction of rows changed")
    arguments = parser.parse_args()
    asyncio.run(main(arguments.rows, arguments.changed))

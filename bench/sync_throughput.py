"""Reverse-ETL throughput against the emulator enforcing ChartMogul's limits.

    .venv/bin/python bench/sync_throughput.py [--rows 400]

Baseline measured in the same run: the account's 40 req/s limit. Prints the rows/s and
requests/s of a first (all new) customer sync over REST (``bulk: off``: one request per row;
the bulk import is bench/bulk_initial_load.py's) and their ratio to the limit, then the API
calls of a second run with nothing changed and of a run where 1% of rows changed.

Memory: the peak Python heap (tracemalloc) while ``sync plan`` streams a model of
``--memory-rows`` rows and one ten times larger through the same read → map → diff pipeline a
run uses; the baseline is the smaller model, and a ratio near 1 means memory does not grow
with the model's size.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import tracemalloc
from pathlib import Path

import duckdb

from mogulsync.config import parse_config
from mogulsync.emulator.server import EmulatorServer
from mogulsync.sync.connect import client_settings
from mogulsync.sync.engine import SyncEngine
from mogulsync.sync.plan import plan_sync

LIMIT = 40.0
#: the large model of the memory measurement is this many times the small one
MEMORY_SCALE = 10
BYTES_PER_MB = 1024 * 1024


def _model(path: Path, rows: int) -> None:
    db = duckdb.connect(str(path))
    db.execute(
        "create or replace table a as select 'a' || i as id, 'Co ' || i as name,"
        f" i as seats, 'segment-' || (i % 7) as segment from range({rows}) t(i)"
    )
    db.close()


async def plan_peak_mb(server: EmulatorServer, tmp: Path, rows: int) -> float:
    """Peak Python heap while planning a customer sync of ``rows`` rows."""
    path = tmp / f"m{rows}.duckdb"
    _model(path, rows)
    config = parse_config(
        {
            "chartmogul": {"api_key": "${K}", "base_url": server.base_url},
            "state_dir": str(tmp / f"state{rows}"),
            "warehouses": {"main": {"url": f"duckdb:///{path}", "batch_size": 2000}},
            "models": {"a": {"warehouse": "main", "table": "a", "primary_key": "id"}},
            "syncs": {"c": {"model": "a", "object": "customer", "mapping": {"external_id": "id"}}},
        },
        env={"K": server.api_key},
    )
    tracemalloc.start()
    try:
        plan = await plan_sync(config, "c", client_settings(config))
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert plan.counts["creates"] == rows
    return peak / BYTES_PER_MB


async def memory(rows: int) -> None:
    with tempfile.TemporaryDirectory() as tmp, EmulatorServer() as server:
        small = await plan_peak_mb(server, Path(tmp), rows)
        large = await plan_peak_mb(server, Path(tmp), rows * MEMORY_SCALE)
    print(f"memory: peak Python heap streaming {rows} rows: {small:.1f} MB (baseline)")
    print(
        f"  {rows * MEMORY_SCALE} rows: {large:.1f} MB, ratio to the baseline: {large / small:.2f}"
        f" for {MEMORY_SCALE}x the rows"
    )


async def main(rows: int) -> None:
    with tempfile.TemporaryDirectory() as tmp, EmulatorServer() as server:
        path = Path(tmp) / "w.duckdb"
        db = duckdb.connect(str(path))
        db.execute(
            f"create table a as select 'a' || i as id, 'Co ' || i as name from range({rows}) t(i)"
        )
        db.close()
        config = parse_config(
            {
                "chartmogul": {"api_key": "${K}", "base_url": server.base_url},
                "state_dir": str(Path(tmp) / "state"),
                "warehouses": {"main": f"duckdb:///{path}"},
                "models": {"a": {"warehouse": "main", "table": "a", "primary_key": "id"}},
                "syncs": {
                    "c": {
                        "model": "a",
                        "object": "customer",
                        "data_source": "B",
                        "mapping": {"external_id": "id"},
                        # one request per row, the path paced by the limit; new rows would
                        # otherwise go in one bulk import (bench/bulk_initial_load.py)
                        "bulk": "off",
                    }
                },
            },
            env={"K": server.api_key},
        )
        started = time.monotonic()
        first = await SyncEngine(config).run("c")
        elapsed = time.monotonic() - started
        second = await SyncEngine(config).run("c")
        db = duckdb.connect(str(path))
        db.execute("update a set name = name || '!' where random() < 0.01 or id = 'a0'")
        db.close()
        third = await SyncEngine(config).run("c")
        stats = server.emulator.stats.snapshot(server.emulator.faults.injected)
    rate = first.api_calls / elapsed
    print(f"first run: {rows} rows, {first.api_calls} calls in {elapsed:.1f}s")
    print(
        f"  {rows / elapsed:.1f} rows/s, {rate:.1f} req/s, ratio to the {LIMIT:.0f} req/s limit: {rate / LIMIT:.3f}"
    )
    print(f"  429s: {stats['rate_limited_429']}, 503s: {stats['concurrency_rejected_503']}")
    print(
        f"second run (nothing changed): {second.api_calls} calls, {second.rows.unchanged} unchanged"
    )
    print(f"third run (~1% changed): {third.rows.changed} changed, {third.api_calls} calls")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=400)
    parser.add_argument("--memory-rows", type=int, default=20_000)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.rows))
    asyncio.run(memory(arguments.memory_rows))

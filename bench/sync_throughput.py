"""Reverse-ETL throughput against the emulator enforcing ChartMogul's limits.

    .venv/bin/python bench/sync_throughput.py [--rows 400]

Baseline measured in the same run: the account's 40 req/s limit. Prints the rows/s and
requests/s of a first (all new) customer sync and their ratio to the limit, then the API calls
of a second run with nothing changed and of a run where 1% of rows changed.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

import duckdb

from mogulsync.config import parse_config
from mogulsync.emulator.server import EmulatorServer
from mogulsync.sync.engine import SyncEngine

LIMIT = 40.0


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
    asyncio.run(main(parser.parse_args().rows))

"""What the mass-delete safeguard costs a re-run of an ``on_delete: delete`` sync.

    .venv/bin/python bench/delete_guard_cost.py [--rows 200000] [--rounds 3]

The guard counts the sync's snapshot only when a run's deletes could be refused (more than
the limit's number, or than the default's 10); then the snapshot minus the rows the run
added is what the sync managed before it. The first run populates ChartMogul and the
snapshot (emulator limits lifted; not measured); then re-runs with nothing changed alternate
between ``max_deletes: null`` (the baseline) and the default limit, and the benchmark
prints the median wall time of each and their ratio (target: 1.0, no count is made), plus
the count alone (``StateStore.counts``, what a run with deletes to judge pays) against the
baseline run.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import duckdb

from mogulsync.config import AppConfig, parse_config
from mogulsync.emulator.server import EmulatorServer
from mogulsync.emulator.settings import EmulatorSettings, Limits
from mogulsync.sync.engine import SyncEngine
from mogulsync.sync.state import StateStore

SYNC = "customers"


def project(tmp: Path, server: EmulatorServer, rows: int) -> AppConfig:
    """One customer sync with ``on_delete: delete`` over a DuckDB model of ``rows`` rows."""
    db = duckdb.connect(str(tmp / "w.duckdb"))
    db.execute(
        "create or replace table accounts as select 'acct-' || i as id,"
        f" 'Company ' || i as name from range({rows}) t(i)"
    )
    db.close()
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
                    "mapping": {"external_id": "id", "name": "name"},
                    "custom_attributes": "none",
                    "on_delete": "delete",
                }
            },
        },
        env={"K": server.api_key},
    )


def without_limit(config: AppConfig) -> AppConfig:
    """The same project with ``max_deletes: null`` (same state: the definition is unchanged)."""
    sync = config.syncs[SYNC].model_copy(update={"max_deletes": None})
    return config.model_copy(update={"syncs": {SYNC: sync}})


async def timed(config: AppConfig, rows: int) -> float:
    """Seconds of one no-change re-run."""
    started = time.perf_counter()
    record = await SyncEngine(config).run(SYNC)
    seconds = time.perf_counter() - started
    assert (record.status.value, record.rows.unchanged) == ("success", rows), record.message
    return seconds


def count_alone(config: AppConfig) -> float:
    """Seconds of the guard's own work: counting the snapshot."""
    store = StateStore(config.state_dir)
    try:
        started = time.perf_counter()
        store.counts(SYNC)
        return time.perf_counter() - started
    finally:
        store.close()


async def main(rows: int, rounds: int) -> None:
    unlimited = Limits(rate_limit=0, max_connections=0)
    settings = EmulatorSettings(limits=unlimited)
    with tempfile.TemporaryDirectory() as name, EmulatorServer(settings) as server:
        tmp = Path(name)
        guarded = project(tmp, server, rows)
        baseline = without_limit(guarded)
        first = await SyncEngine(guarded).run(SYNC)
        assert first.rows.succeeded == rows, first.message
        timings: dict[str, list[float]] = {"baseline": [], "guarded": []}
        for _ in range(rounds):  # alternated: drift of the machine hits both alike
            timings["baseline"].append(await timed(baseline, rows))
            timings["guarded"].append(await timed(guarded, rows))
        counts = [count_alone(guarded) for _ in range(rounds)]
    base = statistics.median(timings["baseline"])
    guard = statistics.median(timings["guarded"])
    count = statistics.median(counts)
    print(f"no-change re-run of {rows:,} rows, median of {rounds}:")
    print(f"  max_deletes: null (baseline)  {base:.2f} s")
    print(f"  default max_deletes            {guard:.2f} s  ratio {guard / base:.3f}")
    print(f"  the snapshot count alone       {count:.3f} s  = {count / base:.1%} of the baseline")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(main(args.rows, args.rounds))

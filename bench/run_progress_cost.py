"""What writing a running run's counts to the run history costs (``runs.store.progress``).

    .venv/bin/python bench/run_progress_cost.py [--rows 3000] [--repeat 3]

Three runs of the same sync (every row created over REST, the emulator without limits, so
the engine and the history are the bottleneck, not ChartMogul) in one process, in turn:

- **baseline**: no progress write at all (the counts reach the history at the end only,
  as before);
- **default**: ``PROGRESS_EVERY_S`` = 2 s (on its own), plus the ride on every request-log
  write;
- **worst case**: ``PROGRESS_EVERY_S`` = 0: a write (its own commit) at every row's end.

It prints each mode's median wall time, its ratio to the baseline, and the progress
writes (``UPDATE runs``) each run made. Each run syncs a fresh data source (so every row
is a create) with a fresh ``state_dir``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import duckdb

from mogulsync.chartmogul import ClientSettings
from mogulsync.config import AppConfig, parse_config
from mogulsync.emulator.server import EmulatorServer
from mogulsync.emulator.settings import EmulatorSettings, Limits
from mogulsync.runs import store as store_module
from mogulsync.sync.engine import SyncEngine

DEFAULT_EVERY_S = store_module.PROGRESS_EVERY_S
MODES: dict[str, float | None] = {
    "baseline": None,
    "default": DEFAULT_EVERY_S,
    "worst case": 0.0,
}


def _config(server: EmulatorServer, tmp: Path, run: int) -> AppConfig:
    return parse_config(
        {
            "chartmogul": {"api_key": "${K}", "base_url": server.base_url},
            "state_dir": str(tmp / f"state-{run}"),
            "warehouses": {"main": f"duckdb:///{tmp / 'w.duckdb'}"},
            "models": {"a": {"warehouse": "main", "table": "a", "primary_key": "id"}},
            "syncs": {
                "c": {
                    "model": "a",
                    "object": "customer",
                    "data_source": f"bench-{run}",
                    "mapping": {"external_id": "id", "name": "name"},
                }
            },
        },
        env={"K": server.api_key},
    )


async def _one(config: AppConfig, every_s: float | None, writes: list[int]) -> float:
    """One run; ``every_s`` None: no progress written at all (the code before it)."""
    store_module.PROGRESS_EVERY_S = every_s if every_s is not None else DEFAULT_EVERY_S
    settings = ClientSettings(
        api_key=config.chartmogul.api_key, base_url=config.chartmogul.base_url,
        rate_limit=100_000, max_in_flight=20,
    )  # fmt: skip
    store = store_module.RunStore
    original_write, original_progress = store._write_progress, store.progress  # noqa: SLF001
    counted = 0

    def counting(self: store_module.RunStore) -> Any:
        nonlocal counted
        written = original_write(self) if every_s is not None else None
        counted += written is not None
        return written

    def progress(self: store_module.RunStore, record: Any) -> None:
        if every_s is not None:
            original_progress(self, record)

    store._write_progress = counting  # type: ignore[method-assign]  # noqa: SLF001
    store.progress = progress  # type: ignore[method-assign]
    try:
        started = time.perf_counter()
        record = await SyncEngine(config, settings=settings).run("c", bulk=False)
        elapsed = time.perf_counter() - started
    finally:
        store._write_progress = original_write  # type: ignore[method-assign]  # noqa: SLF001
        store.progress = original_progress  # type: ignore[method-assign]
    assert record.status.value == "success", record.message
    writes.append(counted)
    return elapsed


async def main(rows: int, repeat: int) -> None:
    unlimited = EmulatorSettings(limits=Limits(rate_limit=0, max_connections=0))
    times: dict[str, list[float]] = {mode: [] for mode in MODES}
    writes: dict[str, list[int]] = {mode: [] for mode in MODES}
    with tempfile.TemporaryDirectory() as name, EmulatorServer(unlimited) as server:
        tmp = Path(name)
        db = duckdb.connect(str(tmp / "w.duckdb"))
        db.execute(
            f"create table a as select 'a' || i as id, 'Co ' || i as name from range({rows}) t(i)"
        )
        db.close()
        run = 0
        for _ in range(repeat):  # interleaved: a slow spell of the machine hits every mode
            for mode, every_s in MODES.items():
                run += 1
                times[mode].append(await _one(_config(server, tmp, run), every_s, writes[mode]))
    base = statistics.median(times["baseline"])
    print(f"{rows} rows created over REST, median of {repeat} runs per mode")
    for mode in MODES:
        median = statistics.median(times[mode])
        print(
            f"  {mode:10} {median:6.2f} s  ratio to baseline {median / base:5.3f}"
            f"  progress writes per run: {sorted(set(writes[mode]))}"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=3000)
    parser.add_argument("--repeat", type=int, default=3)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.rows, arguments.repeat))

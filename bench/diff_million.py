"""Diff of a 1,000,000-row model against the embedded state: wall time and peak RSS.

    .venv/bin/python bench/diff_million.py [--rows 1000000] [--profile]

A DuckDB customer model (external id, name, email, country and three custom attributes) is
written, and the embedded snapshot is populated *directly through the StateStore API*: every
row mapped by the sync's own mapper, marked in flight and recorded as accepted with that
digest — nothing is sent to an emulator. Then, each in a fresh process so its peak RSS
(``ru_maxrss``) is its own:

* baseline: the bare warehouse read (the same ``SqlAlchemySource.stream`` a run uses, no
  processing), measured in the same run;
* ``sync plan`` over the model: read → digest → classify every row, mapping only the rows
  to act on (none here; zero writes);
* ``sync run`` with nothing changed: the same plus the run's bookkeeping (0 API writes).

Targets (issue 4): ≤ 15 s and ≤ 1.5 GB on 2 cores. ``--profile`` prints the top functions of
a cProfile of the plan instead.

``--postgres`` adds the same model in a local PostgreSQL (``mogulsync.testing``) with
``state: warehouse``: the snapshot is populated inside the warehouse with one
``INSERT … SELECT`` of the row hashes the warehouse-native diff computes, then a no-change
``sync run`` is timed (the diff runs in PostgreSQL; only changed rows would leave it).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import pstats
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import duckdb

from mogulsync.config import AppConfig, parse_config
from mogulsync.emulator.server import EmulatorServer
from mogulsync.sync.batch import classify_batch, prepare
from mogulsync.sync.connect import client_settings, model_of, open_source
from mogulsync.sync.engine import SyncEngine
from mogulsync.sync.plan import plan_sync
from mogulsync.sync.state import RowResult, StateStore

SYNC = "customers"
TARGET_SECONDS = 15.0
TARGET_RSS_MB = 1536.0
KIB_PER_MB = 1024
#: rows of the populate step per state transaction
POPULATE_CHUNK = 20_000
PROFILE_LINES = 25


def write_model(path: Path, rows: int) -> None:
    """A customer model of ``rows`` rows with typical columns."""
    db = duckdb.connect(str(path))
    db.execute(
        "create or replace table customers as select 'cus-' || i as id,"
        " 'Company ' || i as name, 'user' || i || '@example.com' as email,"
        " ['US', 'GB', 'DE', 'FR'][i % 4 + 1] as country, (i % 50)::INTEGER as seats,"
        " 'segment-' || mod(i, 7) as segment,"
        " TIMESTAMP '2024-01-01' + to_days((i % 1000)::INTEGER) as signed_up"
        f" from range({rows}) t(i)"
    )
    db.close()


def project(tmp: Path, base_url: str, api_key: str) -> AppConfig:
    """The benchmark's project: one DuckDB warehouse, one customer sync."""
    return parse_config(
        {
            "chartmogul": {"api_key": "${K}", "base_url": base_url},
            "state_dir": str(tmp / "state"),
            "warehouses": {"main": f"duckdb:///{tmp / 'w.duckdb'}"},
            "models": {"m": {"warehouse": "main", "table": "customers", "primary_key": "id"}},
            "syncs": {SYNC: _sync_body()},
        },
        env={"K": api_key},
    )


def populate(config: AppConfig) -> int:
    """Snapshot every row as accepted, with the digest the sync's mapper produces."""
    model = model_of(config, SYNC)
    source = open_source(config, model)
    state = StateStore(config.state_dir)
    prepared = prepare(config, SYNC, source, source.compile(model))
    state.start_seen()
    count = 0
    try:
        for batch in source.stream(model):
            rows = [item.row for item in classify_batch(prepared, state, batch, full=False).rows]
            for start in range(0, len(rows), POPULATE_CHUNK):
                chunk = rows[start : start + POPULATE_CHUNK]
                state.mark_inflight(SYNC, [(row.key, row.digest, None) for row in chunk])
                state.record(
                    SYNC,
                    [RowResult(r.key, ok=True, uuid=f"cus_{r.key}", ref=r.key) for r in chunk],
                )
            count += len(rows)
        state.save_definition(SYNC, prepared.definition)
    finally:
        state.close()
        source.close()
    return count


def measure(mode: str, tmp: Path, base_url: str, api_key: str) -> dict[str, Any]:
    """One measurement in this (fresh) process."""
    config = project(tmp, base_url, api_key)
    started = time.perf_counter()
    result: dict[str, Any] = {}
    if mode == "read":
        model = model_of(config, SYNC)
        source = open_source(config, model)
        result["rows"] = sum(len(batch) for batch in source.stream(model))
        source.close()
    elif mode == "plan":
        plan = asyncio.run(plan_sync(config, SYNC, client_settings(config)))
        result["counts"] = plan.counts
    elif mode == "run":
        record = asyncio.run(SyncEngine(config).run(SYNC))
        result["status"] = str(record.status)
        result["unchanged"] = record.rows.unchanged
        result["changed"] = record.rows.changed + record.rows.added
        result["api_calls"] = record.api_calls
    elif mode == "pg-run":
        pg_config = pg_project(tmp, base_url, api_key, (tmp / "pg.url").read_text())
        record = asyncio.run(SyncEngine(pg_config).run(SYNC))
        result["status"] = str(record.status)
        result["unchanged"] = record.rows.unchanged
        result["changed"] = record.rows.changed + record.rows.added
        result["api_calls"] = record.api_calls
    elif mode == "profile":
        profiler = cProfile.Profile()
        profiler.enable()
        asyncio.run(plan_sync(config, SYNC, client_settings(config)))
        profiler.disable()
        pstats.Stats(profiler).sort_stats(
            sys.argv[-1] if len(sys.argv) > 6 else "tottime"
        ).print_stats(PROFILE_LINES)
    result["seconds"] = time.perf_counter() - started
    result["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / KIB_PER_MB
    return result


def in_child(mode: str, tmp: Path, base_url: str, api_key: str) -> dict[str, Any]:
    """Run :func:`measure` in a fresh interpreter (its own peak RSS)."""
    out = subprocess.run(
        [sys.executable, __file__, "--child", mode, str(tmp), base_url, api_key],
        check=True,
        capture_output=mode != "profile",
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1]) if mode != "profile" else {}


def pg_project(tmp: Path, base_url: str, api_key: str, url: str) -> AppConfig:
    """The same sync over PostgreSQL, its snapshot kept in the warehouse."""
    raw: dict[str, Any] = {
        "chartmogul": {"api_key": "${K}", "base_url": base_url},
        "state_dir": str(tmp / "pg-state"),
        "warehouses": {"main": url},
        "models": {"m": {"warehouse": "main", "table": "customers", "primary_key": "id"}},
        "syncs": {SYNC: {**_sync_body(), "state": "warehouse"}},
    }
    return parse_config(raw, env={"K": api_key})


def _sync_body() -> dict[str, Any]:
    return {
        "model": "m",
        "object": "customer",
        "data_source": "bench",
        "mapping": {"external_id": "id"},
    }


def populate_postgres(tmp: Path, base_url: str, api_key: str, url: str, rows: int) -> float:
    """Write the model into PostgreSQL and snapshot every row as accepted; seconds taken."""
    import sqlalchemy as sa

    from mogulsync.sync.state_open import open_state
    from mogulsync.sync.warehouse_diff import WarehouseState, open_diff
    from mogulsync.sync.warehouse_diff.sql import HASH_COLUMN, KEY_COLUMN

    started = time.perf_counter()
    engine = sa.create_engine(url)
    with engine.begin() as db:
        db.exec_driver_sql(
            "create table customers as select 'cus-' || i as id, 'Company ' || i as name,"
            " 'user' || i || '@example.com' as email,"
            " (array['US', 'GB', 'DE', 'FR'])[mod(i, 4) + 1] as country, mod(i, 50)::integer as seats,"
            " 'segment-' || mod(i, 7) as segment,"
            " timestamp '2024-01-01' + make_interval(days => mod(i, 1000)::integer) as signed_up"
            f" from generate_series(0, {rows - 1}) i"
        )
        db.exec_driver_sql("analyze customers")
    engine.dispose()
    config = pg_project(tmp, base_url, api_key, url)
    state = open_state(config, config.state_dir, SYNC)
    assert isinstance(state, WarehouseState)
    model = model_of(config, SYNC)
    source = open_source(config, model)
    schema = source.compile(model)
    prepared = prepare(config, SYNC, source, schema)
    state.definition_changed(SYNC, prepared.definition)
    state.save_definition(SYNC, prepared.definition)
    changes = open_diff(state, prepared, schema).query.changes(None, full=True).subquery()
    columns = ["sync", "pk", "digest", "status", "updated_at"]
    select = sa.select(
        sa.literal(SYNC), changes.c[KEY_COLUMN], changes.c[HASH_COLUMN], sa.literal("synced"),
        sa.func.now(),
    )  # fmt: skip
    with state.engine.begin() as db:
        db.execute(sa.insert(state.snapshot).from_select(columns, select))
    state.close()
    source.close()
    return time.perf_counter() - started


def postgres_part(rows: int, tmp: Path, server: EmulatorServer) -> dict[str, Any]:
    """The no-change run with the warehouse-native diff on PostgreSQL."""
    from mogulsync.testing import PostgresServer

    with PostgresServer() as pg:
        (tmp / "pg.url").write_text(pg.url)
        setup = populate_postgres(tmp, server.base_url, server.api_key, pg.url, rows)
        print(f"setup: PostgreSQL model and warehouse snapshot in {setup:.1f}s (not measured)")
        return in_child("pg-run", tmp, server.base_url, server.api_key)


def main(rows: int, *, profile: bool, postgres: bool) -> None:
    with tempfile.TemporaryDirectory() as name, EmulatorServer() as server:
        tmp = Path(name)
        started = time.perf_counter()
        write_model(tmp / "w.duckdb", rows)
        config = project(tmp, server.base_url, server.api_key)
        populated = populate(config)
        print(f"setup: {rows:,} rows written, {populated:,} snapshotted as accepted"
              f" in {time.perf_counter() - started:.1f}s (not measured)")  # fmt: skip
        if profile:
            in_child("profile", tmp, server.base_url, server.api_key)
            return
        read = in_child("read", tmp, server.base_url, server.api_key)
        plan = in_child("plan", tmp, server.base_url, server.api_key)
        run = in_child("run", tmp, server.base_url, server.api_key)
        pg = postgres_part(rows, tmp, server) if postgres else None
    assert read["rows"] == rows, read
    assert plan["counts"]["unchanged"] == rows, plan
    assert run["unchanged"] == rows, run
    assert run["changed"] == 0, run
    print(f"{'measurement':<44} {'wall s':>8} {'x read':>7} {'peak RSS MB':>12}")
    lines = [
        ("baseline: bare warehouse read (stream only)", read),
        ("sync plan: read → digest → classify", plan),
        (f"sync run, no change ({run['api_calls']} API calls, 0 writes)", run),
    ]
    for label, found in lines:
        print(
            f"{label:<44} {found['seconds']:>8.2f} {found['seconds'] / read['seconds']:>7.2f}"
            f" {found['rss_mb']:>12.0f}"
        )
    if pg is not None:
        assert pg["unchanged"] == rows, pg
        label = "PostgreSQL, state: warehouse, no-change run"
        print(
            f"{label:<44} {pg['seconds']:>8.2f} {pg['seconds'] / read['seconds']:>7.2f}"
            f" {pg['rss_mb']:>12.0f}"
        )
    worst = max(plan["seconds"], run["seconds"])
    peak = max(plan["rss_mb"], run["rss_mb"])
    print(
        f"target ≤ {TARGET_SECONDS:.0f} s: {'met' if worst <= TARGET_SECONDS else 'MISSED'}"
        f" ({worst:.1f} s); ≤ {TARGET_RSS_MB:.0f} MB:"
        f" {'met' if peak <= TARGET_RSS_MB else 'MISSED'} ({peak:.0f} MB)"
    )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        mode, folder, url, key = sys.argv[2:6]
        print(json.dumps(measure(mode, Path(folder), url, key)))
        sys.exit(0)
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--profile", action="store_true", help="cProfile the plan instead")
    parser.add_argument("--postgres", action="store_true", help="add the warehouse-native diff")
    arguments = parser.parse_args()
    main(arguments.rows, profile=arguments.profile, postgres=arguments.postgres)

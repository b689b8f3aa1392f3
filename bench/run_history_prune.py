"""What the run history's retention costs each run on a long-lived history.

    .venv/bin/python bench/run_history_prune.py [--runs 100000] [--requests 10]

Builds ``runs.sqlite`` as a server left running for a year writes it: ``--runs`` finished
runs spread over 365 days across 5 syncs, each with ``--requests`` logged requests (small
bodies) and one row error. Then, as each run's end does, it prunes with the default
policy (request logs 14 days, runs 90 days, the latest 50 per sync kept):

- the first prune, which deletes a year's backlog down to the policy (once per history),
- the first give-back of the freed pages to the disk (incremental vacuum in steps; with
  ``--legacy``, a file made before incremental vacuum, converted by one VACUUM),
- a steady-state prune (one run's worth past the cutoffs; what every run pays, give-back
  included),

and prints them against the baseline measured in the same run: what a run already does
with the history, ``RunStore.finish`` of one run plus the alert rules' ``latest(20)``;
and the file's size before and after (SQLite pages, WAL checkpointed).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sqlite3
import tempfile
import time
import uuid
from pathlib import Path

from mogulsync.config.run_history import RunHistoryConfig
from mogulsync.runs import RunStatus, RunStore
from mogulsync.runs import store as store_module
from mogulsync.runs.retention import prune_history

SYNCS = ("customers", "plans", "invoices", "contacts", "transactions")
NOW = dt.datetime(2027, 1, 1, tzinfo=dt.UTC)


def build(path: Path, runs: int, requests: int, *, legacy: bool) -> None:
    """A year of history written directly (the store's own inserts would take minutes)."""
    if legacy:  # as versions before incremental vacuum made it
        db = sqlite3.connect(path)
        db.execute("PRAGMA journal_mode = WAL")
        db.executescript(store_module._SCHEMA)  # noqa: SLF001
        db.close()
    RunStore(path.parent).close()  # the schema
    db = sqlite3.connect(path)
    step = dt.timedelta(days=365) / runs
    body = '{"external_id": "acct-1", "name": "Account 1", "email": "a@example.com"}'
    with db:
        for n in range(runs):
            started = (NOW - dt.timedelta(days=365) + n * step).isoformat()
            run_id = f"{n:08d}-{uuid.uuid4().hex[:8]}"
            db.execute(
                "INSERT INTO runs (run_id, sync, status, started_at, finished_at)"
                " VALUES (?, ?, 'partial', ?, ?)",
                (run_id, SYNCS[n % len(SYNCS)], started, started),
            )
            db.execute(
                "INSERT INTO row_errors VALUES (?, 'a2', 'email', 'bad', 'fix it', 'invalid')",
                (run_id,),
            )
            db.executemany(
                "INSERT INTO requests VALUES (?, ?, ?, 'POST', '/v1/customers', '/customers',"
                " 201, 12.5, 1, ?, ?, NULL)",
                [(run_id, seq, started, body, body) for seq in range(1, requests + 1)],
            )
    db.close()


def timed(action: object) -> float:
    started = time.perf_counter()
    action()  # type: ignore[operator]
    return time.perf_counter() - started


def file_mb(path: Path) -> float:
    """The file's size once its WAL is checkpointed (what it occupies at rest)."""
    db = sqlite3.connect(path)
    try:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        db.close()
    return path.stat().st_size / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=10)
    parser.add_argument(
        "--legacy", action="store_true", help="a file made before incremental vacuum"
    )
    args = parser.parse_args()
    policy = RunHistoryConfig()
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp)
        path = state / "runs.sqlite"
        build(path, args.runs, args.requests, legacy=args.legacy)
        size = file_mb(path)
        store = RunStore(state)
        try:
            record = store.start("customers", full=False)
            record.status = RunStatus.SUCCESS

            def baseline() -> None:
                store.finish(record)
                store.latest(sync="customers", limit=20)

            def first_prune() -> None:
                store.prune(
                    runs_before=NOW - dt.timedelta(days=policy.keep_days or 0),
                    requests_before=NOW - dt.timedelta(days=policy.keep_requests_days or 0),
                    keep_last=policy.keep_last,
                )

            base = min(timed(baseline) for _ in range(5))
            first = timed(first_prune)
            reclaimed = []
            give_back = timed(lambda: reclaimed.append(store.reclaim_space()))
            left = store._db.execute("SELECT COUNT(*) FROM runs").fetchone()[0]  # noqa: SLF001
            # one run later: one more run's worth is past each cutoff
            later = NOW + dt.timedelta(days=365) / args.runs
            steady = min(timed(lambda: prune_history(store, policy, later)) for _ in range(5))
        finally:
            store.close()
        after = file_mb(path)
    how = "one VACUUM (conversion)" if reclaimed[0].converted else "incremental steps"
    kind = "older file, auto_vacuum NONE" if args.legacy else "incremental vacuum"
    print(f"history: {args.runs:,} runs x {args.requests} requests ({kind})")
    print(f"baseline (finish + latest(20)): {base * 1e3:8.2f} ms")
    print(f"first prune (a year's backlog): {first * 1e3:8.2f} ms  ({first / base:,.0f}x)")
    print(
        f"first give-back ({how}): {give_back * 1e3:8.2f} ms  ({give_back / base:,.0f}x),"
        f" {reclaimed[0].pages:,} pages"
    )
    print(f"steady prune (each run):        {steady * 1e3:8.2f} ms  ({steady / base:,.1f}x)")
    print(f"runs kept: {left:,}")
    print(f"file: {size:,.1f} MB before, {after:,.1f} MB after ({after / size:.2f}x)")


if __name__ == "__main__":
    main()

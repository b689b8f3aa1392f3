"""``run_history.keep_errors_days``: old runs' row errors go, the runs and counts stay.

A sync whose rows stay invalid records every one of them again on each run (measured:
2,000 invalid rows, 300 KB of ``runs.sqlite`` a run), and the row errors were kept as
long as the runs (90 days): a sync every 15 minutes kept 8,640 runs' worth, 2.6 GB. The
retention's clock is the ``now`` it is given, never a wait.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

from mogulsync.config.run_history import RunHistoryConfig
from mogulsync.runs import RowError, RunStatus, RunStore
from mogulsync.runs.retention import prune_history

DAY = dt.timedelta(days=1)
ERRORS_PER_RUN = 3


def _partial_runs(store: RunStore, count: int) -> list[str]:
    """``count`` finished runs of one sync, each with its row errors."""
    run_ids = []
    for _ in range(count):
        record = store.start("customers", full=False)
        store.add_errors(
            record.run_id,
            [
                RowError(f"a{n}", "email", "not an email", "fix the address", "invalid")
                for n in range(ERRORS_PER_RUN)
            ],
        )
        record.status = RunStatus.PARTIAL
        store.finish(record)
        run_ids.append(record.run_id)
    return run_ids


def _errors_by_run(state_dir: Path) -> dict[str, int]:
    db = sqlite3.connect(state_dir / "runs.sqlite")
    try:
        rows = db.execute(
            "SELECT r.run_id, COUNT(e.run_id) FROM runs r"
            " LEFT JOIN row_errors e ON e.run_id = r.run_id GROUP BY r.run_id"
        )
        return dict(rows.fetchall())
    finally:
        db.close()


def test_row_errors_of_runs_older_than_keep_errors_days_go(tmp_path: Path) -> None:
    """keep_errors_days 14, keep_last 2: two weeks on, the older runs keep their record
    and counts but lose their row errors; the latest 2 stay whole."""
    store = RunStore(tmp_path)
    try:
        run_ids = _partial_runs(store, 5)
        policy = RunHistoryConfig(keep_errors_days=14, keep_last=2)
        now = dt.datetime.now(dt.UTC)
        prune_history(store, policy, now + 13 * DAY)
        assert _errors_by_run(tmp_path) == dict.fromkeys(run_ids, ERRORS_PER_RUN)
        prune_history(store, policy, now + 15 * DAY)
        old, latest = run_ids[:3], run_ids[3:]
        assert _errors_by_run(tmp_path) == {
            **dict.fromkeys(old, 0),
            **dict.fromkeys(latest, ERRORS_PER_RUN),
        }
        record = store.get(old[0])
        assert record.status is RunStatus.PARTIAL
        # what was deleted is noted, so the run's pages do not read as a clean run
        assert [store.errors_deleted(run_id) for run_id in run_ids] == [3, 3, 3, 0, 0]
        # a run deleted whole takes that note along
        prune_history(store, RunHistoryConfig(keep_days=20, keep_last=2), now + 21 * DAY)
        assert [store.errors_deleted(run_id) for run_id in old] == [0, 0, 0]
        left = store._db.execute("SELECT COUNT(*) FROM pruned_row_errors").fetchone()
        assert left == (0,)
    finally:
        store.close()


def test_the_default_is_14_days_and_null_keeps_them_with_the_run(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    try:
        run_ids = _partial_runs(store, 3)
        assert RunHistoryConfig().keep_errors_days == 14
        keep = RunHistoryConfig(keep_errors_days=None, keep_last=1)
        prune_history(store, keep, dt.datetime.now(dt.UTC) + 60 * DAY)
        assert _errors_by_run(tmp_path) == dict.fromkeys(run_ids, ERRORS_PER_RUN)
    finally:
        store.close()

"""``run_history:`` cutoffs that lie further back than a datetime can say.

``keep_days: .inf`` or ``1000000`` (a user's "keep the runs for ever") made the cutoff
overflow; the retention caught that and skipped the whole prune, request logs included,
with a warning on every run. Such a cutoff keeps everything it covers, and only that.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

import pytest

from mogulsync.chartmogul.request_log import RequestLogEntry
from mogulsync.config.run_history import RunHistoryConfig
from mogulsync.runs import RunStatus, RunStore
from mogulsync.runs.retention import prune_history

DAY = dt.timedelta(days=1)


def _finished_runs(store: RunStore, count: int) -> list[str]:
    """``count`` finished runs of one sync, each with one logged request."""
    run_ids = []
    for _ in range(count):
        record = store.start("customers", full=False)
        entry = RequestLogEntry(
            "GET", "/v1/customers", "/customers", 200, 1.0, 1, None, "{}", None,
            dt.datetime.now(dt.UTC),
        )  # fmt: skip
        store.add_request(record.run_id, entry)
        record.status = RunStatus.SUCCESS
        store.finish(record)
        run_ids.append(record.run_id)
    return run_ids


def _logged(state_dir: Path) -> tuple[int, int]:
    """(runs, runs with a request log) in the history."""
    db = sqlite3.connect(state_dir / "runs.sqlite")
    try:
        runs = db.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
        logged = db.execute("SELECT COUNT(DISTINCT run_id) FROM requests").fetchone()[0]
    finally:
        db.close()
    return runs, logged


@pytest.mark.parametrize("keep_days", [float("inf"), 1_000_000.0, 1e12])
def test_a_keep_days_beyond_the_calendar_keeps_runs_and_still_prunes_request_logs(
    tmp_path: Path, keep_days: float
) -> None:
    """keep_days too large for a date keeps every run; keep_requests_days still applies."""
    store = RunStore(tmp_path)
    try:
        _finished_runs(store, 3)
        policy = RunHistoryConfig(keep_days=keep_days, keep_requests_days=1, keep_last=1)
        prune_history(store, policy, dt.datetime.now(dt.UTC) + 2 * DAY)
    finally:
        store.close()
    assert _logged(tmp_path) == (3, 1)


def test_a_keep_requests_days_beyond_the_calendar_keeps_logs_and_still_prunes_runs(
    tmp_path: Path,
) -> None:
    """The other way round: request logs kept for ever, runs past keep_days still go."""
    store = RunStore(tmp_path)
    try:
        _finished_runs(store, 3)
        policy = RunHistoryConfig(keep_days=1, keep_requests_days=float("inf"), keep_last=1)
        prune_history(store, policy, dt.datetime.now(dt.UTC) + 2 * DAY)
    finally:
        store.close()
    assert _logged(tmp_path) == (1, 1)

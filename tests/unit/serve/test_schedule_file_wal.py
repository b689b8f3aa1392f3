"""``schedule.sqlite`` is written by `serve` (the schedule, the extract runs) and by `extract
run` from cron (its extract runs) at once: it is in WAL mode, as runs.sqlite and the queue
are, so a reader and a writer do not wait for each other.

Two connections, in turn, no threads and no clock: the busy timeout is set to zero for the
test, so a connection that would have to wait fails at once ("database is locked") rather
than after 30 seconds.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from mogulsync import _sqlite_file
from mogulsync.config.serve import ScheduleConfig
from mogulsync.extract.history import HISTORY_FILE, ExtractHistory, ExtractRun
from mogulsync.serve.schedule import Job
from mogulsync.serve.scheduler import SCHEDULE_FILE, JobState, ScheduleStore

JOB = Job("orders", "sync", ScheduleConfig(every="1h"))
NINE = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
TEN = dt.datetime(2026, 3, 2, 10, 0, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def _never_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_sqlite_file, "BUSY_TIMEOUT_MS", 0)


@pytest.fixture
def other(tmp_path: Path) -> Iterator[Callable[[], sqlite3.Connection]]:
    """Opens another process's connection to the file (after the stores made it)."""
    opened: list[sqlite3.Connection] = []

    def connect() -> sqlite3.Connection:
        opened.append(sqlite3.connect(tmp_path / SCHEDULE_FILE, timeout=0, isolation_level=None))
        return opened[-1]

    yield connect
    for conn in opened:
        conn.close()


def _journal_mode(path: Path) -> str:
    conn = sqlite3.connect(path)
    try:
        return str(conn.execute("PRAGMA journal_mode").fetchone()[0])
    finally:
        conn.close()


def test_the_schedule_file_is_in_wal_mode_whichever_opens_it_first(tmp_path: Path) -> None:
    assert HISTORY_FILE == SCHEDULE_FILE
    ExtractHistory(tmp_path / "a").close()  # `extract run` from cron before serve ever ran
    ScheduleStore(tmp_path / "b").close()
    assert _journal_mode(tmp_path / "a" / HISTORY_FILE) == "wal"
    assert _journal_mode(tmp_path / "b" / SCHEDULE_FILE) == "wal"


def test_a_reader_is_not_held_up_by_a_writers_open_transaction(
    tmp_path: Path, other: Callable[[], sqlite3.Connection]
) -> None:
    """A writer in the middle of a transaction that holds the file's write lock (a commit,
    an extract-history prune, a VACUUM): serve's schedule and `extract run`'s history read
    the last committed state at once. Before (rollback journal) they got "database is
    locked" once their busy timeout ran out."""
    store = ScheduleStore(tmp_path)
    store.save(JobState(JOB, NINE))
    store.close()
    ExtractHistory(tmp_path).close()  # its table made (a write) before the test's writer
    writer = other()
    writer.execute("BEGIN EXCLUSIVE")
    writer.execute("UPDATE jobs SET next_due = ?", (TEN.isoformat(),))
    reader = ScheduleStore(tmp_path)
    history = ExtractHistory(tmp_path)
    try:
        [spec] = writer.execute("SELECT spec FROM jobs").fetchone()
        assert reader.load(JOB.name, spec) == (NINE, None)  # committed, not the open write
        assert history.latest() == []
        writer.execute("COMMIT")
        assert reader.load(JOB.name, spec) == (TEN, None)
    finally:
        reader.close()
        history.close()


def test_a_writer_is_not_held_up_by_a_readers_open_transaction(
    tmp_path: Path, other: Callable[[], sqlite3.Connection]
) -> None:
    """A reader in the middle of a read (the Extract page listing runs): serve saves the
    schedule and `extract run` records its run at once, and the reader keeps the snapshot
    it began with. Before, the writer's commit waited for the read to end."""
    store = ScheduleStore(tmp_path)
    history = ExtractHistory(tmp_path)
    try:
        store.save(JobState(JOB, NINE))
        reader = other()
        reader.execute("BEGIN")
        assert reader.execute("SELECT count(*) FROM jobs").fetchone() == (1,)
        store.save(JobState(JOB, TEN))
        history.save(ExtractRun("extract-1", "running", TEN.isoformat()))
        assert reader.execute("SELECT count(*) FROM extract_runs").fetchone() == (0,)
        reader.execute("COMMIT")
        assert reader.execute("SELECT count(*) FROM extract_runs").fetchone() == (1,)
        assert [run.run_id for run in history.latest()] == ["extract-1"]
    finally:
        store.close()
        history.close()

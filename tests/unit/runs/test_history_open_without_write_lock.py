"""Opening the run history to read it does not need SQLite's write lock.

The retention converts an older ``runs.sqlite`` once with a VACUUM, which holds the write
lock for seconds; ``serve`` opens the history on its event loop for every page and API
call. Opening used to write (``INSERT OR IGNORE`` of the schema version takes the lock
even when it inserts nothing), so every page waited for the VACUUM and the whole server
with it. The lock is held here by a plain ``BEGIN IMMEDIATE`` on another connection (what
a VACUUM holds), with no busy wait: an open that needs the lock fails at once.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from mogulsync.runs import RunStatus, RunStore
from mogulsync.runs import store as store_module


@pytest.fixture
def history(tmp_path: Path) -> Path:
    """A history with one finished run."""
    store = RunStore(tmp_path)
    record = store.start("customers", full=False)
    record.status = RunStatus.SUCCESS
    store.finish(record)
    store.close()
    return tmp_path


@pytest.fixture
def write_locked(history: Path) -> Iterator[sqlite3.Connection]:
    """Another connection holding the history's write lock, as a VACUUM does."""
    holder = sqlite3.connect(history / store_module.RUNS_FILE, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        yield holder
    finally:
        holder.execute("ROLLBACK")
        holder.close()


@pytest.mark.usefixtures("write_locked")
def test_history_opens_and_reads_while_another_connection_writes(
    history: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_module, "_BUSY_TIMEOUT_MS", 0)  # a wait would fail at once
    store = RunStore(history)
    try:
        latest = store.latest()
        assert [run.sync for run in latest] == ["customers"]
        assert store.get(latest[0].run_id).status is RunStatus.SUCCESS
    finally:
        store.close()


def test_a_new_history_still_records_its_schema_version(tmp_path: Path) -> None:
    RunStore(tmp_path).close()
    RunStore(tmp_path).close()  # a second open adds nothing
    db = sqlite3.connect(tmp_path / store_module.RUNS_FILE)
    try:
        rows = db.execute("SELECT key, value FROM meta").fetchall()
    finally:
        db.close()
    assert rows == [("schema_version", str(store_module.SCHEMA_VERSION))]

"""A running run's request log reaches the file within a bounded wait, results or not.

Entries are buffered (one transaction per batch) and written when the sync commits
results; a run with no results for a while (bulk import status polls, a long listing)
used to keep them in memory only, so the run page showed none and a crash lost them.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

import pytest

from mogulsync.chartmogul.request_log import RequestLogEntry
from mogulsync.runs import store as store_module
from mogulsync.runs.models import RunStatus
from mogulsync.runs.store import REQUESTS_FLUSH_AFTER_S, RUNS_FILE, RunStore

MOMENT = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)


def _entry(path: str) -> RequestLogEntry:
    return RequestLogEntry(
        "GET", path, "/data_sources/{uuid}/json_imports/{id}", 200, 1.0, 1, None, "{}", None,
        MOMENT,
    )  # fmt: skip


def test_buffered_requests_are_written_once_the_oldest_has_waited(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = [100.0]
    monkeypatch.setattr(store_module, "_clock", lambda: now[0])
    writer = RunStore(tmp_path)
    reader = RunStore(tmp_path)  # another connection: what the UI and `runs show` see
    try:
        run_id = writer.start("customers", full=False).run_id
        writer.add_request(run_id, _entry("/v1/poll/1"))
        now[0] += REQUESTS_FLUSH_AFTER_S / 2
        writer.add_request(run_id, _entry("/v1/poll/2"))
        assert list(reader.requests(run_id)) == []  # still one batch
        now[0] += REQUESTS_FLUSH_AFTER_S / 2
        writer.add_request(run_id, _entry("/v1/poll/3"))
        assert [e.path for e in reader.requests(run_id)] == [f"/v1/poll/{n}" for n in (1, 2, 3)]
        # the next batch's wait starts with its own first entry
        now[0] += REQUESTS_FLUSH_AFTER_S * 10
        writer.add_request(run_id, _entry("/v1/poll/4"))
        assert len(list(reader.requests(run_id))) == 3
        assert writer.request_count(run_id) == 4
    finally:
        writer.close()
        reader.close()
    reopened = RunStore(tmp_path)
    try:
        assert len(list(reopened.requests(run_id))) == 4  # close wrote the rest
    finally:
        reopened.close()


def test_a_flush_that_cannot_write_keeps_the_entries_and_leaves_no_transaction_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The timed flush runs inside a request hook. When the history is write-locked past
    the busy timeout, the entries were dropped and a transaction was left open: every later
    write of the run (its end included) went into it, and closing rolled it all back."""
    now = [100.0]
    monkeypatch.setattr(store_module, "_clock", lambda: now[0])
    monkeypatch.setattr(store_module, "_BUSY_TIMEOUT_MS", 0)  # locked: fail at once
    writer = RunStore(tmp_path)
    record = writer.start("customers", full=False)
    writer.add_request(record.run_id, _entry("/v1/poll/1"))
    locker = sqlite3.connect(tmp_path / RUNS_FILE, isolation_level=None)
    try:
        locker.execute("BEGIN IMMEDIATE")  # another process writing
        now[0] += REQUESTS_FLUSH_AFTER_S
        writer.add_request(record.run_id, _entry("/v1/poll/2"))  # the flush fails quietly
        assert not writer._db.in_transaction  # the defect's own state
        locker.execute("COMMIT")
    finally:
        locker.close()
    record.status = RunStatus.SUCCESS
    writer.finish(record)  # writes the kept entries, then the run's end
    writer.close()
    reader = RunStore(tmp_path)
    try:
        assert [e.path for e in reader.requests(record.run_id)] == ["/v1/poll/1", "/v1/poll/2"]
        assert reader.get(record.run_id).status is RunStatus.SUCCESS
    finally:
        reader.close()

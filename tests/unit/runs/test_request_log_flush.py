"""A running run's request log reaches the file within a bounded wait, results or not.

Entries are buffered (one transaction per batch) and written when the sync commits
results; a run with no results for a while (bulk import status polls, a long listing)
used to keep them in memory only, so the run page showed none and a crash lost them.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from mogulsync.chartmogul.request_log import RequestLogEntry
from mogulsync.runs import store as store_module
from mogulsync.runs.store import REQUESTS_FLUSH_AFTER_S, RunStore

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

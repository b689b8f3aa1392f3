"""The events queue's file gives the space of pruned events back to the disk.

The retention deleted delivered events but ``events.sqlite`` kept its peak size for good.
Now a new queue file has incremental vacuum and a prune hands the free pages back; a queue
file from an older version is converted once (a VACUUM) when enough of it is free, and an
interrupted conversion loses no event. Sizes are SQLite page counts, never timings.
"""

from __future__ import annotations

import datetime as dt
import logging
import sqlite3
from pathlib import Path

import pytest

from mogulsync import _sqlite_space
from mogulsync.events.queue import EventQueue, GroupCommitWriter, Outcome
from mogulsync.events.schema import normalize

pytestmark = pytest.mark.anyio
OLD = dt.datetime(2024, 3, 1, tzinfo=dt.UTC)
YOUNG = OLD + dt.timedelta(days=10)
TRAITS = {"note": " ".join(["lorem ipsum"] * 100)}


async def _fill(path: Path, old: int = 2000) -> None:
    """``old`` events received long ago, 5 young ones, each with ~1 KB of traits."""
    writer = GroupCommitWriter(path)
    try:
        for when, count, prefix in ((OLD, old, "old"), (YOUNG, 5, "young")):
            events = [
                normalize(
                    {
                        "type": "identify",
                        "userId": f"u{n}",
                        "messageId": f"{prefix}{n}",
                        "traits": TRAITS,
                    },
                    received_at=when,
                )
                for n in range(count)
            ]
            await writer.append(events)
    finally:
        writer.close()


def _deliver_all(queue: EventQueue) -> None:
    queue.record([Outcome(e.seq, "delivered") for e in queue.pending(10_000)])


def _file(path: Path) -> dict[str, int]:
    db = sqlite3.connect(path)
    try:
        return {
            name: int(db.execute(f"PRAGMA {name}").fetchone()[0])
            for name in ("auto_vacuum", "page_count", "freelist_count")
        }
    finally:
        db.close()


def _legacy_queue(path: Path) -> None:
    """An empty queue file as versions before incremental vacuum made it."""
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    db.close()


async def test_a_new_queue_file_shrinks_after_a_prune(tmp_path: Path) -> None:
    path = tmp_path / "events.sqlite"
    await _fill(path)
    queue = EventQueue(path)
    try:
        _deliver_all(queue)
        full = _file(path)
        assert queue.prune(received_before=YOUNG.timestamp() - 1) == 2000
        assert [e.message_id for e in queue.by_status("delivered")] == [
            f"young{n}" for n in reversed(range(5))
        ]
    finally:
        queue.close()
    after = _file(path)
    assert full["auto_vacuum"] == after["auto_vacuum"] == 2
    assert after["freelist_count"] == 0
    assert after["page_count"] * 10 < full["page_count"]


async def test_an_older_queue_file_is_converted_once_and_an_interruption_loses_nothing(
    tmp_path: Path, monkeypatch, caplog
) -> None:
    monkeypatch.setattr(_sqlite_space, "CONVERT_MIN_FREE_PAGES", 100)
    path = tmp_path / "events.sqlite"
    _legacy_queue(path)
    await _fill(path)
    queue = EventQueue(path)
    try:
        assert _file(path)["auto_vacuum"] == 0
        # the first half delivered and pruned; the rest still pending
        pending = queue.pending(10_000)
        queue.record([Outcome(e.seq, "delivered") for e in pending[:1000]])
        vacuuming: list[str] = []
        queue._conn.set_trace_callback(
            lambda sql: vacuuming.append(sql) if sql == "VACUUM" else None
        )
        queue._conn.set_progress_handler(lambda: len(vacuuming) > 0, 1)
        with caplog.at_level(logging.WARNING):
            assert queue.prune(received_before=YOUNG.timestamp() - 1) == 1000
        queue._conn.set_progress_handler(None, 0)
        queue._conn.set_trace_callback(None)
        interrupted = _file(path)
        assert "freed space not given back yet" in caplog.text, (vacuuming, interrupted)
        left = [e.message_id for e in queue.pending(10_000)]
        # the next prune (nothing more to delete) converts the file
        assert queue.prune(received_before=YOUNG.timestamp() - 1) == 0
        assert [e.message_id for e in queue.pending(10_000)] == left
    finally:
        queue.close()
    assert vacuuming == ["VACUUM"]
    assert left == [e.message_id for e in pending[1000:]]
    assert interrupted["auto_vacuum"] == 0
    assert interrupted["freelist_count"] >= 100
    done = _file(path)
    assert done["auto_vacuum"] == 2
    assert done["freelist_count"] == 0
    assert done["page_count"] < interrupted["page_count"] - interrupted["freelist_count"] // 2

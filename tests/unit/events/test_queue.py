"""The durable queue: group commit, duplicate messageIds, outcomes and replays."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import sqlite3
import threading
from pathlib import Path

import pytest

from mogulsync.events.queue import EventQueue, GroupCommitWriter, Outcome, connect
from mogulsync.events.schema import batch_envelope, normalize

RECEIVED = dt.datetime(2024, 3, 1, tzinfo=dt.UTC)


def event(message_id: str, **extra):
    return normalize(
        {"type": "identify", "userId": "u", "messageId": message_id, **extra}, received_at=RECEIVED
    )


@pytest.mark.anyio
async def test_concurrent_appends_share_commits_and_duplicates_are_stored_once(
    tmp_path: Path,
) -> None:
    """Appends queued while a commit is in progress share one commit; a repeat is stored once."""
    writer = GroupCommitWriter(tmp_path / "q.sqlite")
    # Another connection holds the write lock, so the writer's first transaction waits
    # while every other append queues up behind it: no dependence on thread speed.
    hold = connect(tmp_path / "q.sqlite")
    try:
        hold.execute("BEGIN IMMEDIATE")
        pending = [asyncio.ensure_future(writer.append([event(f"m{i}")])) for i in range(200)]
        await asyncio.sleep(0)  # every task runs up to its await: all 200 are handed in
        hold.execute("ROLLBACK")
        stored = await asyncio.gather(*pending)
        grouped = writer.commits
        again = await writer.append([event("m5"), event("m-new")])
    finally:
        hold.close()
        writer.close()
    assert stored == [1] * 200
    assert again == 1
    # the group being committed when the lock freed, then one group of everything queued
    assert grouped <= 2
    assert writer.commits == grouped + 1
    queue = EventQueue(tmp_path / "q.sqlite")
    assert queue.counts()["pending"] == 201
    assert queue.counters()["duplicates"] == 1
    assert [e.message_id for e in queue.pending(3)] == ["m0", "m1", "m2"]


@pytest.mark.anyio
async def test_rejected_events_are_stored_with_their_reason(tmp_path: Path) -> None:
    """An event breaking the spec is kept as rejected, visible with its reason."""
    writer = GroupCommitWriter(tmp_path / "q.sqlite")
    try:
        await writer.append(
            [normalize({"type": "identify", "messageId": "bad"}, received_at=RECEIVED)]
        )
    finally:
        writer.close()
    queue = EventQueue(tmp_path / "q.sqlite")
    [rejected] = queue.by_status("rejected")
    assert rejected.message_id == "bad"
    assert "no_user_anon_id" in (rejected.reason or "")


@pytest.mark.anyio
async def test_outcomes_dead_letters_and_replay(tmp_path: Path) -> None:
    """Outcomes are recorded; replay puts dead letters back as fresh pending events."""
    writer = GroupCommitWriter(tmp_path / "q.sqlite")
    try:
        await writer.append([event("a"), event("b"), event("c")])
    finally:
        writer.close()
    queue = EventQueue(tmp_path / "q.sqlite")
    a, b, c = queue.pending(10)
    queue.record(
        [
            Outcome(a.seq, "delivered", attempts=1),
            Outcome(b.seq, "dead", "boom", attempts=8),
            Outcome(c.seq, "pending", "later", attempts=1, next_attempt_at=99.0),
        ],
        {"api_calls": 3},
    )
    assert queue.counts() == {"pending": 1, "delivered": 1, "rejected": 0, "skipped": 0, "dead": 1}
    assert queue.counters()["api_calls"] == 3
    [dead] = queue.by_status("dead")
    assert (dead.message_id, dead.reason, dead.attempts) == ("b", "boom", 8)
    assert queue.replay() == 1
    replayed = queue.get("b")
    assert replayed is not None
    assert (replayed.status, replayed.attempts, replayed.reason) == ("pending", 0, None)
    assert queue.replay([a.seq]) == 0  # only dead letters can be replayed


def test_remembered_entities_survive_reopening(tmp_path: Path) -> None:
    """The external id → uuid map is kept in the queue file."""
    queue = EventQueue(tmp_path / "q.sqlite")
    queue.remember("contact", "u1", "con_1", "cus_1")
    queue.close()
    reopened = EventQueue(tmp_path / "q.sqlite")
    assert reopened.entity("contact", "u1") == ("con_1", "cus_1")
    reopened.forget("contact", "u1")
    assert reopened.entity("contact", "u1") is None


DAY = 86_400.0


@pytest.mark.anyio
async def test_prune_deletes_old_finished_events_only_and_ends_their_deduplication(
    tmp_path: Path,
) -> None:
    """Old delivered/rejected/skipped events go; pending, dead and young ones stay."""
    old = RECEIVED
    young = RECEIVED + dt.timedelta(days=10)

    def at(message_id: str, when: dt.datetime, **extra):
        message = {"type": "identify", "userId": "u", "messageId": message_id, **extra}
        return normalize(message, received_at=when)

    writer = GroupCommitWriter(tmp_path / "q.sqlite")
    try:
        await writer.append(
            [
                at("delivered", old),
                at("skipped", old),
                at("pending", old),
                at("dead", old),
                normalize({"type": "identify", "messageId": "rejected"}, received_at=old),
                at("young", young),
            ]
        )
    finally:
        writer.close()
    queue = EventQueue(tmp_path / "q.sqlite")
    seqs = {e.message_id: e.seq for e in queue.pending(10)}
    queue.record(
        [
            Outcome(seqs["delivered"], "delivered"),
            Outcome(seqs["skipped"], "skipped"),
            Outcome(seqs["dead"], "dead", "boom"),
            Outcome(seqs["young"], "delivered"),
        ]
    )
    assert queue.prune(received_before=young.timestamp() - DAY) == 3
    kept = {status: n for status, n in queue.counts().items() if n}
    assert kept == {"pending": 1, "delivered": 1, "dead": 1}
    assert queue.get("delivered") is None
    assert queue.counters()["pruned"] == 3
    writer = GroupCommitWriter(tmp_path / "q.sqlite")
    try:  # a pruned messageId is accepted again; a kept one is still a duplicate
        assert await writer.append([at("delivered", young), at("young", young)]) == 1
    finally:
        writer.close()


def test_a_version_1_queue_file_gains_the_in_flight_marker(tmp_path: Path) -> None:
    """A queue written before the in-flight column existed opens and works."""
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute(
            "CREATE TABLE events(seq INTEGER PRIMARY KEY AUTOINCREMENT,"
            " message_id TEXT NOT NULL UNIQUE, type TEXT NOT NULL, body TEXT NOT NULL,"
            " received_at REAL NOT NULL, status TEXT NOT NULL,"
            " attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at REAL NOT NULL DEFAULT 0,"
            " reason TEXT, updated_at REAL)"
        )
        conn.execute(
            "INSERT INTO events(message_id, type, body, received_at, status)"
            " VALUES ('m1', 'identify', '{}', 0, 'pending')"
        )
    queue = EventQueue(path)
    [event] = queue.pending(10)
    assert (event.message_id, event.inflight) == ("m1", False)
    queue.mark_inflight([event.seq])
    assert [e.inflight for e in queue.pending(10)] == [True]
    queue.record([Outcome(event.seq, "delivered")])
    delivered = queue.get("m1")
    assert delivered is not None
    assert (delivered.status, delivered.inflight) == ("delivered", False)
    # the rebuild to version 3 kept seq and its AUTOINCREMENT high-water mark
    assert delivered.seq == event.seq


def test_a_version_2_queue_file_is_rebuilt_with_per_source_ids(tmp_path: Path) -> None:
    """A version-2 file (messageId unique across keys) keeps its events and seq numbers."""
    path = tmp_path / "v2.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute(
            "CREATE TABLE events(seq INTEGER PRIMARY KEY AUTOINCREMENT,"
            " message_id TEXT NOT NULL UNIQUE, type TEXT NOT NULL, body TEXT NOT NULL,"
            " received_at REAL NOT NULL, status TEXT NOT NULL,"
            " attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at REAL NOT NULL DEFAULT 0,"
            " reason TEXT, updated_at REAL, inflight INTEGER NOT NULL DEFAULT 0)"
        )
        conn.executemany(
            "INSERT INTO events(seq, message_id, type, body, received_at, status)"
            " VALUES (?, ?, 'identify', '{}', 0, 'pending')",
            [(7, "a"), (9, "b")],
        )
    queue = EventQueue(path)
    assert [(e.seq, e.message_id) for e in queue.pending(10)] == [(7, "a"), (9, "b")]
    queue.close()
    assert asyncio.run(_append(path, [event("a"), event("c")], "other-key")) == 2
    queue = EventQueue(path)
    assert [e.seq for e in queue.pending(10)] == [7, 9, 10, 11]


async def _append(path: Path, events: list, source: str = "") -> int:
    writer = GroupCommitWriter(path)
    try:
        return await writer.append(events, source)
    finally:
        writer.close()


@pytest.mark.anyio
async def test_message_ids_are_deduplicated_per_write_key(tmp_path: Path) -> None:
    """The same messageId from two sources is two events; from one source, one."""
    path = tmp_path / "q.sqlite"
    assert await _append(path, [event("same")], "key-a") == 1
    assert await _append(path, [event("same")], "key-b") == 1
    assert await _append(path, [event("same")], "key-a") == 0
    queue = EventQueue(path)
    assert queue.counts()["pending"] == 2
    assert queue.counters()["duplicates"] == 1


@pytest.mark.anyio
async def test_a_shared_envelope_part_is_stored_once(tmp_path: Path) -> None:
    """2,500 messages inheriting one 30 KB context store it once; reads merge it back."""
    context = {"blob": "c" * 30_000}
    messages, defaults = batch_envelope(
        {
            "batch": [
                {"type": "identify", "userId": "u", "messageId": f"m{i}"} for i in range(2500)
            ],
            "context": context,
        }
    )
    events = [normalize(m, received_at=RECEIVED, defaults=defaults) for m in messages]
    path = tmp_path / "q.sqlite"
    assert await _append(path, events) == 2500
    assert await _append(path, events[:1], "other") == 1  # same text: same row
    with sqlite3.connect(path) as conn:
        [(shared_rows, shared_bytes)] = conn.execute(
            "SELECT COUNT(*), SUM(LENGTH(body)) FROM shared"
        ).fetchall()
        [(event_bytes,)] = conn.execute("SELECT SUM(LENGTH(body)) FROM events").fetchall()
    assert shared_rows == 1
    assert shared_bytes < 31_000
    assert event_bytes < 2501 * 300
    queue = EventQueue(path)
    assert all(json.loads(e.body)["context"] == context for e in queue.pending(5))
    # pruning the last events using a shared part deletes it too
    queue.record([Outcome(e.seq, "delivered") for e in queue.pending(5000)])
    queue.prune(received_before=RECEIVED.timestamp() + 1)
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT COUNT(*) FROM shared").fetchone() == (0,)


def test_a_replayed_dead_letter_waits_from_its_replay_in_a_version_3_file(
    tmp_path: Path,
) -> None:
    """A queue file from before replays were stamped opens and gains the stamp: a dead
    letter received long ago, replayed, waits from its replay; an event pending since its
    arrival earlier than that replay is still the one waiting longest."""
    path = tmp_path / "v3.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute(
            "CREATE TABLE events(seq INTEGER PRIMARY KEY AUTOINCREMENT,"
            " source TEXT NOT NULL DEFAULT '', message_id TEXT NOT NULL, type TEXT NOT NULL,"
            " body TEXT NOT NULL, shared_id INTEGER, received_at REAL NOT NULL,"
            " status TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,"
            " next_attempt_at REAL NOT NULL DEFAULT 0, reason TEXT, updated_at REAL,"
            " inflight INTEGER NOT NULL DEFAULT 0, UNIQUE (source, message_id))"
        )
        conn.executemany(
            "INSERT INTO events(message_id, type, body, received_at, status, reason)"
            " VALUES (?, 'identify', '{}', ?, ?, ?)",
            [("old", 100.0, "dead", "refused"), ("new", 5_000.0, "pending", "timeout")],
        )
    queue = EventQueue(path)
    try:
        assert queue.oldest_pending() == (5_000.0, "timeout")
        assert queue.replay(now=9_000.0) == 1
        assert queue.oldest_pending() == (5_000.0, "timeout")  # arrived before the replay
        new = queue.get("new")
        assert new is not None
        queue.record([Outcome(new.seq, "delivered")])
        assert queue.oldest_pending() == (9_000.0, None)  # not 100: the replay's time
    finally:
        queue.close()


def test_close_waits_for_a_call_in_progress_on_another_thread(tmp_path: Path) -> None:
    """At shutdown the alert watch is cancelled, not awaited: its worker thread may still
    be reading the queue when the server closes it. Closing waits for that call to end
    instead of pulling the connection from under it."""
    queue = EventQueue(tmp_path / "q.sqlite")
    in_call = queue._lock  # what every call holds while it uses the connection
    in_call.acquire()  # a watch thread in the middle of a read
    closer = threading.Thread(target=queue.close)
    closer.start()
    try:
        closer.join(timeout=0.5)
        assert closer.is_alive()  # waiting for the call, not closing under it
        assert queue._conn.execute("SELECT COUNT(*) FROM events").fetchone() == (0,)
    finally:
        in_call.release()
    closer.join(timeout=60)
    assert not closer.is_alive()
    with pytest.raises(sqlite3.ProgrammingError):
        queue._conn.execute("SELECT 1")


@pytest.mark.anyio
async def test_the_oldest_pending_age_counts_a_replayed_dead_letter_from_its_replay(
    tmp_path: Path,
) -> None:
    """As the backlog alert does: the Events page and its metric showed a dead letter
    received days ago and replayed now as days old, beside an alert saying it was not."""
    writer = GroupCommitWriter(tmp_path / "q.sqlite")
    try:
        await writer.append([event("old")])
    finally:
        writer.close()
    queue = EventQueue(tmp_path / "q.sqlite")
    try:
        [old] = queue.pending(1)
        queue.record([Outcome(old.seq, "dead", "boom", attempts=8)])
        received = RECEIVED.timestamp()
        assert queue.oldest_pending_age(now=received + 60) is None
        replayed_at = received + 10 * 86_400
        assert queue.replay(now=replayed_at) == 1
        assert queue.oldest_pending_age(now=replayed_at + 30) == 30.0
        second = GroupCommitWriter(tmp_path / "q.sqlite")
        try:
            await second.append([event("new")])
        finally:
            second.close()
        # one that arrived (not replayed) counts from its arrival, received with RECEIVED
        assert queue.oldest_pending_age(now=replayed_at + 30) == 10 * 86_400 + 30.0
    finally:
        queue.close()

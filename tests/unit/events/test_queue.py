"""The durable queue: group commit, duplicate messageIds, outcomes and replays."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import pytest

from mogulsync.events.queue import EventQueue, GroupCommitWriter, Outcome
from mogulsync.events.schema import normalize

RECEIVED = dt.datetime(2024, 3, 1, tzinfo=dt.UTC)


def event(message_id: str, **extra):
    return normalize(
        {"type": "identify", "userId": "u", "messageId": message_id, **extra}, received_at=RECEIVED
    )


@pytest.mark.anyio
async def test_concurrent_appends_share_commits_and_duplicates_are_stored_once(
    tmp_path: Path,
) -> None:
    """Many concurrent appends all become durable; a repeated messageId is stored once."""
    writer = GroupCommitWriter(tmp_path / "q.sqlite")
    try:
        stored = await asyncio.gather(*(writer.append([event(f"m{i}")]) for i in range(200)))
        again = await writer.append([event("m5"), event("m-new")])
    finally:
        writer.close()
    assert sum(stored) == 200
    assert again == 1
    assert writer.commits < 201  # group commit: fewer transactions than requests
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

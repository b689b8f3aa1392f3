"""Stopping the events forwarder while ChartMogul does not answer.

Each of the round's calls retries for up to two minutes, and the entities' first calls
wait for one another (the data source lookup), so a round sending into an outage lasts
many minutes; a stopping server waited for it. Measured: `mogulsync serve` with 50 events
pending, SIGTERM during an outage, was still "Waiting for application shutdown" 15
minutes later. Now the round is cancelled after a grace; the events it was sending stay
pending, marked in flight, and are checked at the next start, as after a crash.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import pytest
import stamina

from mogulsync.config import parse_config
from mogulsync.events.queue import EventQueue, GroupCommitWriter
from mogulsync.events.schema import normalize
from mogulsync.events.server import running_events

pytestmark = pytest.mark.anyio
ENTITIES = 10
#: the grace this test gives the round (the server's is 10 s)
GRACE_S = 0.1
#: a generous bound on the stop (without the grace it takes ENTITIES x ~1 minute)
PATIENCE_S = 60.0


async def _inflight(path: Path) -> int:
    def count() -> int:
        queue = EventQueue(path)
        try:
            return sum(e.inflight for e in queue.pending(limit=100))
        finally:
            queue.close()

    return await asyncio.to_thread(count)


async def test_a_round_sending_into_an_outage_does_not_hold_the_stop(
    dead_url: str, tmp_path: Path
) -> None:
    stamina.set_testing(False)  # the client's real backoff (this folder's fixture skips it)
    raw = {
        "chartmogul": {"api_key": "${CM_KEY}", "base_url": dead_url},
        "state_dir": str(tmp_path / "state"),
        "events": {"write_keys": ["${WRITE_KEY}"], "retry": {"coalesce_window_s": 0}},
    }
    config = parse_config(raw, env={"CM_KEY": "cm-key", "WRITE_KEY": "write-key-123"})
    path = tmp_path / "state" / "events.sqlite"
    now = dt.datetime.now(dt.UTC)
    events = [
        normalize({"type": "identify", "userId": f"u{n}", "messageId": f"m{n}",
                   "traits": {"email": f"u{n}@example.com"}}, received_at=now)
        for n in range(ENTITIES)
    ]  # fmt: skip

    async def serve_then_stop() -> None:
        async with running_events(config, grace_s=GRACE_S) as (_, forwarder):
            assert forwarder is not None
            writer = GroupCommitWriter(path)
            try:
                assert await writer.append(events) == ENTITIES
            finally:
                await asyncio.to_thread(writer.close)
            forwarder.wake()
            while True:  # until the round is sending
                if await _inflight(path):
                    break
                await asyncio.sleep(0.01)

    # the stop comes back although ChartMogul never answers (a liveness bound, not speed)
    await asyncio.wait_for(serve_then_stop(), PATIENCE_S)
    queue = EventQueue(path)
    try:
        assert queue.counts()["pending"] == ENTITIES  # nothing lost, nothing dead-lettered
        assert await _inflight(path) >= 1  # checked before writing, at the next start
    finally:
        queue.close()

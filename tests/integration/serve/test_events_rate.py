"""Events/s on the Events page and in the events status: events received over the last
minute, from the queue's own arrival times, on a clock the test drives."""

from __future__ import annotations

import datetime as dt

import pytest
from tests.integration.serve._support import START, VIEWER, accounts, project, serving

from mogulsync.events.queue import GroupCommitWriter
from mogulsync.events.schema import StoredEvent
from mogulsync.events.server import queue_path
from mogulsync.serve.clock import ManualClock

pytestmark = pytest.mark.anyio


def _arrived(seconds_before_start: float, count: int, tag: str) -> list[StoredEvent]:
    """``count`` events received ``seconds_before_start`` before START (already refused, so
    the forwarder leaves them alone)."""
    at = START.timestamp() - seconds_before_start
    return [
        StoredEvent(f"{tag}-{i}", "track", "{}", received_at=at, rejection="test event")
        for i in range(count)
    ]


async def test_events_per_second_counts_the_last_minute_from_the_first_look(
    emulator_server, tmp_path
):
    """12 events 90 s ago, 18 events 40 s ago, 12 events 10 s ago: 30 in the last minute
    is 0.5/s on the very first look; 30 s later only the last 12 count; later still, 0."""
    # kept forever: pruning goes by the wall clock, and START is a fixed date
    events = {"write_keys": ["${WRITE_KEY}"], "keep_days": None}
    config = project(
        emulator_server, tmp_path, accounts(tmp_path, 1), events=events,
        env={"WRITE_KEY": "segment-write-key-rate-0123"},
    )  # fmt: skip
    writer = GroupCommitWriter(queue_path(config))
    try:
        stored = [*_arrived(90, 12, "old"), *_arrived(40, 18, "mid"), *_arrived(10, 12, "new")]
        assert await writer.append(stored) == len(stored)
    finally:
        writer.close()
    clock = ManualClock(START)
    async with serving(config, clock=clock) as served:
        viewer = served.bearer(VIEWER)
        page = await served.http.get("/events", headers=viewer)
        assert '<dd id="events-rate">0.5</dd>' in page.text
        assert "<dd>42</dd>" in page.text  # rejected: every event is still there
        status = (await served.http.get("/api/v1/events/status", headers=viewer)).json()
        assert status["events_per_s"] == 0.5
        clock.advance(dt.timedelta(seconds=30))
        status = (await served.http.get("/api/v1/events/status", headers=viewer)).json()
        assert status["events_per_s"] == 0.2
        clock.advance(dt.timedelta(seconds=31))
        page = await served.http.get("/events", headers=viewer)
        assert '<dd id="events-rate">0.0</dd>' in page.text

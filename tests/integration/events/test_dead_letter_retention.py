"""``events.keep_dead_days``: dead letters nobody replays stop piling up.

Dead letters are kept for a human by default, so a forwarder left running for months with
a steady trickle of events ChartMogul refuses (a form posting bad country codes) kept
every one of them. With ``keep_dead_days`` the service's forwarder deletes those waiting
longer. The forwarder's clock is driven; waiting for it is a wait for a state.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from mogulsync.config import parse_config
from mogulsync.emulator.server import EmulatorServer
from mogulsync.events.queue import EventQueue
from mogulsync.events.server import EventsService

WRITE_KEY = "wk-dead-0123456789"
DAY_S = 86_400.0
#: a generous bound on waiting for the forwarder's round (it takes milliseconds)
PATIENCE_S = 120.0
REFUSED = {"type": "group", "userId": "x", "groupId": "bad", "messageId": "refused",
           "traits": {"name": "Bad", "address": {"country": "Narnia"}}}  # fmt: skip


class DrivenClock:
    """Real time plus an offset the test moves."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


@pytest.fixture
def service(emulator_server: EmulatorServer, tmp_path: Path) -> Iterator[EventsService]:
    raw = {
        "chartmogul": {"api_key": "${CM_KEY}", "base_url": emulator_server.base_url,
                       "rate_limit": 10_000},
        "state_dir": str(tmp_path / "state"),
        "events": {"write_keys": ["${WRITE_KEY}"], "keep_dead_days": 2,
                   "retry": {"coalesce_window_s": 0}},
    }  # fmt: skip
    config = parse_config(raw, env={"CM_KEY": emulator_server.api_key, "WRITE_KEY": WRITE_KEY})
    with EventsService(config, host="127.0.0.1", port=0, clock=DrivenClock()) as running:
        yield running


def _wait_until(path: Path, status: str, count: int) -> None:
    deadline = time.monotonic() + PATIENCE_S
    while True:
        queue = EventQueue(path)
        try:
            counts = queue.counts()
        finally:
            queue.close()
        if counts[status] == count and counts["pending"] == 0:
            return
        assert time.monotonic() < deadline, counts
        time.sleep(0.01)


def test_a_dead_letter_older_than_keep_dead_days_is_deleted(service: EventsService) -> None:
    clock = service.clock
    assert isinstance(clock, DrivenClock)
    with httpx.Client(base_url=service.base_url, auth=(WRITE_KEY, ""), timeout=30) as http:
        assert http.post("/v1/group", json=REFUSED).status_code == 200
        _wait_until(service.path, "dead", 1)  # refused, and young: kept
        clock.offset += 3 * DAY_S
        identify = {"type": "identify", "userId": "u1", "traits": {"email": "u1@example.com"}}
        assert http.post("/v1/identify", json=identify).status_code == 200  # a round goes
        _wait_until(service.path, "dead", 0)
    queue = EventQueue(service.path)
    try:
        assert queue.counters()["pruned_dead"] == 1
        assert queue.counts()["delivered"] == 1
    finally:
        queue.close()

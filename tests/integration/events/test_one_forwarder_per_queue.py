"""One forwarder per queue file: a second process serving the same queue (``mogulsync serve``
beside ``mogulsync events serve``) stores what it receives and forwards nothing until the
first one stops, then takes over.

Two forwarders read the same pending events and both sent them: a person identified once
became two contacts. The lock is a ``flock`` on a file beside the queue, per open file, so
two forwarders in one test process contend as two processes would.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from pathlib import Path

import httpx
import pytest

from mogulsync._pid_lock import PidFileLock
from mogulsync.config import parse_config
from mogulsync.config.models import AppConfig
from mogulsync.emulator.server import EmulatorServer
from mogulsync.events.queue import EventQueue, GroupCommitWriter
from mogulsync.events.schema import normalize
from mogulsync.events.server import forwarder_lock_path, running_events

from .conftest import entries

pytestmark = pytest.mark.anyio
PEOPLE = 20
#: a bound on waiting for the events to be delivered (a hang guard, not a speed)
PATIENCE_S = 30.0


def _project(tmp_path: Path, emulator: EmulatorServer) -> AppConfig:
    raw = {
        "chartmogul": {"api_key": "${CM_KEY}", "base_url": emulator.base_url},
        "state_dir": str(tmp_path / "state"),
        "events": {"write_keys": ["${WRITE_KEY}"], "retry": {"coalesce_window_s": 0}},
    }
    return parse_config(raw, env={"CM_KEY": emulator.api_key, "WRITE_KEY": "write-key-123"})


async def _append(path: Path, first: int, count: int) -> None:
    now = dt.datetime.now(dt.UTC)
    events = [
        normalize({"type": "identify", "userId": f"u{n}", "messageId": f"m{n}",
                   "traits": {"email": f"u{n}@example.com", "company": {"id": f"c{n}"}}},
                  received_at=now)
        for n in range(first, first + count)
    ]  # fmt: skip
    writer = GroupCommitWriter(path)
    try:
        assert await writer.append(events) == count
    finally:
        await asyncio.to_thread(writer.close)


async def _until_delivered(path: Path, delivered: int) -> None:
    deadline = time.monotonic() + PATIENCE_S
    while True:
        queue = EventQueue(path)
        try:
            counts = queue.counts()
        finally:
            queue.close()
        if counts.get("delivered", 0) >= delivered and counts["pending"] == 0:
            return
        assert time.monotonic() < deadline, counts
        await asyncio.sleep(0.02)


async def test_a_second_forwarder_waits_and_takes_over(
    tmp_path: Path, emulator_server: EmulatorServer, api: httpx.Client
) -> None:
    config = _project(tmp_path, emulator_server)
    path = tmp_path / "state" / "events.sqlite"
    async with running_events(config) as (_, first):
        assert first is not None
        second_stack = running_events(config)
        _, second = await second_stack.__aenter__()
        try:
            assert second is not None
            second._follow_wait_s = 0.01  # look often: the test waits on it
            await _append(path, 0, PEOPLE)
            first.wake()
            await _until_delivered(path, PEOPLE)
            assert first.following is None
            assert second.following is not None  # it never sent: the first one holds the lock
        finally:
            await second_stack.__aexit__(None, None, None)
    assert forwarder_lock_path(path).exists()  # beside the queue file
    # every person became one contact, once, although two forwarders saw the queue
    emails = sorted(c["email"] for c in entries(api, "/contacts", per_page="200"))
    assert emails == sorted(f"u{n}@example.com" for n in range(PEOPLE))


async def test_the_follower_forwards_once_the_first_stops(
    tmp_path: Path, emulator_server: EmulatorServer, api: httpx.Client
) -> None:
    config = _project(tmp_path, emulator_server)
    path = tmp_path / "state" / "events.sqlite"
    first_stack = running_events(config)
    await first_stack.__aenter__()
    first_open = True
    try:
        async with running_events(config) as (_, second):
            assert second is not None
            second._follow_wait_s = 0.01  # look often: the test waits on it
            deadline = time.monotonic() + PATIENCE_S  # a hang guard, not a speed
            while True:  # until it has looked once and found the lock held
                if second.following is not None:
                    break
                assert time.monotonic() < deadline, "the second forwarder never looked"
                await asyncio.sleep(0.01)
            await first_stack.__aexit__(None, None, None)
            first_open = False
            await _append(path, 0, PEOPLE)  # what the second process received meanwhile
            second.wake()
            await _until_delivered(path, PEOPLE)
            assert second.following is None
    finally:
        if first_open:
            await first_stack.__aexit__(None, None, None)
    emails = sorted(c["email"] for c in entries(api, "/contacts", per_page="200"))
    assert emails == sorted(f"u{n}@example.com" for n in range(PEOPLE))


async def test_a_process_that_does_not_forward_takes_no_lock(
    tmp_path: Path, emulator_server: EmulatorServer
) -> None:
    """`events serve --no-forward` only stores: the forwarder of another process is never
    held back by it (it takes the lock at once)."""
    config = _project(tmp_path, emulator_server)
    path = tmp_path / "state" / "events.sqlite"
    async with running_events(config, forward=False) as (_, none):
        assert none is None
        await asyncio.sleep(0)  # let any task it started run
        lock = PidFileLock(forwarder_lock_path(path))
        try:
            assert lock.try_acquire() is None  # free: taken here
        finally:
            lock.release()

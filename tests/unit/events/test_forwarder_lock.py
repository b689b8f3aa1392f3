"""A forwarder whose queue another process forwards looks at the lock once per
``follow_wait_s`` of its clock, however often the ingest wakes it (no file opened per
event batch), and takes over at the first look after the holder let go."""

from __future__ import annotations

from pathlib import Path

import pytest

from mogulsync._pid_lock import PidFileLock
from mogulsync.config.events import DeliveryConfig
from mogulsync.events.forwarder import Forwarder
from mogulsync.events.mappings import DEFAULT_MAPPINGS
from mogulsync.events.queue import EventQueue

from .test_forwarder import Clock, Recorder


class CountingLock(PidFileLock):
    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.looks = 0

    def try_acquire(self) -> str | None:
        self.looks += 1
        return super().try_acquire()


@pytest.mark.anyio
async def test_a_follower_looks_at_the_lock_once_per_follow_wait(tmp_path: Path) -> None:
    path = tmp_path / "lock"
    holder = PidFileLock(path)
    assert holder.try_acquire() is None  # another forwarder of the queue
    queue = EventQueue(tmp_path / "events.sqlite")
    clock = Clock()
    lock = CountingLock(path)
    fwd = Forwarder(
        queue, Recorder(), DEFAULT_MAPPINGS, DeliveryConfig(), clock=clock, lock=lock,
        follow_wait_s=5.0,
    )  # fmt: skip
    try:
        assert [fwd._may_forward() for _ in range(50)] == [False] * 50
        assert lock.looks == 1
        assert fwd.following is not None
        clock.now += 5.0
        holder.release()
        assert fwd._may_forward() is True
        assert (lock.looks, lock.held, fwd.following) == (2, True, None)
    finally:
        lock.release()
        queue.close()

"""Group commit for the forwarder's queue writes.

Each entity's delivery marks its events in flight before sending and records outcomes
after, so that a crash leaves only the entities being sent in doubt. Done one
transaction each, those writes would compete with ingest for SQLite's write lock; here
the writes of every entity that asks while a transaction is being committed share the
next one.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence

from mogulsync.events.queue import EventQueue, Outcome


class QueueWrites:
    """Batches ``mark_inflight`` and ``record`` calls from one event loop."""

    def __init__(self, queue: EventQueue, clock: Callable[[], float] = time.time) -> None:
        self._queue = queue
        #: the forwarder's: outcomes are stamped on it (a dead letter's retention counts from it)
        self._clock = clock
        self._marks: list[int] = []
        self._outcomes: list[Outcome] = []
        self._counters: Counter[str] = Counter()
        self._waiters: list[asyncio.Future[None]] = []
        self._flusher: asyncio.Task[None] | None = None
        self.commits = 0

    async def mark_inflight(self, seqs: Sequence[int]) -> None:
        """Return once these events are durably marked in flight."""
        if seqs:
            self._marks.extend(seqs)
            await self._commit()

    async def record(
        self, outcomes: Sequence[Outcome], counters: Mapping[str, int] | None = None
    ) -> None:
        """Return once these outcomes (and counter increments) are durable."""
        self._outcomes.extend(outcomes)
        self._counters.update(counters or {})
        await self._commit()

    async def _commit(self) -> None:
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        await waiter

    async def _flush(self) -> None:
        while self._waiters:
            marks, outcomes, counters = self._marks, self._outcomes, dict(self._counters)
            waiters = self._waiters
            self._marks, self._outcomes, self._waiters = [], [], []
            self._counters.clear()
            try:
                await asyncio.to_thread(
                    self._queue.write, marks, outcomes, counters, now=self._clock()
                )
            except Exception as exc:  # every waiter must hear about it
                for waiter in waiters:
                    if not waiter.done():
                        waiter.set_exception(exc)
                continue
            self.commits += 1
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)

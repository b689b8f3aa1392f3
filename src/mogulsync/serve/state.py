"""Everything one server process holds: config, auth, runs, scheduler, events queue."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mogulsync.config import AppConfig
from mogulsync.events.forwarder import Forwarder
from mogulsync.runs import RunStore
from mogulsync.serve.auth import Auth
from mogulsync.serve.clock import Clock, SystemClock
from mogulsync.serve.runs import RunManager
from mogulsync.serve.scheduler import Scheduler

if TYPE_CHECKING:
    from mogulsync.serve.project import ProjectFile
    from mogulsync.serve.reload import Reload

#: rejected events listed by the events status
RECENT_REJECTIONS = 10
#: events/s is the events received in this many seconds before now, divided by it
RATE_WINDOW_S = 60.0


@dataclass(slots=True)
class ServeState:
    """The server's moving parts, shared by the API, the UI and the metrics."""

    config: AppConfig
    auth: Auth
    manager: RunManager
    clock: Clock = field(default_factory=SystemClock)
    scheduler: Scheduler | None = None
    #: the events queue file when ``events:`` is configured (mounted on the same port)
    events_queue: Path | None = None
    forwarder: Forwarder | None = None
    #: the project file serve was started from (the settings editor; None: none given)
    project: ProjectFile | None = None
    #: reads the project file again and swaps it in when it can (``ServeApp.reload``)
    reload: Callable[[], Awaitable[Reload]] | None = None
    #: one save or reload at a time
    project_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def run_store(self) -> RunStore:
        """A connection to the run history (close it after use)."""
        return RunStore(self.manager.state_dir, self.manager.engine.redactor)

    def events_status(self) -> dict[str, Any] | None:
        """Queue depth, counters, oldest pending age and recent failures; None without events."""
        if self.events_queue is None:
            return None
        from mogulsync.events.queue import EventQueue

        queue = EventQueue(self.events_queue)
        now = self.clock.now().timestamp()
        try:
            received = queue.received_between(now - RATE_WINDOW_S, now)
            return {
                "events": queue.counts(),
                # from the events' own arrival times, so it is right on the first look
                "events_per_s": round(received / RATE_WINDOW_S, 3),
                "counters": queue.counters(),
                "oldest_pending_age_s": queue.oldest_pending_age(),
                "recent_rejections": [
                    {"message_id": e.message_id, "type": e.type, "reason": e.reason}
                    for e in queue.by_status("rejected", limit=RECENT_REJECTIONS)
                ],
                "dead_letters": [
                    {
                        "seq": e.seq,
                        "message_id": e.message_id,
                        "type": e.type,
                        "attempts": e.attempts,
                        "reason": e.reason,
                    }
                    for e in queue.by_status("dead", limit=100)
                ],
                "alerts": self._events_alerts(queue),
            }
        finally:
            queue.close()

    def _events_alerts(self, queue: Any) -> dict[str, Any]:
        from mogulsync.serve.events_alerts import alerts_status

        store = self.run_store()
        try:
            return alerts_status(self.config.alerts, queue, store)
        finally:
            store.close()

    def replay(self, seqs: list[int] | None) -> int:
        """Queue dead letters (all, or these) for delivery again; how many."""
        if self.events_queue is None:
            return 0
        from mogulsync.events.queue import EventQueue

        queue = EventQueue(self.events_queue)
        try:
            replayed = queue.replay(seqs)
        finally:
            queue.close()
        if self.forwarder is not None:
            self.forwarder.wake()
        return replayed

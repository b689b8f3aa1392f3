"""The forwarder: pending events → ChartMogul, per entity, in order, exactly once.

Each round reads the oldest pending events, maps them, and groups them by entity (a
customer's group id or a contact's user id). Entities are delivered in parallel (up to
``concurrency``), the events of one entity strictly in arrival order:

- **coalescing**: while an entity's newest event is younger than the coalesce window (and
  its oldest not older than :data:`MAX_HOLD_WINDOWS` windows), it waits for the burst to
  end, so a burst becomes one delivery;
- **retries**: a retriable failure keeps the events pending with exponential backoff;
  later events of that entity wait behind them, so order is never broken;
- **dead letters**: after ``max_attempts`` failures, or at once for a failure that
  cannot pass on retry (ChartMogul refused the data), events become dead letters,
  kept with their reason for ``mogulsync events dead-letter list|replay``.

Exactly once: before a round sends anything, its events are durably marked *in flight*;
an event is marked delivered only after ChartMogul accepted it. An event found still in
flight (the process died mid-send, or a send failed in a way that may have reached
ChartMogul) goes to the delivery flagged, and ``api`` delivery then reads the entity and
writes only what is not already there, so an effect that landed before the crash is not
written again. ``webhook`` delivery cannot read back: it re-posts the payload, which is an
absolute upsert (see docs/events.md).

Finished events older than the retention (and dead letters older than theirs, when
set) are pruned every :data:`PRUNE_INTERVAL_S`.

Due times are wall-clock times stored with the events. A clock stepped back (NTP, a
resumed VM) would make them lie far ahead and stall delivery by the size of the step: a
retry due later than the longest backoff, and a burst received "in the future", go at
once; a prune planned by the earlier clock is due at once too.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from mogulsync._pid_lock import PidFileLock
from mogulsync.config.events import DeliveryConfig, EventMapping
from mogulsync.events._writes import QueueWrites
from mogulsync.events.delivery import Delivery, PlannedEvent, Verdict
from mogulsync.events.mappings import Plan, plan_event
from mogulsync.events.queue import EventQueue, Outcome, QueuedEvent

log = logging.getLogger(__name__)

#: pending events read per round (older ones always come first)
FETCH_LIMIT = 5_000
#: an entity's burst is held at most this many coalesce windows
MAX_HOLD_WINDOWS = 4
IDLE_WAIT_S = 0.2
#: how often a process whose queue another one forwards looks whether it can take over
FOLLOW_WAIT_S = 5.0
#: how often finished events past the retention are deleted
PRUNE_INTERVAL_S = 300.0


def plan_for(event: QueuedEvent, mappings: Sequence[EventMapping]) -> Plan:
    """What the mappings make of a stored event."""
    try:
        message = json.loads(event.body)
    except ValueError:
        return Plan(rejection="The stored event is not valid JSON.")
    if not isinstance(message, dict):
        return Plan(rejection="The stored event is not a JSON object.")
    return plan_event(message, mappings)


class Forwarder:
    """Moves pending events from the queue to a :class:`Delivery`."""

    def __init__(
        self,
        queue: EventQueue,
        delivery: Delivery,
        mappings: Sequence[EventMapping],
        settings: DeliveryConfig,
        *,
        clock: Callable[[], float] = time.time,
        keep_s: float | None = None,
        keep_dead_s: float | None = None,
        lock: PidFileLock | None = None,
        follow_wait_s: float = FOLLOW_WAIT_S,
    ) -> None:
        self.queue = queue
        self.delivery = delivery
        self.mappings = list(mappings)
        self.settings = settings
        self.keep_s = keep_s
        self.keep_dead_s = keep_dead_s
        self._clock = clock
        self._wake = asyncio.Event()
        self._next_prune = 0.0
        self._writes = QueueWrites(queue, clock)
        #: held while this forwarder sends: one forwarder per queue file (two would read
        #: and send the same pending events, and create duplicate contacts)
        self._lock = lock
        self._follow_wait_s = follow_wait_s
        #: the pid of the process forwarding instead of this one (None: this one forwards)
        self.following: str | None = None
        #: a follower looks at the lock again no sooner than this (its clock)
        self._next_look = 0.0

    def wake(self) -> None:
        """New events were stored: look sooner (called from the ingest app's loop)."""
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until ``stop`` is set; while another process forwards the queue, only
        look every ``follow_wait_s`` whether it has stopped (then take over)."""
        try:
            await self._run(stop)
        finally:
            if self._lock is not None:
                self._lock.release()

    async def _run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            if not self._may_forward():
                wait = self._follow_wait_s
            else:
                try:
                    await self.prune_if_due()
                    wait = await self.run_once()
                except Exception:
                    log.exception("events forwarder round failed; trying again")
                    wait = IDLE_WAIT_S
            self._wake.clear()
            if wait > 0:
                waiters = [asyncio.ensure_future(self._wake.wait())]
                waiters.append(asyncio.ensure_future(stop.wait()))
                await asyncio.wait(waiters, timeout=wait, return_when=asyncio.FIRST_COMPLETED)
                for waiter in waiters:
                    waiter.cancel()

    def _may_forward(self) -> bool:
        """Whether this process forwards the queue (it holds, or has just taken, the lock)."""
        if self._lock is None or self._lock.held:
            return True
        if self.following is not None and self._clock() < self._next_look:
            return False  # an ingest wake between looks: no file opened per event batch
        try:
            holder = self._lock.try_acquire()
        except OSError as exc:  # a folder this process cannot write: forward as before
            log.warning("events: the forwarder lock %s cannot be opened (%s)", self._lock.path, exc)
            self._lock = None
            return True
        if holder is None:
            if self.following is not None:
                log.warning("events: the process forwarding this queue stopped: this one forwards")
            self.following = None
            return True
        if self.following != holder:
            log.warning(
                "events: another process (pid %s) forwards the events in %s: this one stores the"
                " events it receives there, and forwards them once that process stops",
                holder or "?",
                self.queue.path,
            )
        self.following = holder
        self._next_look = self._clock() + self._follow_wait_s
        return False

    async def prune_if_due(self) -> int:
        """Delete finished events and dead letters past their retention (at most every
        PRUNE_INTERVAL_S)."""
        now = self._clock()
        if now < self._next_prune - PRUNE_INTERVAL_S:  # the clock went back
            self._next_prune = now
        if (self.keep_s is None and self.keep_dead_s is None) or now < self._next_prune:
            return 0
        self._next_prune = now + PRUNE_INTERVAL_S
        finished = None if self.keep_s is None else now - self.keep_s
        dead = None if self.keep_dead_s is None else now - self.keep_dead_s
        pruned = await asyncio.to_thread(self.queue.prune, finished, dead)
        if pruned:
            log.info("pruned %d events past their retention", pruned)
        return pruned

    async def drain(self, max_wait_s: float) -> int:
        """Run rounds until nothing is pending (or ``max_wait_s``); events still pending."""
        deadline = self._clock() + max_wait_s
        while True:
            wait = await self.run_once()
            pending = (await asyncio.to_thread(self.queue.counts))["pending"]
            if pending == 0 or self._clock() >= deadline:
                return pending
            await asyncio.sleep(min(wait, 0.05) if wait > 0 else 0)

    async def run_once(self) -> float:
        """One round; seconds until something may be due (0 when work was done)."""
        events = await asyncio.to_thread(self.queue.pending, FETCH_LIMIT)
        now = self._clock()
        outcomes: list[Outcome] = []
        groups: dict[str, list[PlannedEvent]] = {}
        for event in events:
            plan = plan_for(event, self.mappings)
            if plan.rejection is not None:
                outcomes.append(Outcome(event.seq, "rejected", plan.rejection, event.attempts))
            elif plan.skipped is not None or plan.entity is None:
                outcomes.append(Outcome(event.seq, "skipped", plan.skipped, event.attempts))
            else:
                groups.setdefault(plan.entity, []).append(PlannedEvent(event, plan))
        due, next_due = self._due(groups, now)
        if outcomes:
            await self._writes.record(outcomes)
        semaphore = asyncio.Semaphore(self.settings.concurrency)

        async def deliver(entity: str, items: list[PlannedEvent]) -> None:
            async with semaphore:
                await self._deliver_entity(entity, items)

        # every entity's delivery ends before the round does, also when one raised: one
        # left running would send past the delivery's close (a socket nobody closes)
        results = await asyncio.gather(
            *(deliver(entity, items) for entity, items in due), return_exceptions=True
        )
        errors = [result for result in results if isinstance(result, BaseException)]
        for error in errors[1:]:  # the first is raised; the others would go unseen
            log.error("events: another entity's delivery failed too", exc_info=error)
        if errors:
            raise errors[0]
        if outcomes or due:
            return 0.0
        return max(0.0, min(next_due - now, IDLE_WAIT_S)) if next_due else IDLE_WAIT_S

    async def _deliver_entity(self, entity: str, items: list[PlannedEvent]) -> None:
        """Mark in flight, send, record: per entity, so a crash leaves only the entities
        being sent in doubt (entities writing at the same time share a transaction)."""
        await self._writes.mark_inflight([i.event.seq for i in items if not i.event.inflight])
        verdicts = await self.delivery.deliver(entity, items)
        outcomes = self._outcomes(items, verdicts, self._clock())
        await self._writes.record(outcomes, self.delivery.take_counters())

    def _due(
        self, groups: dict[str, list[PlannedEvent]], now: float
    ) -> tuple[list[tuple[str, list[PlannedEvent]]], float | None]:
        """Entities to deliver now, and when the earliest held one becomes due."""
        window = self.settings.coalesce_window_s if self.delivery.coalesces else 0.0
        due: list[tuple[str, list[PlannedEvent]]] = []
        next_due: float | None = None
        for entity, items in groups.items():
            first = items[0].event
            ready_at = first.next_attempt_at
            if ready_at > now + self.settings.retry_max_s:
                ready_at = now  # no backoff is that long: set by a clock since stepped back
            newest = items[-1].event.received_at
            # a burst "received in the future" was received before the clock stepped back
            if window and first.attempts == 0 and newest <= now:
                ready_at = max(
                    ready_at, min(newest + window, first.received_at + window * MAX_HOLD_WINDOWS)
                )
            if ready_at <= now:
                due.append((entity, items))
            else:
                next_due = ready_at if next_due is None else min(next_due, ready_at)
        return due, next_due

    def _outcomes(
        self, items: list[PlannedEvent], verdicts: list[Verdict], now: float
    ) -> list[Outcome]:
        by_seq = {verdict.seq: verdict for verdict in verdicts}
        attempts = max(item.event.attempts for item in items) + 1
        retry_at = now + self._backoff(attempts)
        outcomes = []
        for item in items:
            event = item.event
            verdict = by_seq.get(event.seq, Verdict(event.seq, "hold", "no verdict"))
            outcomes.append(self._outcome(item, verdict, retry_at))
        return outcomes

    def _outcome(self, item: PlannedEvent, verdict: Verdict, retry_at: float) -> Outcome:
        event = item.event
        warnings = "; ".join(item.plan.warnings) or None
        if verdict.kind == "delivered":
            return Outcome(event.seq, "delivered", warnings, event.attempts + 1)
        if verdict.kind == "dead":
            return Outcome(event.seq, "dead", verdict.reason, event.attempts + 1)
        if verdict.kind == "skipped":
            return Outcome(event.seq, "skipped", verdict.reason, event.attempts + 1)
        if verdict.kind == "next":  # not sent now, due at once (its doubt, if any, stands)
            return Outcome(
                event.seq, "pending", verdict.reason, event.attempts, 0.0, event.inflight
            )
        if verdict.kind == "hold":  # not sent now; an earlier crash's doubt still stands
            return Outcome(
                event.seq, "pending", verdict.reason, event.attempts, retry_at, event.inflight
            )
        attempts = event.attempts + 1
        if attempts >= self.settings.max_attempts:
            reason = f"gave up after {attempts} attempts: {verdict.reason}"
            return Outcome(event.seq, "dead", reason, attempts)
        # a failed send may still have reached ChartMogul (a timeout, a lost answer)
        return Outcome(event.seq, "pending", verdict.reason, attempts, retry_at, inflight=True)

    def _backoff(self, attempts: int) -> float:
        delay = self.settings.retry_initial_s * 2 ** (attempts - 1)
        return float(min(self.settings.retry_max_s, delay))


def describe_plan(plan: Plan) -> dict[str, Any]:
    """A plan as JSON-friendly data (status output and tests)."""
    return {
        "entity": plan.entity,
        "actions": [action.kind for action in plan.actions],
        "rejection": plan.rejection,
        "skipped": plan.skipped,
        "warnings": list(plan.warnings),
    }

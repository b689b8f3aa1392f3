"""The events alerts' periodic look at the queue (beside the forwarder, on its loop).

Every :data:`WATCH_INTERVAL_S` of the forwarder's clock (tests drive it) the watch reads
a :class:`~mogulsync.alerts.events_rules.Snapshot` of the queue and hands it to the
:class:`~mogulsync.alerts.events_dispatch.EventsAlerter`, which keeps its episode state in
the queue file and records its deliveries in the run history (job ``events``). It runs as
its own task, so a forwarder round held up by a hanging ChartMogul does not hold it up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from mogulsync._redact import Redactor, endpoint_secrets
from mogulsync.alerts.events_dispatch import EventsAlerter
from mogulsync.alerts.events_message import REASONS_IN_ALERT
from mogulsync.alerts.events_rules import Snapshot
from mogulsync.config.models import AppConfig
from mogulsync.events.queue import DEAD_LETTERED, EventQueue
from mogulsync.runs.deliveries import AlertDelivery

log = logging.getLogger(__name__)
#: seconds of the forwarder's clock between two looks
WATCH_INTERVAL_S = 60.0
#: the queue-file key holding when the alerts last looked (forwarder clock, epoch seconds)
LOOKED_AT_KEY = "alerts.events.looked_at"
#: real seconds between checks whether a look is due (the clock may be driven)
POLL_S = 0.5


def snapshot(queue: EventQueue, now: float) -> Snapshot:
    """The queue as the alert rules read it."""
    oldest = queue.oldest_pending()
    return Snapshot(
        now=now,
        dead_total=queue.counters().get(DEAD_LETTERED, 0),
        dead_waiting=queue.count("dead"),
        pending=queue.count("pending"),
        oldest_pending_at=None if oldest is None else oldest[0],
        oldest_reason=None if oldest is None else oldest[1],
        dead_reasons=tuple(queue.dead_reasons(REASONS_IN_ALERT)),
    )


def redactor_for(config: AppConfig) -> Redactor:
    """Every secret the forwarder knows: the API key, the write keys, the webhook URL."""
    redactor = Redactor([key.get_secret_value() for key in config.events.write_keys])
    redactor.add(config.chartmogul.api_key.get_secret_value())
    if config.events.webhook_url is not None:
        # as the channels' own URLs: a refusal's body often quotes only the path (the token)
        for secret in endpoint_secrets(config.events.webhook_url.get_secret_value()):
            redactor.add(secret)
    return redactor


def history_recorder(
    state_dir: str | Path, redactor: Redactor
) -> Callable[[Sequence[AlertDelivery]], None]:
    """Records deliveries in the project's run history (opened for each, then closed)."""

    def record(deliveries: Sequence[AlertDelivery]) -> None:
        from mogulsync.runs.store import RunStore

        store = RunStore(state_dir, redactor)
        try:
            store.add_deliveries(deliveries)
        finally:
            store.close()

    return record


class AlertWatch:
    """Looks at the queue every WATCH_INTERVAL_S and lets the alerter act on it."""

    def __init__(
        self,
        queue: EventQueue,
        alerter: EventsAlerter,
        *,
        clock: Callable[[], float] = time.time,
        record: Callable[[Sequence[AlertDelivery]], None] | None = None,
    ) -> None:
        self.queue = queue
        self.alerter = alerter
        self.record = record
        self._clock = clock
        self._next = 0.0

    async def look_if_due(self) -> list[AlertDelivery] | None:
        """Look now if due (None: not due); the deliveries the look made."""
        now = self._clock()
        if now < self._next - WATCH_INTERVAL_S:  # the clock went back
            self._next = now
        if now < self._next:
            return None
        self._next = now + WATCH_INTERVAL_S
        return await self.look(now)

    def prime(self) -> None:
        """Note the dead letters so far for rules without a state (sends nothing). At
        start, before anything is served: a few small reads, no await to be cancelled at."""
        try:
            self.alerter.prime(snapshot(self.queue, self._clock()), self.queue)
        except Exception:
            log.exception("events alerts: the first look at the queue failed")

    async def look(self, now: float) -> list[AlertDelivery]:
        """Read the queue, evaluate the rules, send and record (never raises)."""
        try:
            snap = await asyncio.to_thread(snapshot, self.queue, now)
            done = await self.alerter.look(snap, self.queue, self._record)
            # when the alerts last looked (serve's Events page shows it)
            await asyncio.to_thread(self.queue.set_meta, LOOKED_AT_KEY, repr(now))
        except Exception:
            log.exception("events alerts: the look at the queue failed; trying again later")
            return []
        return done

    async def _record(self, deliveries: Sequence[AlertDelivery]) -> None:
        if self.record is not None:  # the run history may wait on a lock: off the loop
            await asyncio.to_thread(self.record, deliveries)

    async def run(self, stop: asyncio.Event) -> None:
        """Look whenever due until ``stop`` is set."""
        while not stop.is_set():
            await self.look_if_due()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=POLL_S)


def alert_watch(
    config: AppConfig, queue: EventQueue, clock: Callable[[], float]
) -> AlertWatch | None:
    """The watch for ``config``'s events rules (None: no rule or no channel)."""
    redactor = redactor_for(config)
    alerter = EventsAlerter(config.alerts, redactor)
    if not alerter.enabled:
        return None
    record = history_recorder(config.state_dir, redactor)
    return AlertWatch(queue, alerter, clock=clock, record=record)

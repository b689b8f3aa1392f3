"""Sending alerts that wait in lines: a job's alerts to one channel, in order.

A line holds at most a problem and the recovery behind it (see
:mod:`mogulsync.runs.alert_retries`): the recovery is tried only once the channel took the
problem, so PagerDuty hears the trigger before its resolve. Lines go out concurrently.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

from mogulsync.alerts.events_retry import Undelivered, failed
from mogulsync.alerts.message import AlertMessage
from mogulsync.alerts.resend import from_stored
from mogulsync.runs.deliveries import AlertDelivery

logger = logging.getLogger(__name__)
#: sends one message to one channel: why it failed (None: delivered) and when it ended
Deliver = Callable[[str, AlertMessage], Awaitable[tuple[str | None, str]]]
#: the delivery record of one attempt: job, channel, message, failure reason, when
Record = Callable[[str, str, AlertMessage, str | None, str], AlertDelivery]


class Lines:
    """One round of sending lines, and what came of it."""

    def __init__(self, deliver: Deliver, record: Record, now: float) -> None:
        self._deliver = deliver
        self._record = record
        self._now = now
        #: every attempt made
        self.records: list[AlertDelivery] = []
        #: each alert a channel refused, with why
        self.refused: list[tuple[Undelivered, str]] = []
        #: what waits again (refused, or behind a refused one), due after its back-off
        self.keep: list[Undelivered] = []
        #: each alert a channel took (what waits older than it is stale)
        self.delivered: list[Undelivered] = []

    async def send(self, items: Sequence[Undelivered]) -> None:
        """Send every line found in ``items`` (kept in order within each line)."""
        lines: dict[tuple[str, str], list[Undelivered]] = {}
        for item in items:
            lines.setdefault((item.condition, item.channel), []).append(item)
        await asyncio.gather(*(self._line(line) for line in lines.values()))

    async def _line(self, line: list[Undelivered]) -> None:
        for position, item in enumerate(line):
            if not await self._one(item):
                for rest in line[position + 1 :]:  # not tried: it waits as long
                    rest.next_at = item.next_at
                    self.keep.append(rest)
                return

    async def _one(self, item: Undelivered) -> bool:
        """Send ``item``; whether the line goes on (delivered, or dropped as unreadable)."""
        try:
            message = from_stored(item.message)
        except (KeyError, ValueError, TypeError):  # garbled in runs.sqlite: dropped
            logger.warning("alert to channel %s dropped: unreadable", item.channel)
            return True
        reason, at = await self._deliver(item.channel, message)
        self.records.append(self._record(item.condition, item.channel, message, reason, at))
        if reason is None:
            self.delivered.append(item)
            return True
        self.refused.append((item, reason))
        again = failed(item, self._now)
        if again is None:
            logger.warning(
                "alert about %s to channel %s dropped: not delivered for a day",
                item.condition,
                item.channel,
            )
        else:
            self.keep.append(again)
        return False

"""Time for the scheduler: the real clock, or one a test moves by hand.

Only scheduling reads it (when a job is due, its lag, missed slots, pauses, the events
rate). The run history's times (a run's id, start, end, duration, its retention, alert
deliveries) come from the wall clock in every process that records runs (``sync run``
too), so they stay in one order whoever wrote them; in a server the two are the same clock.
A test clock moves schedules only: runs started at one frozen instant would otherwise tie
in the runs list.
"""

from __future__ import annotations

import datetime as dt
from typing import Protocol


class Clock(Protocol):
    """Tells the time (always timezone-aware UTC)."""

    def now(self) -> dt.datetime:
        """The current time."""
        ...


class SystemClock:
    """The wall clock."""

    def now(self) -> dt.datetime:
        """The current time in UTC."""
        return dt.datetime.now(dt.UTC)


class ManualClock:
    """A clock that moves only when told (tests drive schedules with it, never sleep)."""

    def __init__(self, start: dt.datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("start must be timezone-aware")
        self._now = start

    def now(self) -> dt.datetime:
        """The time the clock was set to."""
        return self._now

    def advance(self, delta: dt.timedelta) -> dt.datetime:
        """Move forward by ``delta``; the new time."""
        self._now += delta
        return self._now

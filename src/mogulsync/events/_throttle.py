"""At most one log line per kind of trouble per interval.

A hostile client can cause the same warning thousands of times a second (refused
connections, malformed requests, ``Too many open files`` on accept); logging each one
filled 96 MB of log in 50 s during the review. :class:`LogThrottle` is a logging filter
that lets the first record of a kind through, drops the repeats for ``interval_s``, and
notes on the next record it lets through how many it dropped. A record's kind is its
logger and the first line of its message template (asyncio puts a varying handle on
later lines), so different warnings do not hide each other.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable

#: the loggers the events endpoint's hostile-input warnings go through
INGEST_LOGGER = "mogulsync.events.ingest"
THROTTLED_LOGGERS = (INGEST_LOGGER, "uvicorn.error", "asyncio")
#: kinds remembered at once; a message formatted before logging (not a template) is a
#: new kind each time, and a long-running server must not remember each one for ever
MAX_KINDS = 1_000


class LogThrottle(logging.Filter):
    """Pass one record per (logger, template) per ``interval_s``; count the rest."""

    def __init__(self, interval_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.interval_s = interval_s
        self._clock = clock
        self._last: dict[tuple[str, str], float] = {}
        self._dropped: dict[tuple[str, str], int] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        """Whether ``record`` is logged (repeats within the interval are not)."""
        kind = (record.name, str(record.msg).split("\n", 1)[0])
        now = self._clock()
        last = self._last.get(kind)
        if last is not None and now - last < self.interval_s:
            self._dropped[kind] = self._dropped.get(kind, 0) + 1
            return False
        if last is None and len(self._last) >= MAX_KINDS:
            self._forget(now)
        self._last[kind] = now
        dropped = self._dropped.pop(kind, 0)
        if dropped:
            note = f" [{dropped} more like this in the last {self.interval_s:.0f} s]"
            record.msg = record.getMessage() + note
            record.args = None
        return True

    def _forget(self, now: float) -> None:
        """Forget the kinds whose interval has passed (their next record passes anyway;
        a count of dropped repeats still waiting for it is lost), else the oldest half."""
        stale = [kind for kind, last in self._last.items() if now - last >= self.interval_s]
        if not stale:
            stale = list(self._last)[: len(self._last) // 2]
        for kind in stale:
            del self._last[kind]
            self._dropped.pop(kind, None)


def install_log_throttle(
    interval_s: float, loggers: Iterable[str] = THROTTLED_LOGGERS
) -> LogThrottle:
    """Throttle ``loggers`` (once: a second call replaces the first throttle)."""
    throttle = LogThrottle(interval_s)
    for name in loggers:
        logger = logging.getLogger(name)
        for old in [f for f in logger.filters if isinstance(f, LogThrottle)]:
            logger.removeFilter(old)
        logger.addFilter(throttle)
    return throttle

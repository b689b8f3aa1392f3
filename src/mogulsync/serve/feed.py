"""The live debugger's feed: every API request of a running sync, as it happens.

The engine's request hook appends each entry here (on the event loop); any number of
Server-Sent-Event streams read from it at their own pace. Only the latest entries are
kept in memory: a reader that falls further behind is told how many it missed (all of
them stay in the run history).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

from mogulsync.chartmogul import RequestLogEntry

#: entries kept in memory per running sync
FEED_LIMIT = 10_000


def entry_dict(seq: int, entry: RequestLogEntry) -> dict[str, Any]:
    """One request as the API and the debugger show it (bodies arrive redacted)."""
    return {
        "seq": seq,
        "timestamp": entry.timestamp.isoformat(),
        "method": entry.method,
        "path": entry.path,
        "endpoint": entry.endpoint,
        "status": entry.status,
        "latency_ms": round(entry.duration_ms, 1),
        "attempt": entry.attempt,
        "request_body": entry.request_body,
        "response_body": entry.response_body,
        "error_type": entry.error_type,
    }


class RequestFeed:
    """A bounded, append-only list of request entries with waiting readers."""

    def __init__(self, limit: int = FEED_LIMIT) -> None:
        self._items: deque[dict[str, Any]] = deque(maxlen=limit)
        self._count = 0
        self._changed = asyncio.Event()
        self.closed = False

    @property
    def count(self) -> int:
        """Entries appended so far."""
        return self._count

    def add(self, entry: RequestLogEntry) -> None:
        """The engine's request hook."""
        self._count += 1
        self._items.append(entry_dict(self._count, entry))
        self._wake()

    def close(self) -> None:
        """The run ended: readers finish once they have read everything."""
        self.closed = True
        self._wake()

    def _wake(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def follow(self, after: int = 0) -> AsyncIterator[dict[str, Any]]:
        """Entries with ``seq > after`` as they come, then stop when the run has ended.

        A ``{"skipped": n}`` item stands for entries no longer in memory.
        """
        position = after
        while True:
            changed = self._changed
            first = self._count - len(self._items) + 1
            if position + 1 < first:
                yield {"skipped": first - position - 1}
                position = first - 1
            for item in list(self._items)[position - first + 1 :]:
                position = item["seq"]
                yield item
            if self.closed and position >= self._count:
                return
            if position >= self._count:
                await changed.wait()

"""Stored bytes per write key per second: a token bucket that may go into debt.

A request's cost (the bytes it adds to the queue) is only known after parsing it, so a
request is let in while its key's bucket is not empty and then charged in full; a big
request can leave the bucket in debt, and the key's next requests wait until it refills.
The clock is injected so tests drive it instead of sleeping.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(slots=True)
class _Bucket:
    tokens: float
    stamp: float


class KeyBudget:
    """``rate`` bytes per second per key, at most ``burst`` saved up."""

    def __init__(
        self, rate: float, burst: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._rate = rate
        self._burst = burst
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}

    def wait_s(self, key: str) -> float:
        """0 when ``key`` may send now, else the seconds until its bucket is positive."""
        bucket = self._refilled(key)
        # an empty bucket waits for its first byte, a bucket in debt for the debt as well
        return 0.0 if bucket.tokens > 0 else (1.0 - bucket.tokens) / self._rate

    def retry_after_s(self, key: str) -> int:
        """:meth:`wait_s` rounded up to whole seconds (a ``Retry-After`` value)."""
        return max(1, math.ceil(self.wait_s(key)))

    def charge(self, key: str, cost: int) -> None:
        """Take ``cost`` bytes from ``key``'s bucket (it may go negative)."""
        self._refilled(key).tokens -= cost

    def _refilled(self, key: str) -> _Bucket:
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(self._burst, now)
        else:
            elapsed = max(0.0, now - bucket.stamp)
            bucket.tokens = min(self._burst, bucket.tokens + elapsed * self._rate)
            bucket.stamp = now
        return bucket

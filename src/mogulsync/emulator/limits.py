"""Service limits: a per-account token bucket (429) and an in-flight cap (503)."""

from __future__ import annotations

import time
from collections.abc import Callable


class TokenBucket:
    """Allows ``rate`` requests per second with a burst of one second's worth."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self._clock = clock
        self._tokens = rate
        self._updated = clock()

    def configure(self, rate: float) -> None:
        """Change the rate; the bucket starts full again."""
        self.rate = rate
        self._tokens = rate
        self._updated = self._clock()

    def use_clock(self, clock: Callable[[], float]) -> None:
        """Read time from ``clock`` from now on (tests drive it); the bucket starts full."""
        self._clock = clock
        self.configure(self.rate)

    def take(self) -> bool:
        """Take one token; False when the caller is over the limit."""
        if self.rate <= 0:
            return True
        current = self._clock()
        self._tokens = min(self.rate, self._tokens + (current - self._updated) * self.rate)
        self._updated = current
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        return False

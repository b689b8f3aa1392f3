"""Process-wide pacing per ChartMogul account: at most N requests per second, M in flight.

ChartMogul counts every request of an account against 40 req/s and answers 503 beyond 20
parallel connections. Every client and task of one account in this process therefore
shares one :class:`AccountLimiter`, found through :func:`limiter_for`.

The state is guarded by a thread lock and waiters are woken on their own event loop, so a
limiter works across event loops: sequential ``asyncio.run`` calls, and loops in several
threads at once. (``asyncio.Semaphore`` and ``aiolimiter`` bind to the first loop that
waits on them.) Pacing is smooth: request *k* after an idle period may start ``k /
rate`` seconds later, with no burst, so a quiet account practically never sees a 429.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]

#: Only a prefix of the key's SHA-256 names its limiter: enough to tell keys apart.
_KEY_DIGEST_CHARS = 16


class RatePacer:
    """Hands out start times ``1 / rate`` apart (a virtual scheduling clock)."""

    def __init__(self, rate: float, *, clock: Clock = time.monotonic) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self._interval = 1.0 / rate
        self._clock = clock
        self._next_start = float("-inf")
        self._lock = threading.Lock()

    @property
    def rate(self) -> float:
        """Requests per second."""
        return 1.0 / self._interval

    def tighten(self, rate: float) -> None:
        """Lower the rate (never raise it: the strictest caller wins)."""
        with self._lock:
            self._interval = max(self._interval, 1.0 / rate)

    def reserve(self) -> float:
        """Book the next start time; returns how long to wait for it (0 when free)."""
        with self._lock:
            now = self._clock()
            start = max(now, self._next_start)
            self._next_start = start + self._interval
            return start - now


class InFlightGate:
    """A counting semaphore usable from any event loop and any thread."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self._limit = limit
        self._used = 0
        self._waiters: deque[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = deque()
        self._lock = threading.Lock()

    @property
    def limit(self) -> int:
        """Most requests allowed in flight."""
        return self._limit

    @property
    def in_flight(self) -> int:
        """Requests holding a slot right now."""
        return self._used

    def tighten(self, limit: int) -> None:
        """Lower the limit (never raise it)."""
        with self._lock:
            self._limit = min(self._limit, limit)

    async def acquire(self) -> None:
        """Wait for a free slot."""
        loop = asyncio.get_running_loop()
        with self._lock:
            if self._used < self._limit and not self._waiters:
                self._used += 1
                return
            waiter: asyncio.Future[None] = loop.create_future()
            self._waiters.append((loop, waiter))
        try:
            await waiter
        except asyncio.CancelledError:
            with self._lock:
                if (loop, waiter) in self._waiters:
                    self._waiters.remove((loop, waiter))
                    raise
            # The slot was handed over just as we were cancelled: give it back.
            if waiter.done() and not waiter.cancelled():
                self.release()
            raise

    def release(self) -> None:
        """Free a slot, handing it straight to the oldest live waiter."""
        with self._lock:
            while self._waiters and self._used <= self._limit:
                loop, waiter = self._waiters.popleft()
                try:
                    # The slot moves to the waiter; the count stays the same.
                    loop.call_soon_threadsafe(self._grant, waiter)
                except RuntimeError:  # its loop was closed: the waiter is gone
                    continue
                return
            self._used -= 1

    def _grant(self, waiter: asyncio.Future[None]) -> None:
        if waiter.done():  # cancelled meanwhile: the slot goes to the next one
            self.release()
        else:
            waiter.set_result(None)


class AccountLimiter:
    """Rate pacing plus an in-flight cap for one account."""

    def __init__(
        self,
        rate: float,
        max_in_flight: int,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.pacer = RatePacer(rate, clock=clock)
        self.gate = InFlightGate(max_in_flight)
        self._sleep = sleep

    def tighten(self, rate: float, max_in_flight: int) -> None:
        """Adopt stricter limits requested by another client of the same account."""
        self.pacer.tighten(rate)
        self.gate.tighten(max_in_flight)

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold an in-flight slot and wait for this request's turn to start."""
        await self.gate.acquire()
        try:
            delay = self.pacer.reserve()
            if delay > 0:
                await self._sleep(delay)
            yield
        finally:
            self.gate.release()


_REGISTRY: dict[tuple[str, str], AccountLimiter] = {}
_REGISTRY_LOCK = threading.Lock()


def account_key(base_url: str, api_key: str) -> tuple[str, str]:
    """Registry key of an account: its API root and a digest of the key (never the key)."""
    digest = hashlib.sha256(api_key.encode()).hexdigest()[:_KEY_DIGEST_CHARS]
    return base_url.rstrip("/"), digest


def limiter_for(base_url: str, api_key: str, rate: float, max_in_flight: int) -> AccountLimiter:
    """The process-wide limiter of an account; later callers can only make it stricter."""
    key = account_key(base_url, api_key)
    with _REGISTRY_LOCK:
        limiter = _REGISTRY.get(key)
        if limiter is None:
            limiter = _REGISTRY[key] = AccountLimiter(rate, max_in_flight)
        else:
            limiter.tighten(rate, max_in_flight)
        return limiter


def forget_limiters() -> None:
    """Drop every registered limiter (tests and long-lived processes that rotate keys)."""
    with _REGISTRY_LOCK:
        _REGISTRY.clear()

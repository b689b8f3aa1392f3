"""Process-wide pacing per ChartMogul account: at most N requests per second, M in flight.

ChartMogul counts every request of an account against 40 req/s and answers 503 beyond 20
parallel connections. Every client and task of one account in this process therefore
shares one :class:`AccountLimiter`, found through :func:`limiter_for`.

The state is guarded by a thread lock and waiters are woken on their own event loop, so a
limiter works across event loops: sequential ``asyncio.run`` calls, and loops in several
threads at once. (``asyncio.Semaphore`` and ``aiolimiter`` bind to the first loop that
waits on them.) Pacing is smooth: request *k* after an idle period may start ``k /
rate`` seconds later, with no burst, so a quiet account practically never sees a 429.
Waiting requests start in order of :func:`request_priority` (pagers: the page's position
in its list), so the longest page chain of a run is not held up by its short ones; how
often one is overtaken is bounded (:data:`MAX_OVERTAKES`).

By default the pacing clock is shared by every process on the machine (a SQLite file), and
by every machine when a PostgreSQL ``state_store`` is configured: see
:mod:`mogulsync.chartmogul.shared_pacing`. The in-flight cap is shared the same way, by a
lease per request on the wire (:mod:`mogulsync.chartmogul.shared_leases`), on top of the
process's own cap.
"""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
import heapq
import itertools
import logging
import threading
import time
import weakref
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, TypeVar

from mogulsync.chartmogul.settings import SharedLimit
from mogulsync.chartmogul.shared_leases import LeaseStore, PostgresLeaseStore, SqliteLeaseStore
from mogulsync.chartmogul.shared_pacing import (
    PacingStore,
    PostgresPacingStore,
    SqlitePacingStore,
    default_pacing_file,
)

_log = logging.getLogger(__name__)

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]

#: Only a prefix of the key's SHA-256 names its limiter: enough to tell keys apart.
_KEY_DIGEST_CHARS = 16
#: When every shared slot is held, poll for a free one this often (doubling up to the max):
#: another process's release is not signalled, and polling faster only loads the store.
_LEASE_POLL_MIN_S = 0.005
_LEASE_POLL_MAX_S = 0.05
#: Once this many slots have been handed out since a waiter queued, it goes next (the
#: oldest such first), whatever its priority: long page chains arriving without pause
#: cannot hold back a sync's writes or an events forwarder for longer than that
#: (100 starts: 2.5 s at 40 req/s), while still overtaking a queue of short parts.
MAX_OVERTAKES = 100
#: Rebuild the waiter queues once stale entries outnumber the live ones by this margin.
_STALE_WAITERS = 64


_PRIORITY: contextvars.ContextVar[int] = contextvars.ContextVar(
    "mogulsync_request_priority", default=0
)


@contextmanager
def request_priority(priority: int) -> Iterator[None]:
    """Requests started inside this block wait their turn with ``priority`` (default 0).

    Pagers pass a page's position in its list: a list read page after page is a chain of
    round trips, and the longer it is the more it decides when a run ends, while the
    parts a stream is split into (windows, data sources, customers) start as short
    chains. Longest chain first shortens the run without changing the requests made or
    the rate they are made at.
    """
    token = _PRIORITY.set(priority)
    try:
        yield
    finally:
        _PRIORITY.reset(token)


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


class Pacer(Protocol):
    """Hands out request start times for one account."""

    @property
    def rate(self) -> float:
        """Requests per second."""
        ...

    def tighten(self, rate: float) -> None:
        """Lower the rate."""
        ...

    def reserve(self) -> float:
        """Book the next start; seconds to wait for it."""
        ...


class SharedPacer:
    """A pacer whose clock lives in a :class:`PacingStore` shared with other processes.

    If the store fails (file unwritable, database down) the process keeps pacing on its own
    clock and logs it once: a sync should not stop because its limiter's store did.
    """

    def __init__(self, store: PacingStore, account: str, rate: float) -> None:
        self._local = RatePacer(rate)
        self._store = store
        self._account = account
        self._failed = False

    @property
    def rate(self) -> float:
        """Requests per second."""
        return self._local.rate

    def tighten(self, rate: float) -> None:
        """Lower the rate (never raise it)."""
        self._local.tighten(rate)

    def reserve(self) -> float:
        """Book the next start on the shared clock (the local one if the store fails)."""
        if not self._failed:
            try:
                return self._store.reserve(self._account, 1.0 / self._local.rate)
            except Exception as exc:
                self._failed = True
                # The exception type only: a driver message may quote the database URL.
                _log.warning(
                    "shared rate limit store failed (%s); pacing this process alone",
                    type(exc).__name__,
                )
        return self._local.reserve()

    def close(self) -> None:
        """Close the store."""
        self._store.close()


@dataclass(order=True)
class _Waiter:
    """A queued acquirer: the most urgent first (highest priority, then oldest)."""

    rank: tuple[int, int]
    loop: asyncio.AbstractEventLoop = field(compare=False)
    future: asyncio.Future[None] = field(compare=False)
    #: once the gate has handed out this many slots, this waiter is overdue: it goes next
    due: int = field(default=0, compare=False)
    queued: bool = field(default=True, compare=False)


class InFlightGate:
    """A counting semaphore usable from any event loop and any thread.

    A freed slot goes to the waiter of highest ``priority``, the oldest among equals,
    unless a waiter has seen ``max_overtakes`` slots handed out since it queued: the oldest
    such waiter goes first, so a low priority is served after a bounded number of others.
    """

    def __init__(self, limit: int, *, max_overtakes: int = MAX_OVERTAKES) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self._limit = limit
        self._used = 0
        self._max_overtakes = max_overtakes
        # The same waiters twice: a heap by rank, and a queue by arrival (for overdue
        # ones). A waiter taken from one, or cancelled, stays in the other marked not
        # ``queued`` until it surfaces (or the queues are rebuilt).
        self._waiters: list[_Waiter] = []
        self._arrivals: deque[_Waiter] = deque()
        self._queued = 0
        self._handed = 0
        self._order = itertools.count()
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

    async def acquire(self, priority: int = 0) -> None:
        """Wait for a free slot."""
        loop = asyncio.get_running_loop()
        with self._lock:
            if self._used < self._limit and not self._queued:
                self._used += 1
                return
            waiter = _Waiter(
                (-priority, next(self._order)),
                loop,
                loop.create_future(),
                due=self._handed + self._max_overtakes,
            )
            self._push(waiter)
        try:
            await waiter.future
        except asyncio.CancelledError:
            with self._lock:
                if waiter.queued:
                    waiter.queued = False
                    self._queued -= 1
                    raise
            # The slot was handed over just as we were cancelled: give it back.
            if waiter.future.done() and not waiter.future.cancelled():
                self.release()
            raise

    def release(self) -> None:
        """Free a slot, handing it straight to the next live waiter (see the class)."""
        with self._lock:
            while self._queued and self._used <= self._limit:
                waiter = self._pop()
                try:
                    # The slot moves to the waiter; the count stays the same.
                    waiter.loop.call_soon_threadsafe(self._grant, waiter.future)
                except RuntimeError:  # its loop was closed: the waiter is gone
                    continue
                self._handed += 1
                return
            self._used -= 1

    def _push(self, waiter: _Waiter) -> None:
        """Queue ``waiter`` (under the lock)."""
        heapq.heappush(self._waiters, waiter)
        self._arrivals.append(waiter)
        self._queued += 1

    def _pop(self) -> _Waiter:
        """Take the next live waiter: the oldest if overdue, else the most urgent (under
        the lock, with at least one queued)."""
        while not self._arrivals[0].queued:
            self._arrivals.popleft()
        if self._arrivals[0].due <= self._handed:
            waiter = self._arrivals.popleft()
        else:
            waiter = heapq.heappop(self._waiters)
            while not waiter.queued:
                waiter = heapq.heappop(self._waiters)
        waiter.queued = False
        self._queued -= 1
        if len(self._waiters) + len(self._arrivals) > 2 * self._queued + _STALE_WAITERS:
            # Taken or cancelled waiters deep in either queue would otherwise pile up
            # while urgent ones keep arriving.
            self._waiters = [w for w in self._waiters if w.queued]
            heapq.heapify(self._waiters)
            self._arrivals = deque(w for w in self._arrivals if w.queued)
        return waiter

    def _grant(self, waiter: asyncio.Future[None]) -> None:
        if waiter.done():  # cancelled meanwhile: the slot goes to the next one
            self.release()
        else:
            waiter.set_result(None)


class SharedInFlight:
    """The account's in-flight cap across processes: a lease from a :class:`LeaseStore`.

    One task per process polls the store at a time (the others queue behind it in this
    process), so a full account costs one query per poll interval, not one per waiter. If
    the store fails the process keeps only its own cap and logs it once.
    """

    def __init__(self, store: LeaseStore, account: str, cap: int, *, sleep: Sleep) -> None:
        self._store = store
        self._account = account
        self._cap = cap
        self._sleep = sleep
        self._claim = InFlightGate(1)
        self.failed = False

    @property
    def cap(self) -> int:
        """Most requests of the account in flight across every process."""
        return self._cap

    def tighten(self, cap: int) -> None:
        """Lower the cap (never raise it)."""
        self._cap = min(self._cap, cap)

    async def acquire(self) -> int | None:
        """Wait for a lease; its slot, or None once the store has failed."""
        if self.failed:
            return None
        await self._claim.acquire()
        try:
            wait = _LEASE_POLL_MIN_S
            while not self.failed:
                try:
                    slot = self._store.try_acquire(self._account, self._cap)
                except Exception as exc:  # any store failure means: cap this process alone
                    self._fail(exc)
                    break
                if slot is not None:
                    return slot
                await self._sleep(wait)
                wait = min(wait * 2, _LEASE_POLL_MAX_S)
            return None
        finally:
            self._claim.release()

    def release(self, slot: int | None) -> None:
        """Give the lease back (an unreleased one expires on its own)."""
        if slot is None or self.failed:
            return
        try:
            self._store.release(self._account, slot)
        except Exception as exc:  # any store failure means: cap this process alone
            self._fail(exc)

    def _fail(self, exc: Exception) -> None:
        if not self.failed:
            self.failed = True
            # The exception type only: a driver message may quote the database URL.
            _log.warning(
                "shared in-flight limit store failed (%s); capping this process alone",
                type(exc).__name__,
            )


class AccountLimiter:
    """Rate pacing plus an in-flight cap for one account."""

    def __init__(
        self,
        rate: float,
        max_in_flight: int,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        pacer: Pacer | None = None,
        leases: LeaseStore | None = None,
        account: str = "",
    ) -> None:
        self.pacer: Pacer = pacer or RatePacer(rate, clock=clock)
        self.gate = InFlightGate(max_in_flight)
        # One request at a time per event loop books its start, the most urgent first.
        # Per loop: the booker sleeps until its start holding the booking, and a loop
        # busy with synchronous work (the extract's page hand-over waiting for dlt) must
        # not hold up other loops' requests; the pacer still spaces everyone's starts.
        # Only requests holding a slot wait here: one is overdue after as many bookings
        # as there are slots.
        self._bookings: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, InFlightGate]
        self._bookings = weakref.WeakKeyDictionary()
        self._bookings_lock = threading.Lock()
        self.shared_gate = (
            SharedInFlight(leases, account, max_in_flight, sleep=sleep) if leases else None
        )
        self._sleep = sleep

    def tighten(self, rate: float, max_in_flight: int) -> None:
        """Adopt stricter limits requested by another client of the same account."""
        self.pacer.tighten(rate)
        self.gate.tighten(max_in_flight)
        if self.shared_gate is not None:
            self.shared_gate.tighten(max_in_flight)

    def booking_gate(self) -> InFlightGate:
        """The running event loop's booking turn (one booker at a time per loop)."""
        loop = asyncio.get_running_loop()
        with self._bookings_lock:
            booking = self._bookings.get(loop)
            if booking is None:
                booking = InFlightGate(1, max_overtakes=self.gate.limit)
                self._bookings[loop] = booking
            return booking

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold an in-flight slot and wait for this request's turn to start.

        Turns go by :func:`request_priority` (then first come, first served): the next
        start is booked only when the previous one is due, by the most urgent request
        waiting then, so a later but more urgent request is not stuck behind a queue
        that booked ahead.
        """
        priority = _PRIORITY.get()
        await self.gate.acquire(priority)
        try:
            booking = self.booking_gate()
            await booking.acquire(priority)
            try:
                delay = self.pacer.reserve()
                if delay > 0:
                    await self._sleep(delay)
            finally:
                booking.release()
            if self.shared_gate is None:
                yield
                return
            # The lease is taken after the paced wait, so a slot is held only on the wire.
            lease = await self.shared_gate.acquire()
            try:
                yield
            finally:
                self.shared_gate.release(lease)
        finally:
            self.gate.release()


_REGISTRY: dict[tuple[str, str, str, bool], AccountLimiter] = {}
#: a pacing or lease store, as :func:`_open_shared` opens either
_Store = TypeVar("_Store")
_STORES: dict[str, PacingStore] = {}
_LEASES: dict[str, LeaseStore] = {}
_REGISTRY_LOCK = threading.Lock()


def account_key(base_url: str, api_key: str) -> tuple[str, str]:
    """Registry key of an account: its API root and a digest of the key (never the key)."""
    digest = hashlib.sha256(api_key.encode()).hexdigest()[:_KEY_DIGEST_CHARS]
    return base_url.rstrip("/"), digest


def limiter_for(
    base_url: str,
    api_key: str,
    rate: float,
    max_in_flight: int,
    shared: SharedLimit | None = None,
) -> AccountLimiter:
    """The process-wide limiter of an account; later callers can only make it stricter.

    ``shared`` says who else paces from the same clock (default: every process on this
    machine); see :class:`~mogulsync.chartmogul.settings.SharedLimit`.
    """
    shared = shared or SharedLimit()
    base, digest = account_key(base_url, api_key)
    where = _store_name(shared)
    with _REGISTRY_LOCK:
        key = (base, digest, where, shared.share_in_flight)
        limiter = _REGISTRY.get(key)
        if limiter is None:
            pacer: Pacer | None = None
            account = f"{base} {digest}"
            store = _STORES.get(where) or _open_store(shared, where) if where else None
            if store is not None:
                pacer = SharedPacer(store, account, rate)
            leases = None
            if where and shared.share_in_flight:
                leases = _LEASES.get(where) or _open_leases(shared, where)
            limiter = AccountLimiter(
                rate, max_in_flight, pacer=pacer, leases=leases, account=account
            )
            _REGISTRY[key] = limiter
        else:
            limiter.tighten(rate, max_in_flight)
        return limiter


def _store_name(shared: SharedLimit) -> str:
    """Which store a setting means, as a registry key ("" for none; never a password)."""
    if shared.postgres_url is not None:
        url = shared.postgres_url.get_secret_value()
        digest = hashlib.sha256(url.encode()).hexdigest()[:_KEY_DIGEST_CHARS]
        return f"postgres:{digest}:{shared.postgres_schema}"
    if shared.scope == "process":
        return ""
    return f"sqlite:{Path(shared.file) if shared.file else default_pacing_file()}"


def _open_store(shared: SharedLimit, where: str) -> PacingStore | None:
    """The store, or None (pace this process alone) when it cannot be opened."""
    postgres: Callable[[str, str], PacingStore] = PostgresPacingStore
    sqlite: Callable[[Path], PacingStore] = SqlitePacingStore
    store = _open_shared(shared, where, postgres, sqlite, "rate limit", "pacing")
    if store is not None:
        _STORES[where] = store
    return store


def _open_leases(shared: SharedLimit, where: str) -> LeaseStore | None:
    """The lease store next to the pacing clock, or None (cap this process alone)."""
    postgres: Callable[[str, str], LeaseStore] = PostgresLeaseStore
    sqlite: Callable[[Path], LeaseStore] = SqliteLeaseStore
    store = _open_shared(shared, where, postgres, sqlite, "in-flight limit", "capping")
    if store is not None:
        _LEASES[where] = store
    return store


def _open_shared(
    shared: SharedLimit,
    where: str,
    postgres: Callable[[str, str], _Store],
    sqlite: Callable[[Path], _Store],
    what: str,
    alone: str,
) -> _Store | None:
    """A shared store in PostgreSQL (``state_store``) or the SQLite file, or None."""
    try:
        if shared.postgres_url is not None:
            return postgres(shared.postgres_url.get_secret_value(), shared.postgres_schema)
        return sqlite(Path(where.removeprefix("sqlite:")))
    except Exception as exc:
        # The exception type only: a driver message may quote the database URL.
        _log.warning(
            "shared %s store unavailable (%s); %s this process alone",
            what,
            type(exc).__name__,
            alone,
        )
        return None


def forget_limiters() -> None:
    """Drop every registered limiter (tests and long-lived processes that rotate keys)."""
    with _REGISTRY_LOCK:
        _REGISTRY.clear()
        for store in _STORES.values():
            store.close()
        _STORES.clear()
        for leases in _LEASES.values():
            leases.close()
        _LEASES.clear()

"""Pacing, the in-flight gate and the per-account registry, on a virtual clock."""

from __future__ import annotations

import asyncio
import itertools
import threading

import pytest

from mogulsync.chartmogul.limiter import (
    MAX_OVERTAKES,
    AccountLimiter,
    InFlightGate,
    RatePacer,
    _Waiter,
    account_key,
    forget_limiters,
    limiter_for,
    request_priority,
)


class VirtualClock:
    """A clock that only moves when something sleeps on it."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_reservations_are_spaced_by_the_interval() -> None:
    """Requests asked for at the same instant start 1/rate apart."""
    clock = VirtualClock()
    pacer = RatePacer(40, clock=clock)
    delays = [pacer.reserve() for _ in range(5)]
    assert delays == pytest.approx([0.0, 0.025, 0.05, 0.075, 0.1])


def test_idle_time_does_not_build_a_burst() -> None:
    """After a quiet minute only one request is free; the next waits a full interval."""
    clock = VirtualClock()
    pacer = RatePacer(10, clock=clock)
    pacer.reserve()
    clock.now += 60
    assert pacer.reserve() == 0.0
    assert pacer.reserve() == pytest.approx(0.1)


@pytest.mark.anyio
async def test_slots_run_at_the_configured_rate() -> None:
    """200 requests through the limiter take exactly 199 intervals of virtual time."""
    clock = VirtualClock()
    limiter = AccountLimiter(40, 20, clock=clock, sleep=clock.sleep)
    start = clock.now
    for _ in range(200):
        async with limiter.slot():
            pass
    assert clock.now - start == pytest.approx(199 / 40)


def test_tighten_only_lowers_limits() -> None:
    """A second client can make the limits stricter, never looser."""
    limiter = AccountLimiter(40, 20)
    limiter.tighten(100, 50)
    assert (limiter.pacer.rate, limiter.gate.limit) == (pytest.approx(40), 20)
    limiter.tighten(10, 5)
    assert (limiter.pacer.rate, limiter.gate.limit) == (pytest.approx(10), 5)


@pytest.mark.parametrize(("rate", "limit"), [(0, 1), (1, 0)])
def test_invalid_limits_are_refused(rate: float, limit: int) -> None:
    """A zero rate or in-flight limit is a programming error."""
    with pytest.raises(ValueError):
        AccountLimiter(rate, limit)


async def _crowd(gate: InFlightGate, tasks: int, peak: list[int], lock: threading.Lock) -> None:
    """Run ``tasks`` workers that each hold a slot over a few scheduler turns."""

    async def worker() -> None:
        await gate.acquire()
        try:
            with lock:
                peak[0] = max(peak[0], gate.in_flight)
            for _ in range(3):
                await asyncio.sleep(0.001)
        finally:
            gate.release()

    await asyncio.gather(*(worker() for _ in range(tasks)))


@pytest.mark.anyio
async def test_gate_admits_exactly_the_limit() -> None:
    """Twelve tasks through a gate of three: three run at once, never more."""
    gate = InFlightGate(3)
    peak = [0]
    await _crowd(gate, 12, peak, threading.Lock())
    assert peak[0] == 3
    assert gate.in_flight == 0


@pytest.mark.anyio
async def test_cancelled_waiter_does_not_leak_a_slot() -> None:
    """A waiter cancelled while queued leaves the count as it was."""
    gate = InFlightGate(1)
    await gate.acquire()
    waiter = asyncio.ensure_future(gate.acquire())
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    gate.release()
    assert gate.in_flight == 0
    await asyncio.wait_for(gate.acquire(), timeout=5)
    assert gate.in_flight == 1
    gate.release()


@pytest.mark.anyio
async def test_waiter_cancelled_after_being_granted_gives_the_slot_back() -> None:
    """A slot handed to a waiter that is cancelled at that moment is passed on."""
    gate = InFlightGate(1)
    await gate.acquire()
    waiter = asyncio.ensure_future(gate.acquire())
    await asyncio.sleep(0)
    gate.release()  # grant scheduled for the waiter ...
    waiter.cancel()  # ... which is cancelled before it runs
    with pytest.raises(asyncio.CancelledError):
        await waiter
    await asyncio.sleep(0)
    assert gate.in_flight == 0


def test_gate_works_across_successive_event_loops() -> None:
    """One gate serves several asyncio.run() loops in turn (a Semaphore would not)."""
    gate = InFlightGate(2)
    lock = threading.Lock()
    for _ in range(3):
        peak = [0]
        asyncio.run(_crowd(gate, 8, peak, lock))
        assert peak[0] == 2
    assert gate.in_flight == 0


def test_gate_is_shared_by_loops_in_several_threads() -> None:
    """Loops in two threads together never exceed the limit."""
    gate = InFlightGate(3)
    lock = threading.Lock()
    peak = [0]
    errors: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(_crowd(gate, 15, peak, lock))
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert 1 <= peak[0] <= 3
    assert gate.in_flight == 0


def test_registry_shares_one_limiter_per_account() -> None:
    """Same API root and key: one limiter; another key or root: another limiter."""
    forget_limiters()
    first = limiter_for("https://api.example.test/v1", "key-one", 40, 20)
    assert limiter_for("https://api.example.test/v1/", "key-one", 40, 20) is first
    assert limiter_for("https://api.example.test/v1", "key-two", 40, 20) is not first
    assert limiter_for("https://other.example.test/v1", "key-one", 40, 20) is not first


def test_registry_stricter_client_wins() -> None:
    """A second client asking for less tightens the shared limiter."""
    forget_limiters()
    limiter = limiter_for("https://api.example.test/v1", "key-one", 40, 20)
    limiter_for("https://api.example.test/v1", "key-one", 20, 5)
    assert (limiter.pacer.rate, limiter.gate.limit) == (pytest.approx(20), 5)


def test_registry_key_never_holds_the_api_key() -> None:
    """Limiters are registered under a digest, not the key itself."""
    base, digest = account_key("https://api.example.test/v1", "very-secret-key")
    assert "very-secret-key" not in base + digest
    assert len(digest) == 16


def test_waiters_of_a_closed_loop_are_skipped() -> None:
    """A waiter left behind by a loop that has closed does not swallow the slot."""
    gate = InFlightGate(1)
    asyncio.run(gate.acquire())
    dead_loop = asyncio.new_event_loop()
    orphan = dead_loop.create_future()
    dead_loop.close()
    gate._push(_Waiter((0, 0), dead_loop, orphan))
    gate.release()
    assert gate.in_flight == 0
    assert not orphan.done()


@pytest.mark.anyio
async def test_a_freed_slot_goes_to_the_most_urgent_waiter() -> None:
    """Highest priority first, the oldest among equals; a cancelled waiter is passed over."""
    gate = InFlightGate(1)
    await gate.acquire()
    granted: list[str] = []

    async def wait(name: str, priority: int) -> None:
        await gate.acquire(priority)
        granted.append(name)

    waiters = {
        name: asyncio.ensure_future(wait(name, priority))
        for name, priority in [("low", 0), ("high", 2), ("mid", 1), ("high2", 2), ("gone", 3)]
    }
    await asyncio.sleep(0)
    waiters["gone"].cancel()
    for _ in range(4):
        gate.release()
        for _ in range(3):
            await asyncio.sleep(0)
    assert granted == ["high", "high2", "mid", "low"]
    assert waiters["gone"].cancelled()
    gate.release()
    assert gate.in_flight == 0


@pytest.mark.anyio
async def test_an_urgent_request_starts_before_those_queued_ahead_of_it() -> None:
    """Starts are booked one at a time when due, so a request of higher priority that
    comes later takes the next start; the pace stays one start per interval."""
    clock = VirtualClock()
    booked: list[float] = []

    async def sleep(seconds: float) -> None:
        clock.now += seconds
        for _ in range(5):  # a wait other tasks can queue during
            await asyncio.sleep(0)

    limiter = AccountLimiter(10, 20, clock=clock, sleep=sleep)
    started: list[str] = []

    async def request(name: str, priority: int = 0) -> None:
        with request_priority(priority):
            async with limiter.slot():
                started.append(name)
                booked.append(clock.now)

    queued = [asyncio.ensure_future(request(f"part{n}")) for n in range(4)]
    await asyncio.sleep(0)
    urgent = asyncio.ensure_future(request("page 5 of a long list", 5))
    await asyncio.gather(*queued, urgent)

    # part0 started at once and part1 had booked the next start before the urgent one came
    assert started == ["part0", "part1", "page 5 of a long list", "part2", "part3"]
    assert [round(b - booked[0], 6) for b in booked] == [0.0, 0.1, 0.2, 0.3, 0.4]


@pytest.mark.anyio
async def test_a_low_priority_waiter_is_overtaken_a_bounded_number_of_times() -> None:
    """Urgent waiters arriving before every hand-out pass a priority-0 waiter only until
    ``max_overtakes`` slots have gone since it queued; then it goes next."""
    gate = InFlightGate(1, max_overtakes=5)
    await gate.acquire()
    granted: list[str] = []

    async def wait(name: str, priority: int) -> None:
        await gate.acquire(priority)
        granted.append(name)

    low = asyncio.ensure_future(wait("low", 0))
    await asyncio.sleep(0)
    chains = []
    for page in range(1, 20):  # a long chain always has its next page waiting
        chains.append(asyncio.ensure_future(wait(f"page {page}", page)))
        await asyncio.sleep(0)
        gate.release()
        for _ in range(3):
            await asyncio.sleep(0)
    assert granted[:7] == [*(f"page {page}" for page in range(1, 6)), "low", "page 7"]
    assert low.done()
    for chain in chains:
        chain.cancel()
    await asyncio.gather(*chains, return_exceptions=True)
    gate.release()
    assert gate.in_flight == 0


@pytest.mark.anyio
async def test_long_page_chains_do_not_starve_a_write() -> None:
    """30 lists read page after page keep every slot busy; a priority-0 request (a sync's
    write) that comes meanwhile still starts within a bounded number of starts, not after
    every page of every list, and the pace stays one start per interval."""
    clock = VirtualClock()

    async def sleep(seconds: float) -> None:
        clock.now += seconds
        await asyncio.sleep(0)

    limiter = AccountLimiter(40, 20, clock=clock, sleep=sleep)
    started: list[str] = []
    first = clock.now

    async def chain(name: int) -> None:
        for page in range(20):
            with request_priority(page):
                async with limiter.slot():
                    started.append(f"list {name} page {page}")
                    for _ in range(3):  # the round trip
                        await asyncio.sleep(0)

    async def write() -> None:
        async with limiter.slot():
            started.append("write")

    chains = [asyncio.ensure_future(chain(name)) for name in range(30)]
    for _ in range(50):
        await asyncio.sleep(0)
    await asyncio.gather(*chains, write())

    # bounded: overtaken MAX_OVERTAKES times in the slot queue after those queued before
    # it (30 lists), then at most twice the slots while booking its start
    assert len(started) == 601
    assert started.index("write") <= MAX_OVERTAKES + 30 + 2 * 20
    assert clock.now - first == pytest.approx(600 / 40)
    assert limiter.gate.in_flight == 0


@pytest.mark.anyio
async def test_cancelled_and_overtaken_waiters_do_not_pile_up() -> None:
    """Waiters cancelled or taken out of order leave no growing backlog in the gate."""
    gate = InFlightGate(1, max_overtakes=3)
    await gate.acquire()
    for round_ in range(300):
        stale = asyncio.ensure_future(gate.acquire(0))
        urgent = asyncio.ensure_future(gate.acquire(round_ + 1))
        await asyncio.sleep(0)
        stale.cancel()
        gate.release()
        await urgent
    assert len(gate._waiters) + len(gate._arrivals) <= 64
    gate.release()
    assert gate.in_flight == 0


@pytest.mark.anyio
async def test_many_waiters_of_mixed_priority_keep_the_rate() -> None:
    """200 requests at once, of mixed priorities, some cancelled while they wait: the
    others start exactly one interval apart, and every slot and booking comes back."""
    clock = VirtualClock()

    async def sleep(seconds: float) -> None:
        clock.now += seconds
        await asyncio.sleep(0)

    limiter = AccountLimiter(40, 20, clock=clock, sleep=sleep)
    starts: list[float] = []

    async def request(priority: int) -> None:
        with request_priority(priority):
            async with limiter.slot():
                starts.append(clock.now)
                await asyncio.sleep(0)

    tasks = [asyncio.ensure_future(request(n % 7)) for n in range(220)]
    for _ in range(3):
        await asyncio.sleep(0)
    for task in tasks[100::6]:  # 20 give up while queued or booking
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)

    assert len(starts) == 200
    gaps = [later - earlier for earlier, later in itertools.pairwise(starts)]
    assert gaps == pytest.approx([1 / 40] * 199)
    assert (limiter.gate.in_flight, limiter.booking_gate().in_flight) == (0, 0)


def test_a_blocked_event_loop_does_not_hold_up_another_loops_requests() -> None:
    """A loop stuck in synchronous work (the extract's page hand-over waiting for dlt)
    while one of its requests waits for its start: a loop in another thread still gets
    its requests started (one booking for every loop waited for the stuck one).

    The pacing clock stands still, so the stuck loop's second request always waits for its
    start holding its loop's booking, however long the machine took to get there (on the
    real clock a slow machine made that wait 0: nothing was held and the test proved
    nothing); the waits themselves are real, a millisecond each."""
    limiter = AccountLimiter(1000, 20, clock=lambda: 1000.0)
    other_done = threading.Event()
    stuck = threading.Event()
    outcome: list[bool] = []

    async def request() -> None:
        async with limiter.slot():
            pass

    async def stuck_loop() -> None:
        await request()  # the next start is now one interval away
        waiting = asyncio.ensure_future(request())
        await asyncio.sleep(0)  # it books that start and sleeps towards it
        outcome.append(limiter.booking_gate().in_flight == 1)  # holding this loop's booking
        stuck.set()
        outcome.append(other_done.wait(timeout=30))  # blocks this loop, timers and all
        await waiting

    async def other_loop() -> None:
        await asyncio.gather(*(request() for _ in range(3)))

    def run_other() -> None:
        stuck.wait(timeout=30)
        asyncio.run(other_loop())
        other_done.set()

    threads = [
        threading.Thread(target=asyncio.run, args=(stuck_loop(),)),
        threading.Thread(target=run_other),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert outcome == [True, True]
    assert limiter.gate.in_flight == 0

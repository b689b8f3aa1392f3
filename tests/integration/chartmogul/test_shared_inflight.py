"""One in-flight cap (20 per account) shared by processes (SQLite file) and machines (PostgreSQL)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr
from starlette.types import ASGIApp, Receive, Scope, Send

from mogulsync.chartmogul import (
    ChartMogulClient,
    ClientSettings,
    SharedLimit,
    forget_limiters,
    limiter_for,
)
from mogulsync.chartmogul.limiter import AccountLimiter, SharedPacer
from mogulsync.chartmogul.shared_leases import PostgresLeaseStore, SqliteLeaseStore, _Renewer
from mogulsync.emulator.server import EmulatorServer
from mogulsync.emulator.settings import EmulatorSettings, Limits
from mogulsync.emulator.stats import Stats

WORKER = Path(__file__).parent / "_pacing_worker.py"
HOLD_TTL_S = 3600.0  # the worker's lease expiry
ACCOUNT = "acct"
CAP = 20  # ChartMogul's parallel connections per account
#: a generous bound: only a limiter that never lets ``CAP`` requests out waits this long
HOLD_LIMIT_S = 20.0  # below the client's 30 s read timeout


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_stores_on_one_file_share_the_cap(tmp_path) -> None:
    """Two stores (two processes' view): cap leases in all, and a released one comes back."""
    clock = FakeClock()
    first = SqliteLeaseStore(tmp_path / "l.sqlite", clock=clock, renew=False)
    second = SqliteLeaseStore(tmp_path / "l.sqlite", clock=clock, renew=False)
    taken = [store.try_acquire("acct", 3) for store in (first, second, first)]
    assert sorted(taken) == [0, 1, 2]  # type: ignore[type-var]
    assert second.try_acquire("acct", 3) is None
    assert second.try_acquire("other-account", 3) == 0  # accounts do not share
    second.release("acct", 2)  # not second's lease: a no-op
    assert first.try_acquire("acct", 3) is None
    first.release("acct", 2)
    assert second.try_acquire("acct", 3) == 2
    first.close()
    second.close()


def test_a_renewing_owner_keeps_its_slot_and_a_silent_one_loses_it(tmp_path) -> None:
    clock = FakeClock()
    ttl = 15.0
    owner = SqliteLeaseStore(tmp_path / "l.sqlite", ttl=ttl, clock=clock, renew=False)
    other = SqliteLeaseStore(tmp_path / "l.sqlite", ttl=ttl, clock=clock, renew=False)
    assert owner.try_acquire("acct", 1) == 0
    for _ in range(3):  # well past one ttl in all, renewed within each
        clock.now += ttl * 0.9
        owner.renew()
        assert other.try_acquire("acct", 1) is None
    clock.now += ttl + 1  # the owner stopped renewing (it died)
    assert other.try_acquire("acct", 1) == 0
    owner.release("acct", 0)  # the late owner cannot free what is no longer its lease
    assert owner.try_acquire("acct", 1) is None
    owner.close()
    other.close()


def _kill_holder(where: str, count: int) -> None:
    """A process takes ``count`` leases and is killed with SIGKILL, leases held."""
    holder = subprocess.Popen(
        [sys.executable, str(WORKER), "hold", where, str(count)], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None
    assert holder.stdout.readline().strip() == "held"
    holder.send_signal(signal.SIGKILL)
    assert holder.wait(timeout=30) == -signal.SIGKILL
    holder.stdout.close()


@pytest.mark.timeout(60)
def test_slots_of_a_killed_process_come_back(tmp_path) -> None:
    """kill -9 leaks no slot for good: the leases stay until they expire, then are free."""
    path = tmp_path / "l.sqlite"
    _kill_holder(str(path), 20)
    now = SqliteLeaseStore(path, renew=False)
    assert now.try_acquire("acct", 20) is None  # the dead process's leases still count
    now.close()
    clock = FakeClock(now=time.time() + HOLD_TTL_S + 1)
    later = SqliteLeaseStore(path, clock=clock, renew=False)
    assert [later.try_acquire("acct", 20) for _ in range(20)] == list(range(20))
    later.close()


@pytest.mark.postgres
@pytest.mark.timeout(60)
def test_slots_of_a_killed_process_come_back_in_postgres(postgres_server) -> None:
    _kill_holder(postgres_server.url, 20)
    now = PostgresLeaseStore(postgres_server.url, "lease_kill_test", renew=False)
    assert now.try_acquire("acct", 20) is None
    now.close()
    later = PostgresLeaseStore(
        postgres_server.url, "lease_kill_test", clock_offset_s=HOLD_TTL_S + 1, renew=False
    )
    assert [later.try_acquire("acct", 20) for _ in range(20)] == list(range(20))
    later.close()


def _run_workers(base_url: str, api_key: str, scope: str, where: str, go: Path, n: int) -> None:
    workers = [
        subprocess.Popen(
            [sys.executable, str(WORKER), "ping", base_url, api_key, "30", scope, where, str(go)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(n)
    ]
    go.touch()
    outs = [worker.communicate(timeout=100)[0] for worker in workers]
    # the last line: stamina logs any retry (a 503, say) on stdout before it
    results = [json.loads(out.strip().splitlines()[-1]) for out in outs]
    assert [result["ok"] for result in results] == [30] * n


class _HoldFirstWave:
    """Holds the first requests at the emulator until ``CAP`` are in flight, then lets go.

    The cap is reached for by construction, however slowly the workers start: a machine too
    busy to put 20 requests on the wire within one latency does not make the test vacuous.
    A limiter stricter than the cap never fills the wave: the hold gives up after
    ``HOLD_LIMIT_S`` and the exact peak below fails.
    """

    def __init__(self, router: ASGIApp, stats: Stats) -> None:
        self._router = router
        self._stats = stats
        self._full: asyncio.Event | None = None  # made on the emulator's own loop

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._full is None:
            self._full = asyncio.Event()
        if scope["path"].startswith("/v1/") and not self._full.is_set():
            if self._stats.in_flight >= CAP:
                self._full.set()
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._full.wait(), HOLD_LIMIT_S)
                self._full.set()  # one wave only, full or not
        await self._router(scope, receive, send)


@contextlib.contextmanager
def _capped_emulator() -> Iterator[EmulatorServer]:
    # 1 s per answer after the held wave: 40 req/s would put 40 requests on the wire;
    # ChartMogul allows 20, and the emulator answers a 21st with a 503.
    limits = Limits(rate_limit=40, max_connections=CAP, latency_ms=1000)
    server = EmulatorServer(EmulatorSettings(limits=limits))
    server.app.router = _HoldFirstWave(server.app.router, server.emulator.stats)  # type: ignore[assignment]
    with server:
        yield server


def _assert_capped(stats: Stats, requests: int) -> None:
    """Every request answered once, never more than the cap on the wire, and the cap reached."""
    assert stats.peak_concurrency == CAP, stats.snapshot({})
    assert stats.concurrency_rejected == 0, stats.snapshot({})
    # a 429 (arrivals bunched by a busy machine) is retried; a 503 would mean over the cap
    assert stats.by_status[200] == requests, stats.snapshot({})
    assert set(stats.by_status) <= {200, 429}, stats.snapshot({})


@pytest.mark.timeout(120)
def test_processes_never_hold_more_than_20_in_flight(tmp_path) -> None:
    """3 processes, each allowed 20 in flight, one account: never above 20, no 503."""
    with _capped_emulator() as server:
        _run_workers(
            server.base_url,
            server.api_key,
            "machine",
            str(tmp_path / "l.sqlite"),
            tmp_path / "go",
            3,
        )
        _assert_capped(server.emulator.stats, 90)


@pytest.mark.postgres
@pytest.mark.timeout(120)
def test_machines_never_hold_more_than_20_in_flight(tmp_path, postgres_server) -> None:
    with _capped_emulator() as server:
        _run_workers(
            server.base_url, server.api_key, "postgres", postgres_server.url, tmp_path / "go", 2
        )
        _assert_capped(server.emulator.stats, 60)


def test_limiter_for_takes_leases_unless_process_scoped(tmp_path) -> None:
    forget_limiters()
    shared = SharedLimit(file=str(tmp_path / "pace.sqlite"))
    assert limiter_for("http://x.test/v1", "key", 40, 20, shared).shared_gate is not None
    alone = limiter_for("http://x.test/v1", "key", 40, 20, SharedLimit(scope="process"))
    assert alone.shared_gate is None
    forget_limiters()


def test_a_failing_store_falls_back_to_the_process_cap_with_one_warning(tmp_path, caplog) -> None:
    store = SqliteLeaseStore(tmp_path / "l.sqlite", renew=False)
    limiter = AccountLimiter(1000, 2, leases=store, account="acct")
    store.close()  # every call now raises

    async def send_three() -> None:
        for _ in range(3):
            async with limiter.slot():
                pass

    asyncio.run(send_three())
    assert limiter.shared_gate is not None
    assert limiter.shared_gate.failed
    warnings = [r for r in caplog.records if "capping this process alone" in r.getMessage()]
    assert len(warnings) == 1
    assert str(tmp_path) not in caplog.text
    assert limiter.gate.in_flight == 0


def test_an_unreachable_postgres_store_never_logs_its_url(caplog, dead_port) -> None:
    forget_limiters()
    url = f"postgresql://mogul:hunter2-secret@127.0.0.1:{dead_port}/state"
    limiter = limiter_for(
        "http://x.test/v1", "key", 40, 20, SharedLimit(postgres_url=SecretStr(url))
    )
    assert limiter.shared_gate is None
    assert "capping this process alone" in caplog.text
    assert "hunter2" not in caplog.text
    assert f"127.0.0.1:{dead_port}" not in caplog.text
    forget_limiters()


def test_a_full_account_waits_until_another_process_frees_a_slot(tmp_path) -> None:
    """All slots held elsewhere: the request polls (driven sleep) and goes once one is freed."""
    path = tmp_path / "l.sqlite"
    elsewhere = SqliteLeaseStore(path, renew=False)
    held = [elsewhere.try_acquire(ACCOUNT, 2) for _ in range(2)]
    mine = SqliteLeaseStore(path, renew=False)
    polls: list[float] = []

    async def sleep(seconds: float) -> None:
        polls.append(seconds)
        if len(polls) == 3:  # the other process answers after our third look
            elsewhere.release(ACCOUNT, held[0])  # type: ignore[arg-type]

    limiter = AccountLimiter(1000, 2, sleep=sleep, leases=mine, account=ACCOUNT)

    async def one_request() -> int | None:
        async with limiter.slot():
            return elsewhere.try_acquire(ACCOUNT, 2)  # while ours is on the wire: none free

    assert asyncio.run(one_request()) is None
    assert polls == [0.005, 0.01, 0.02]  # backing off while the account is full
    assert elsewhere.try_acquire(ACCOUNT, 2) == held[0]  # ours was given back after the answer
    mine.close()
    elsewhere.close()


def test_a_client_gives_every_lease_back(tmp_path) -> None:
    """Requests through a real client over loopback leave no lease behind."""
    forget_limiters()
    path = tmp_path / "l.sqlite"
    with EmulatorServer(EmulatorSettings()) as server:
        settings = ClientSettings(
            api_key=SecretStr(server.api_key),
            base_url=server.base_url,
            shared_limit=SharedLimit(file=str(path)),
        )

        async def pings() -> list[bool]:
            async with ChartMogulClient(settings) as client:
                return await asyncio.gather(*(client.ping() for _ in range(30)))

        assert all(asyncio.run(pings()))
    forget_limiters()
    db = sqlite3.connect(path)
    assert db.execute("SELECT count(*) FROM leases").fetchone() == (0,)
    db.close()


def test_the_renewer_thread_renews() -> None:
    renewed = threading.Event()
    renewer = _Renewer(renewed.set, 0.01)
    assert renewed.wait(timeout=30)
    renewer.stop()


def test_share_in_flight_false_keeps_a_cap_per_process(tmp_path) -> None:
    forget_limiters()
    shared = SharedLimit(file=str(tmp_path / "pace.sqlite"), share_in_flight=False)
    limiter = limiter_for("http://x.test/v1", "key", 40, 20, shared)
    assert limiter.shared_gate is None
    assert isinstance(limiter.pacer, SharedPacer)  # the clock is still shared
    forget_limiters()

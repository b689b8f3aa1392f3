"""One request budget per account shared by processes (SQLite file) and machines (PostgreSQL)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from tests.integration.chartmogul._pacing_probe import assert_paced_by_one_clock, assert_spaced

from mogulsync.chartmogul import SharedLimit, forget_limiters, limiter_for
from mogulsync.chartmogul.limiter import SharedPacer
from mogulsync.chartmogul.shared_pacing import MAX_AHEAD_S, PostgresPacingStore, SqlitePacingStore
from mogulsync.emulator.server import EmulatorServer
from mogulsync.emulator.settings import EmulatorSettings, Limits

WORKER = Path(__file__).parent / "_pacing_worker.py"
RATE = 40.0


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_two_connections_book_from_one_clock(tmp_path) -> None:
    """Two stores on one file (two processes' view): starts interleave 1/rate apart."""
    clock = FakeClock()
    first = SqlitePacingStore(tmp_path / "pace.sqlite", clock=clock)
    second = SqlitePacingStore(tmp_path / "pace.sqlite", clock=clock)
    booked = [store.book("acct", 0.025)[0] for store in (first, second, first, second)]
    assert booked == pytest.approx([1000.0, 1000.025, 1000.05, 1000.075])
    assert second.reserve("acct", 0.025) == pytest.approx(0.1)
    assert second.reserve("other-account", 0.025) == 0  # accounts do not share
    first.close()
    second.close()


def test_a_booking_far_ahead_is_a_clock_jump_not_a_queue(tmp_path) -> None:
    """After a reboot or a clock step back, a stale row does not stall every process."""
    clock = FakeClock()
    store = SqlitePacingStore(tmp_path / "pace.sqlite", clock=clock)
    store.book("acct", 0.025)
    clock.now -= MAX_AHEAD_S * 2
    assert store.reserve("acct", 0.025) == 0
    store.close()


def test_processes_on_one_machine_never_book_the_same_slot(tmp_path) -> None:
    """Three processes booking at once: every start at least 1/rate after another."""
    path = tmp_path / "pace.sqlite"
    interval = 0.001
    workers = [
        subprocess.Popen(
            [sys.executable, str(WORKER), "book", str(path), "200", str(interval)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    starts: list[float] = []
    for worker in workers:
        out, _ = worker.communicate(timeout=120)
        assert worker.returncode == 0
        starts.extend(json.loads(out))
    assert len(starts) == 600
    assert_spaced(starts, interval)


def test_limiter_for_shares_by_default_and_can_stay_private(tmp_path) -> None:
    forget_limiters()
    shared = SharedLimit(file=str(tmp_path / "pace.sqlite"))
    limiter = limiter_for("http://x.test/v1", "key", 40, 20, shared)
    assert isinstance(limiter.pacer, SharedPacer)
    alone = limiter_for("http://x.test/v1", "key", 40, 20, SharedLimit(scope="process"))
    assert not isinstance(alone.pacer, SharedPacer)
    forget_limiters()


def test_unwritable_store_falls_back_to_pacing_alone(tmp_path, caplog) -> None:
    """A store that cannot open never stops a sync; the log names no path or URL secret."""
    forget_limiters()
    blocker = tmp_path / "file"
    blocker.write_text("")
    shared = SharedLimit(file=str(blocker / "pace.sqlite"))  # a file where a directory must be
    limiter = limiter_for("http://x.test/v1", "key", 40, 20, shared)
    assert not isinstance(limiter.pacer, SharedPacer)
    assert "pacing this process alone" in caplog.text
    forget_limiters()


@pytest.mark.timeout(120)
def test_two_processes_share_the_account_budget(tmp_path) -> None:
    """Two clients in two processes at 40 req/s each, one 40 req/s account: they book from one
    clock, so together they go at 40 req/s; any 429 is retried and every ping answered once."""
    path = tmp_path / "pace.sqlite"
    go = tmp_path / "go"
    limits = Limits(rate_limit=RATE, max_connections=20)
    with EmulatorServer(EmulatorSettings(limits=limits)) as server:
        workers = [
            subprocess.Popen(
                [
                    sys.executable,
                    str(WORKER),
                    "ping",
                    server.base_url,
                    server.api_key,
                    "60",
                    "machine",
                    str(path),
                    str(go),
                ],
                stdout=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        go.touch()
        # the last line: stamina logs any retry (a 429, say) on stdout before it
        results = [
            json.loads(worker.communicate(timeout=100)[0].strip().splitlines()[-1])
            for worker in workers
        ]
        stats = server.emulator.stats
        assert [result["ok"] for result in results] == [60, 60]
        assert stats.by_status[200] == 120, stats.snapshot({})
        assert set(stats.by_status) <= {200, 429}, stats.snapshot({})
        assert_paced_by_one_clock(results, stats.requests_total, 1 / RATE)


@pytest.mark.postgres
def test_machines_book_from_one_postgres_row(postgres_server) -> None:
    """Two connections (two machines' view) booking from threads: one spaced sequence."""
    interval = 0.001
    stores = [PostgresPacingStore(postgres_server.url, "pacing_test") for _ in range(2)]
    starts: list[float] = []
    lock = threading.Lock()

    def run(store: PostgresPacingStore) -> None:
        mine = [store.book("acct", interval)[0] for _ in range(150)]
        with lock:
            starts.extend(mine)

    threads = [threading.Thread(target=run, args=(store,)) for store in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(starts) == 300
    assert_spaced(starts, interval)
    for store in stores:
        store.close()


@pytest.mark.postgres
def test_workers_creating_the_table_at_once_all_share(postgres_server) -> None:
    """The first workers of a deployment start together: none falls back to pacing alone."""
    stores: list[PostgresPacingStore] = []
    errors: list[BaseException] = []

    def open_store() -> None:
        try:
            stores.append(PostgresPacingStore(postgres_server.url, "pacing_race"))
        except BaseException as exc:  # a lost creation race
            errors.append(exc)

    threads = [threading.Thread(target=open_store) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert len(stores) == 6
    for store in stores:
        store.close()

"""``mogulsync serve`` left running: many scheduled runs keep its resources bounded.

A manual clock drives an every-minute schedule (and a drift watch every 10 minutes)
through 300 ticks and 75 real runs against the emulator, some failing on injected faults
(500s, 429s, dropped connections, cut bodies), some cancelled, while the API, the UI and
/metrics are read. After a warm-up that has seen every kind of run, the process's open
file descriptors, threads, live clients and connections, metric label sets, in-memory run
state and the files under ``state_dir`` must be the same at the end as at the checkpoint
(allowing a small constant), and the run history stays within its retention. Nothing
sleeps on wall time: a look waits until the servers have closed every connection their
clients closed (a state, reached later on a busy machine), and connections to ChartMogul
are counted apart (their servers' sides excluded), as only the test's own client holds one.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import gc
import os
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from tests.integration import _sockets
from tests.integration.serve._support import OPERATOR, START, Served, project, serving
from tests.integration.sync._support import make_warehouse

from mogulsync.chartmogul import ChartMogulClient, ClientSettings, RetryPolicy
from mogulsync.chartmogul.settings import Timeouts
from mogulsync.config import AppConfig
from mogulsync.serve.clock import ManualClock
from mogulsync.serve.feed import RequestFeed
from mogulsync.sync.engine import SyncEngine

pytestmark = pytest.mark.anyio

#: runs before the first look (every kind of run and fault has happened by then)
WARM_UP = 25
RUNS = 75
#: scheduler ticks per run (the job is due every 4th)
TICKS_PER_RUN = 4
TICK = dt.timedelta(seconds=15)
KEEP_LAST = 2
#: the drift watch runs with every this many runs (never with a faulted one: its client
#: retries with the project's real backoff)
WATCH_EVERY = 10
#: the faults injected in turn, one run in FAULT_EVERY (each kind once before the warm-up
#: ends); the last one outlasts the client's read timeout
FAULTS: list[dict[str, Any]] = [
    {"error_rate": 1.0, "error_statuses": [500]},
    {"rate_limit_rate": 1.0},
    {"drop_rate": 1.0},
    {"malformed_rate": 1.0, "methods": ["POST", "PATCH", "PUT"]},
    {"latency_ms": 1000},
]
FAULT_EVERY = 5
FAULT_AT = 3
READ_TIMEOUT_S = 0.3
#: the API and the UI are read after every this many runs
BROWSE_EVERY = 20
#: slack for the test's own keep-alive connection to the served app, which the server may
#: have timed out (one socket, not two) at one look and not at the other
FD_SLACK = 3
#: at a look no run is on, so no run's client holds a connection to ChartMogul: only the
#: test's admin client (one, which the emulator may have timed out and httpx replaced)
POOL_SLACK = 1
#: a generous bound on the wait for the servers to close what their clients closed
PATIENCE_S = 60.0
#: asyncio's default executor: workers named ``asyncio_<n>``, at most this many
EXECUTOR_PREFIX = "asyncio_"
EXECUTOR_MAX = min(32, (os.cpu_count() or 1) + 4)
#: a faulted call gives up after one retry, at once: a failed run costs no waiting
NO_WAIT_RETRY = RetryPolicy(
    max_attempts=2, max_total_s=0.01, initial_wait_s=0, max_wait_s=0, jitter_s=0
)


def _engine(config: AppConfig) -> SyncEngine:
    settings = ClientSettings(
        api_key=config.chartmogul.api_key, base_url=config.chartmogul.base_url,
        rate_limit=10_000, max_in_flight=20, retry=NO_WAIT_RETRY,
        timeouts=Timeouts(read=READ_TIMEOUT_S),
    )  # fmt: skip
    return SyncEngine(config, settings=settings, outage_window_s=0.01)


@dataclass(frozen=True)
class Look:
    """What the process holds at one moment."""

    fds: _sockets.Fds
    threads: tuple[int, int]
    labels: frozenset[tuple[str, tuple[tuple[str, str], ...]]]
    files: frozenset[str]
    live: tuple[int, int, int]
    runs_rows: int
    active: int


def _live() -> tuple[int, int, int]:
    """Live run clients, httpx clients and request feeds (collected garbage excluded)."""
    gc.collect()
    kinds = (ChartMogulClient, httpx.AsyncClient, RequestFeed)
    return tuple(sum(1 for o in gc.get_objects() if isinstance(o, kind)) for kind in kinds)  # type: ignore[return-value]


def _threads() -> tuple[int, int]:
    """Threads of the process: (its own, the event loop's default executor's workers).

    The executor starts workers lazily up to its bound as calls overlap: a few more may
    appear late in a long life, never more than that bound.
    """
    names = [thread.name for thread in threading.enumerate()]
    pool = sum(1 for name in names if name.startswith(EXECUTOR_PREFIX))
    return len(names) - pool, pool


async def _settle(ports: tuple[int, ...]) -> None:
    """Wait until no server here holds a connection its client has closed."""
    deadline = asyncio.get_running_loop().time() + PATIENCE_S
    while (left := _sockets.closing(ports)) > 0:
        assert asyncio.get_running_loop().time() < deadline, f"{left} connections never closed"
        await asyncio.sleep(0.01)


async def _look(served: Served, state_dir: Path, emulator_port: int) -> Look:
    text = (await served.http.get("/metrics", headers=served.bearer(OPERATOR))).text
    labels = frozenset(
        (sample.name, tuple(sorted(sample.labels.items())))
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    )
    await _settle((emulator_port, httpx.URL(served.base_url).port or 0))
    fds = _sockets.count((emulator_port,))
    return _process(labels, state_dir, len(served.app.state.manager.active), fds)


def _process(labels: frozenset[Any], state_dir: Path, active: int, fds: _sockets.Fds) -> Look:
    """The process's and the state directory's side of a look."""
    live = _live()
    db = sqlite3.connect(state_dir / "runs.sqlite")
    try:
        runs_rows = db.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
    finally:
        db.close()
    return Look(
        fds=fds,
        threads=_threads(),
        labels=labels,
        files=frozenset(str(p.relative_to(state_dir)) for p in state_dir.rglob("*")),
        live=live,
        runs_rows=runs_rows,
        active=active,
    )


async def _idle(served: Served) -> None:
    manager = served.app.state.manager
    while manager.active:
        await asyncio.wait([run.task for run in manager.active.values() if run.task])
        await asyncio.sleep(0)


async def _browse(served: Served, run_id: str) -> None:
    """What a dashboard and an operator read between runs."""
    auth = served.bearer(OPERATOR)
    for path in (
        "/api/v1/syncs",
        "/api/v1/runs?limit=5",
        "/syncs",
        f"/runs/{run_id}",
        f"/api/v1/runs/{run_id}/requests",
        f"/api/v1/runs/{run_id}/errors",
    ):
        (await served.http.get(path, headers=auth)).raise_for_status()
    stream = await served.http.get(f"/api/v1/runs/{run_id}/requests/stream", headers=auth)
    assert "event: end" in stream.text


async def test_many_scheduled_runs_hold_no_more_than_the_first_ones(emulator_server, tmp_path):
    """300 ticks, 75 runs (faults, cancels, changed rows): the same after run 25 and 75."""
    warehouse = tmp_path / "w.duckdb"
    url = make_warehouse(
        warehouse,
        ["create table accounts(id varchar, name varchar, email varchar)",
         "insert into accounts select 'a' || i, 'Account ' || i, 'x@example.com' from range(5) t(i)",
         "insert into accounts values ('bad', 'Bad', 'not an email')"],
    )  # fmt: skip
    config = project(
        emulator_server,
        tmp_path,
        url,
        schedule={"every": "1m", "jitter": "0s"},
        customers_extra={"reconcile": {"schedule": {"every": f"{WATCH_EVERY}m", "jitter": "0s"}}},
        run_history={"keep_days": 0, "keep_requests_days": 0, "keep_last": KEEP_LAST},
    )
    state_dir = Path(config.state_dir)
    clock = ManualClock(START)
    checkpoint: Look | None = None
    before = _live()  # a client another test left to the collector is not ours
    statuses: set[str] = set()
    async with (
        httpx.AsyncClient(base_url=f"{emulator_server.base_url}/_emulator", timeout=30) as admin,
        serving(config, clock=clock, engine=_engine(config)) as served,
    ):
        scheduler = served.app.state.scheduler
        assert scheduler is not None
        for number in range(1, RUNS + 1):
            faulted = number % FAULT_EVERY == FAULT_AT
            if faulted:
                await admin.put("/faults", json=FAULTS[(number // FAULT_EVERY) % len(FAULTS)])
            elif number % FAULT_EVERY == FAULT_AT + 1:
                await admin.delete("/faults")
            if number % 3 == 0:  # a changed row: the run writes
                with duckdb.connect(str(warehouse)) as db:
                    db.execute("update accounts set name = ? where id = 'a1'", [f"A{number}"])
            for _ in range(TICKS_PER_RUN - 1):
                clock.advance(TICK)
                assert await scheduler.tick() == []
            clock.advance(TICK)
            watch = number % WATCH_EVERY == 0  # the drift watch is due with this run
            assert not (watch and faulted)
            started = ["customers", "reconcile:customers"] if watch else ["customers"]
            assert await scheduler.tick() == started
            if number % 10 == 4:  # an operator cancels it at once
                run = served.app.state.manager.active["customers"]
                cancel = await served.http.post(
                    f"/api/v1/runs/{run.run_id}/cancel", headers=served.bearer(OPERATOR)
                )
                assert cancel.status_code in {202, 409}
                del run  # the test's own reference must not count as a leak
            await _idle(served)
            await asyncio.gather(*served.app.reconciles.values(), return_exceptions=True)
            store = served.app.state.run_store()
            try:
                last = store.latest(limit=1)[0]
            finally:
                store.close()
            statuses.add(last.status.value)
            if number % BROWSE_EVERY == 0:
                await _browse(served, last.run_id)
            if number == WARM_UP:
                assert statuses >= {"partial", "failed", "cancelled"}
                checkpoint = await _look(served, state_dir, emulator_server.port)
        end = await _look(served, state_dir, emulator_server.port)
        await admin.delete("/faults")
    assert checkpoint is not None
    assert end.fds.others <= checkpoint.fds.others + FD_SLACK, (checkpoint.fds, end.fds)
    assert end.fds.pooled <= checkpoint.fds.pooled + POOL_SLACK, (checkpoint.fds, end.fds)
    assert end.threads[0] <= checkpoint.threads[0], (checkpoint.threads, end.threads)
    assert end.threads[1] <= EXECUTOR_MAX
    assert end.labels == checkpoint.labels
    assert end.files == checkpoint.files
    # no run's ChartMogul client or request feed outlives it (the httpx clients are the
    # test's own two)
    assert all(e <= c for e, c in zip(end.live, checkpoint.live, strict=True))
    assert end.live[0] <= before[0]
    assert end.live[2] <= before[2]
    assert end.active == checkpoint.active == 0
    # the retention keeps the latest runs of the sync and of its drift watch, nothing more
    assert end.runs_rows == checkpoint.runs_rows == 2 * KEEP_LAST

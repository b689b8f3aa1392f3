"""``mogulsync serve`` left running: what the process holds as scheduled runs pile up.

    .venv/bin/python bench/serve_soak.py [--runs 600] [--every 50] [--warm-up 50]
        [--burst-at 75] [--trace]

The server's app (scheduler, API, web UI, /metrics, the events endpoints and their
forwarder) runs on a loopback port in this process, as ``mogulsync serve`` runs it; the
ChartMogul emulator runs in a process of its own (its memory is not counted). A manual
clock drives an every-minute sync schedule and a drift watch every 10 minutes: each run
is one tick, no run waits for wall time. Each run changes 3 of the warehouse's 1,000 rows (so
it writes), each round posts a batch of 20 identify events (from 100 users in turn) through the same port
(delivered to the emulator; the retention prunes them a second later, at every forwarder
round), and every 10th run the API, a run page, its request stream and /metrics are read.
One run in ``--fault-every`` (10) meets a ChartMogul fault in turn (500s, dropped
connections, 429s; retries that do not wait) and fails, alerting a webhook channel (a
loopback receiver in this process); the next run recovers and alerts again. Run history
retention: ``keep_days: 0``, each sync's latest 5 runs kept. One run
(``--burst-at``) changes all 1,000 rows (1,000 logged requests) and comes with 10,000
events: the files grow, and must shrink back once the retention has pruned them.

Every ``--every`` runs it records threads (and how many of them are the event loop's
default executor's workers, started lazily up to its bound), open file descriptors, RSS, asyncio tasks,
objects tracked by the collector (after a collection) and the SQLite files' sizes in MB
(write-ahead logs apart), once the forwarder has delivered every event. The baseline is the sample taken at ``--warm-up`` runs, in the same run: the
process has seen every kind of run and request by then. It prints the table, each
figure's growth per 100 runs after the warm-up, and the object types that grew most
(``--trace``: the source lines whose allocations grew most, from tracemalloc).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import datetime as dt
import gc
import logging
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
import weakref
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import duckdb
import httpx
import stamina
import uvicorn

import mogulsync.events.forwarder as forwarder_module
from mogulsync._listen import bound_port, listening_socket
from mogulsync.chartmogul import ClientSettings, RetryPolicy
from mogulsync.chartmogul.settings import Timeouts
from mogulsync.config import parse_config
from mogulsync.serve.app import ServeApp
from mogulsync.serve.clock import ManualClock
from mogulsync.sync.engine import SyncEngine
from mogulsync.testing.ports import announced_url

START = dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.UTC)
WRITE_KEY = "soak-write-key-0123456789"
ROWS = 1000
#: the burst run posts this many batches of EVENTS_PER_RUN x BURST_FACTOR events
BURST_BATCHES = 20
BURST_FACTOR = 25
EVENTS_PER_RUN = 20
#: the events come from this many users in turn (the entity cache holds one row per
#: user: a bounded set, so what grows is a leak, not the customer base)
USERS = 100
BROWSE_EVERY = 10
#: ChartMogul faults, one run in ``--fault-every`` in turn: the run fails and alerts
FAULTS: list[dict[str, Any]] = [
    {"error_rate": 1.0, "error_statuses": [500]},
    {"drop_rate": 1.0},
    {"rate_limit_rate": 1.0},
]
#: a faulted call gives up after one retry, at once (a failed run waits for nothing)
NO_WAIT_RETRY = RetryPolicy(
    max_attempts=2, max_total_s=0.01, initial_wait_s=0, max_wait_s=0, jitter_s=0
)
WATCH_EVERY_MIN = 10


@dataclass(frozen=True)
class Sample:
    """What the process and its state directory hold after ``runs`` runs."""

    runs: int
    threads: int
    #: of which the event loop's default executor's workers (started lazily, up to its bound)
    pool: int
    fds: int
    rss_mb: float
    tasks: int
    objects: int
    runs_db_mb: float
    runs_wal_mb: float
    events_db_mb: float
    events_wal_mb: float
    schedule_db_mb: float


def _mb(path: Path) -> float:
    return path.stat().st_size / 1e6 if path.exists() else 0.0


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _sample(runs: int, state_dir: Path) -> Sample:
    gc.collect()
    return Sample(
        runs=runs,
        threads=threading.active_count(),
        pool=sum(1 for t in threading.enumerate() if t.name.startswith("asyncio_")),
        fds=sum(1 for _ in Path("/proc/self/fd").iterdir()),
        rss_mb=_rss_mb(),
        tasks=len(asyncio.all_tasks()),
        objects=len(gc.get_objects()),
        runs_db_mb=_mb(state_dir / "runs.sqlite"),
        runs_wal_mb=_mb(state_dir / "runs.sqlite-wal"),
        events_db_mb=_mb(state_dir / "events.sqlite"),
        events_wal_mb=_mb(state_dir / "events.sqlite-wal"),
        schedule_db_mb=_mb(state_dir / "schedule.sqlite-wal") + _mb(state_dir / "schedule.sqlite"),
    )


def _referent(ref: weakref.ref[Any]) -> str:
    target = ref()
    if target is None:
        return "(dead)"
    return f"{type(target).__module__}.{type(target).__qualname__}"


def _types() -> collections.Counter[str]:
    gc.collect()
    return collections.Counter(
        f"{type(o).__module__}.{type(o).__qualname__}" for o in gc.get_objects()
    )


class Emulator:
    """``mogulsync emulator serve`` in a process of its own, without limits."""

    def __init__(self, tmp: Path) -> None:
        self.log = tmp / "emulator.log"
        command = [sys.executable, "-m", "mogulsync", "emulator", "serve", "--port=0",
                   "--rate-limit=0", "--max-connections=0"]  # fmt: skip
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(command, stdout=out, stderr=subprocess.DEVNULL)
        self.base_url = announced_url(self.process, self.log).removesuffix("/v1")
        while True:
            try:
                if httpx.get(f"{self.base_url}/_emulator/health").status_code == httpx.codes.OK:
                    return
            except httpx.TransportError:
                if self.process.poll() is not None:
                    raise
            time.sleep(0.05)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


class AlertReceiver:
    """A loopback HTTP endpoint for the webhook alert channel: answers 200, counts posts."""

    def __init__(self) -> None:
        self.received = 0
        self.server: asyncio.Server | None = None
        self.url = ""

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}/hook"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            (int(line.split(b":")[1]) for line in head.split(b"\r\n")
             if line.lower().startswith(b"content-length:")),
            0,
        )  # fmt: skip
        await reader.readexactly(length)
        self.received += 1
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
        await writer.drain()
        writer.close()
        await writer.wait_closed()

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


def _engine(config: Any) -> SyncEngine:
    """The real engine with retries that do not wait (a faulted run fails at once)."""
    settings = ClientSettings(
        api_key=config.chartmogul.api_key, base_url=config.chartmogul.base_url,
        rate_limit=10_000, max_in_flight=20, retry=NO_WAIT_RETRY, timeouts=Timeouts(read=5),
    )  # fmt: skip
    return SyncEngine(config, settings=settings, outage_window_s=0.01)


def _project(tmp: Path, emulator: Emulator, alert_url: str) -> Any:
    warehouse = tmp / "w.duckdb"
    with duckdb.connect(str(warehouse)) as db:
        db.execute("create table accounts(id varchar, name varchar, email varchar)")
        db.execute(
            "insert into accounts select 'a' || i, 'Account ' || i, 'a' || i || '@example.com'"
            f" from range({ROWS}) t(i)"
        )
    raw = {
        "chartmogul": {"api_key": "${CM_KEY}", "base_url": emulator.base_url},
        "state_dir": str(tmp / "state"),
        "warehouses": {"main": f"duckdb:///{warehouse}"},
        "models": {"accounts": {"warehouse": "main", "table": "accounts", "primary_key": "id"}},
        "syncs": {
            "customers": {
                "model": "accounts", "object": "customer", "data_source": "Soak",
                "mapping": {"external_id": "id", "name": "name", "email": "email"},
                "schedule": {"every": "1m", "jitter": "0s"},
                "reconcile": {"schedule": {"every": f"{WATCH_EVERY_MIN}m", "jitter": "0s"}},
            }
        },
        "run_history": {"keep_days": 0, "keep_requests_days": 0, "keep_last": 5},
        # delivered events go a second after they arrive (pruned at every forwarder round)
        "events": {"write_keys": ["${WRITE_KEY}"], "keep_days": 1e-5,
                   "retry": {"coalesce_window_s": 0}},
        "alerts": {"channels": {"hook": {"type": "webhook", "url": "${ALERT_URL}"}}},
    }  # fmt: skip
    env = {"CM_KEY": "emulator-api-key", "WRITE_KEY": WRITE_KEY, "ALERT_URL": alert_url}
    return parse_config(raw, env=env), warehouse


async def _soak(args: argparse.Namespace, tmp: Path, emulator: Emulator) -> list[Sample]:
    receiver = AlertReceiver()
    await receiver.start()
    config, warehouse = _project(tmp, emulator, receiver.url)
    state_dir = Path(config.state_dir)
    clock = ManualClock(START)
    app = ServeApp(config, clock=clock, engine=_engine(config), tick_loop=False)
    admin = httpx.AsyncClient(base_url=f"{emulator.base_url}/_emulator")
    statuses: collections.Counter[str] = collections.Counter()
    listener = listening_socket("127.0.0.1")
    port = bound_port(listener)
    server = uvicorn.Server(
        # an idle keep-alive connection is never closed under the bench's next request (a
        # slow faulted run, with --trace, outlasted uvicorn's 5 s and the race lost a read)
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="on",
            timeout_keep_alive=3600,
        )
    )
    serving = asyncio.create_task(server.serve(sockets=[listener]))
    while not server.started:  # noqa: ASYNC110 - uvicorn offers a flag, not an event
        await asyncio.sleep(0.01)
    samples: list[Sample] = []
    run_s: list[float] = []
    baseline_types: collections.Counter[str] | None = None
    baseline_refs: set[int] = set()
    snapshot: tracemalloc.Snapshot | None = None
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as http:
            scheduler = app.state.scheduler
            manager = app.state.manager
            assert scheduler is not None
            for number in range(1, args.runs + 1):
                began = time.perf_counter()
                burst = number == args.burst_at
                with duckdb.connect(str(warehouse)) as db:
                    if burst:  # every row changes: a run that logs ROWS requests
                        db.execute("update accounts set name = name || ' (burst)'")
                    db.execute(
                        "update accounts set name = 'Account ' || id || ' v' || ?"
                        " where id in (?, ?, ?)",
                        [number, *(f"a{(number * 3 + k) % ROWS}" for k in range(3))],
                    )
                faulted = (
                    args.fault_every > 0 and number % args.fault_every == args.fault_every // 2
                )
                if faulted:
                    fault = FAULTS[(number // args.fault_every) % len(FAULTS)]
                    (await admin.put("/faults", json=fault)).raise_for_status()
                clock.advance(dt.timedelta(minutes=1))
                started = await scheduler.tick()
                assert "customers" in started, (number, started)
                users = [(number * EVENTS_PER_RUN + n) % USERS for n in range(EVENTS_PER_RUN)]
                batch = [{"type": "identify", "userId": f"u{user}",
                          "traits": {"email": f"u{user}@example.com", "run": number}}
                         for user in users]  # fmt: skip
                for _ in range(BURST_BATCHES if burst else 1):
                    posted = await http.post(
                        "/v1/batch", json={"batch": batch * (BURST_FACTOR if burst else 1)},
                        auth=(WRITE_KEY, ""),
                    )  # fmt: skip
                    posted.raise_for_status()
                if burst:  # the queue at its fullest: every event stored, few delivered yet
                    queue = state_dir / "events.sqlite"
                    peak = _mb(queue), _mb(Path(f"{queue}-wal"))
                    print(f"events.sqlite after the burst's 10,000 events: {peak[0]:.2f} MB,"
                          f" -wal {peak[1]:.2f} MB")  # fmt: skip
                while manager.active:
                    await asyncio.wait([r.task for r in manager.active.values() if r.task])
                await asyncio.gather(*app.reconciles.values(), return_exceptions=True)
                if faulted:
                    (await admin.delete("/faults")).raise_for_status()
                statuses[(await _last_status(http))] += 1
                if number % BROWSE_EVERY == 0:
                    await _browse(http, app)
                run_s.append(time.perf_counter() - began)
                if number == args.warm_up:
                    baseline_types = _types()
                    baseline_refs = {id(o) for o in gc.get_objects() if isinstance(o, weakref.ref)}
                    if args.trace:
                        snapshot = tracemalloc.take_snapshot()
                if number % args.every == 0 or number in {args.warm_up, args.burst_at}:
                    await _settled(http)
                    samples.append(_sample(number, state_dir))
                    print(_row(samples[-1]), flush=True)
            ending = _types()
            new_refs = [
                o
                for o in gc.get_objects()
                if isinstance(o, weakref.ref) and id(o) not in baseline_refs
            ]
            referents = collections.Counter(_referent(o) for o in new_refs)
            del new_refs
            if args.trace and snapshot is not None:
                _print_trace(snapshot)
    finally:
        server.should_exit = True
        await serving
        await admin.aclose()
        await receiver.stop()
    print(f"\nruns by status: {dict(statuses)}; alerts received: {receiver.received}")
    run_s.sort()
    print(
        f"\nseconds per run (tick to idle): median {run_s[len(run_s) // 2]:.2f}, max {run_s[-1]:.2f}"
    )
    if baseline_types is not None:
        grown = (ending - baseline_types).most_common(12)
        print("\nobject types grown since the warm-up sample (count):")
        for name, count in grown:
            print(f"  {count:>8,}  {name}")
        print("what the weak references made since then point to (count):")
        for name, count in referents.most_common(8):
            print(f"  {count:>8,}  {name}")

    return samples


async def _last_status(http: httpx.AsyncClient) -> str:
    runs = (await http.get("/api/v1/runs?limit=1&sync=customers")).raise_for_status().json()
    latest = runs[0] if isinstance(runs, list) else runs["runs"][0]
    return str(latest["status"])


async def _settled(http: httpx.AsyncClient) -> None:
    """Wait until the forwarder has delivered every event (its tasks are done)."""
    while True:
        status = (await http.get("/api/v1/events/status")).raise_for_status().json()
        if status["events"]["pending"] == 0:
            break
        await asyncio.sleep(0.05)
    for _ in range(10):  # the round that delivered the last ones ends
        await asyncio.sleep(0.01)


async def _browse(http: httpx.AsyncClient, app: ServeApp) -> None:
    runs = (await http.get("/api/v1/runs?limit=1")).raise_for_status().json()
    run_id = runs[0]["run_id"] if isinstance(runs, list) else runs["runs"][0]["run_id"]
    for path in ("/api/v1/syncs", "/syncs", f"/runs/{run_id}", "/metrics",
                 f"/api/v1/runs/{run_id}/requests", "/api/v1/events/status",
                 f"/api/v1/runs/{run_id}/requests/stream"):  # fmt: skip
        (await http.get(path)).raise_for_status()
    assert app.state.manager.active == {}


def _print_trace(before: tracemalloc.Snapshot) -> None:
    after = tracemalloc.take_snapshot()
    print("\nallocations grown since the warm-up sample (tracemalloc, by line):")
    for stat in after.compare_to(before, "lineno")[:12]:
        print(f"  {stat.size_diff / 1024:>9,.1f} KiB {stat.count_diff:>+8,}  {stat.traceback}")


HEADER = (
    f"{'runs':>6} {'threads':>7} {'pool':>4} {'fds':>5} {'rss MB':>7} {'tasks':>5} {'objects':>9}"
    f" {'runs.sqlite':>11} {'-wal':>5} {'events.sqlite':>13} {'-wal':>5} {'schedule':>8}"
)


def _row(s: Sample) -> str:
    return (
        f"{s.runs:>6} {s.threads:>7} {s.pool:>4} {s.fds:>5} {s.rss_mb:>7.1f} {s.tasks:>5} {s.objects:>9,}"
        f" {s.runs_db_mb:>11.2f} {s.runs_wal_mb:>5.2f} {s.events_db_mb:>13.2f}"
        f" {s.events_wal_mb:>5.2f} {s.schedule_db_mb:>8.2f}"
    )


def _growth(samples: list[Sample], warm_up: int) -> None:
    base = next(s for s in samples if s.runs == warm_up)
    end = samples[-1]
    span = (end.runs - base.runs) / 100
    if span <= 0:
        return
    print(f"\ngrowth per 100 runs after the warm-up (run {base.runs} → run {end.runs}):")
    for field in fields(Sample)[1:]:
        first, last = getattr(base, field.name), getattr(end, field.name)
        ratio = last / first if first else float("nan")
        print(f"  {field.name:<15} {(last - first) / span:>+10.2f}   (end/warm-up {ratio:.3f}x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=600)
    parser.add_argument("--every", type=int, default=50)
    parser.add_argument("--warm-up", type=int, default=50)
    parser.add_argument(
        "--burst-at",
        type=int,
        default=75,
        help="the run that changes every row, with 10,000 events",
    )
    parser.add_argument(
        "--fault-every",
        type=int,
        default=10,
        help="one run in N meets a ChartMogul fault (0: none)",
    )
    parser.add_argument("--trace", action="store_true", help="tracemalloc (slower)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    stamina.instrumentation.set_on_retry_hooks([])  # no line per retry of a faulted call
    # the forwarder's retention looks every 5 minutes of real time: at every round here
    forwarder_module.PRUNE_INTERVAL_S = 0.0
    if args.trace:
        tracemalloc.start(1)
    tmp = Path(tempfile.mkdtemp(prefix="serve-soak-"))
    emulator = Emulator(tmp)
    started = time.perf_counter()
    try:
        print(HEADER, flush=True)
        samples = asyncio.run(_soak(args, tmp, emulator))
    finally:
        emulator.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    _growth(samples, args.warm_up)
    print(f"\n{args.runs} runs in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()

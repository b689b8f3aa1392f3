"""Kill -9 `mogulsync sync run --all` at random instants, re-run, compare ChartMogul with the model.

Used by the crash test (a few trials) and by scripts/crash_stress.py (many). The emulator lets
a random number of a run's writes through, then holds the next one unanswered; the run is
killed once a write is held. The run cannot finish while a write of it is held, so every kill
lands mid-run by construction, however slow the machine or the watcher (a watcher that polls
a write counter and kills when it sees enough could see it after the run had ended).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import httpx
import yaml
from starlette.types import ASGIApp, Receive, Scope, Send

from mogulsync.emulator.server import EmulatorServer
from mogulsync.emulator.settings import EmulatorSettings, Limits

ACCOUNTS = 60
#: accounts added before every other trial
GROWTH = 20
CONFIG = {
    "chartmogul": {"api_key": "${CHARTMOGUL_API_KEY}", "base_url": "${CHARTMOGUL_BASE_URL}",
                   "rate_limit": 40},
    "state_dir": "state",
    "warehouses": {"main": "duckdb:///warehouse.duckdb"},
    "models": {
        "accounts": {"warehouse": "main", "table": "accounts", "primary_key": "id"},
        "people": {"warehouse": "main", "table": "people", "primary_key": "id"},
        "invoices": {"warehouse": "main", "table": "invoices", "primary_key": "id"},
        "payments": {"warehouse": "main", "table": "payments", "primary_key": "id"},
    },
    "syncs": {
        "customers": {"model": "accounts", "object": "customer", "data_source": "Crash",
                      "mapping": {"external_id": "id"}},
        "contacts": {"model": "people", "object": "contact", "mode": "insert",
                     "data_source": "Crash", "custom_attributes": "none",
                     "mapping": {"external_id": "id", "customer_external_id": "account"}},
        "invoices": {"model": "invoices", "object": "invoice", "mode": "insert",
                     "data_source": "Crash", "line_items": {"column": "lines"},
                     "mapping": {"external_id": "id", "customer_external_id": "account"}},
        "payments": {"model": "payments", "object": "transaction", "mode": "insert",
                     "data_source": "Crash",
                     "mapping": {"external_id": "id", "invoice_external_id": "invoice"}},
    },
}  # fmt: skip


def build_project(workdir: Path) -> None:
    """The warehouse and the project file."""
    db = duckdb.connect(str(workdir / "warehouse.duckdb"))
    db.execute(f"create table accounts as select 'a' || i as id, 'Co ' || i as name,"
               f" i as seats from range({ACCOUNTS}) t(i)")  # fmt: skip
    db.execute("create table people as select 'p' || id as id, id as account,"
               " 'p' || id || '@x.io' as email from accounts")  # fmt: skip
    db.execute("create table invoices as select 'i' || id as id, id as account,"
               " DATE '2025-01-01' as date, 'USD' as currency,"
               " '[{\"type\":\"one_time\",\"amount_in_cents\":500}]' as lines from accounts")  # fmt: skip
    db.execute("create table payments as select 't' || id as id, id as invoice,"
               " 'payment' as type, 'successful' as result, DATE '2025-01-02' as date"
               " from invoices")  # fmt: skip
    db.close()
    (workdir / "mogulsync.yml").write_text(yaml.safe_dump(CONFIG), encoding="utf-8")


#: most writes a trial lets through before its kill: well below the rows each trial adds
MAX_WRITES_BEFORE_KILL = 30
#: how often the watcher looks whether a write is held (any lag only delays the kill)
POLL_S = 0.005
#: bound on one run (a safety net for a hung CLI, not a speed expectation)
RUN_TIMEOUT_S = 300
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class WriteGate:
    """Lets ``allow`` writes reach the emulator, then holds every further one until released.

    Runs on the emulator's event loop; :meth:`allow` and :meth:`release` are called from the
    test's thread. A held write is answered 503 on release without reaching the store: its
    client has been killed by then.
    """

    def __init__(self, router: ASGIApp) -> None:
        self._router = router
        self._lock = threading.Lock()
        self._left: int | None = None  # None: open
        self._released: asyncio.Event | None = None  # made on the emulator's loop
        self._loop: asyncio.AbstractEventLoop | None = None
        self.held = threading.Event()

    def allow(self, writes: int) -> None:
        """Let ``writes`` more writes through, then hold."""
        with self._lock:
            self._left = writes
            self.held.clear()

    def release(self) -> None:
        """Open the gate and answer the held writes."""
        with self._lock:
            self._left = None
            released, self._released = self._released, None
        if released is not None and self._loop is not None:
            self._loop.call_soon_threadsafe(released.set)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        is_write = (
            scope["type"] == "http"
            and scope["method"] in WRITE_METHODS
            and scope["path"].startswith("/v1/")
        )
        released = None
        with self._lock:
            if is_write and self._left is not None:
                if self._left > 0:
                    self._left -= 1
                else:
                    self._loop = asyncio.get_running_loop()
                    if self._released is None:
                        self._released = asyncio.Event()
                    released = self._released
                    self.held.set()
        if released is None:
            await self._router(scope, receive, send)
            return
        await released.wait()
        await send({"type": "http.response.start", "status": 503, "headers": []})
        await send({"type": "http.response.body", "body": b""})


@contextlib.contextmanager
def gated_emulator() -> Iterator[tuple[EmulatorServer, WriteGate]]:
    """An unlimited emulator (its own thread) behind a :class:`WriteGate`."""
    server = EmulatorServer(EmulatorSettings(limits=Limits(rate_limit=0, max_connections=0)))
    gate = WriteGate(server.app.router)
    server.app.router = gate  # type: ignore[assignment]
    with server:
        yield server, gate


def run_cli(
    workdir: Path, server: EmulatorServer, gate: WriteGate, kill_after_writes: int | None
) -> int | None:
    """`mogulsync sync run --all`; SIGKILLed once ``kill_after_writes`` writes went through
    and the next one is held.

    Returns the exit code, or None when the run was killed mid-run.
    """
    env = {**os.environ, "CHARTMOGUL_API_KEY": server.api_key,
           "CHARTMOGUL_BASE_URL": server.base_url}  # fmt: skip
    if kill_after_writes is not None:
        gate.allow(kill_after_writes)
    process = subprocess.Popen(
        [sys.executable, "-m", "mogulsync", "sync", "run", "--all", "--json"],
        cwd=workdir, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        if kill_after_writes is None:
            return process.wait(timeout=RUN_TIMEOUT_S)
        deadline = time.monotonic() + RUN_TIMEOUT_S
        while process.poll() is None and time.monotonic() < deadline:
            if gate.held.is_set():
                # a write of this run is held: it cannot have ended, the kill lands mid-run
                process.send_signal(signal.SIGKILL)
                process.wait()
                return None if process.returncode == -signal.SIGKILL else process.returncode
            time.sleep(POLL_S)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        gate.release()
    return process.returncode


def _pages(client: httpx.Client, path: str, key: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"per_page": 200, **({"cursor": cursor} if cursor else {})}
        body = client.get(path, params=params).raise_for_status().json()
        items.extend(body[key])
        if not body["has_more"]:
            return items
        cursor = body["cursor"]


def chartmogul_state(base_url: str, api_key: str) -> dict[str, collections.Counter[str]]:
    """How many times each external id exists, per object."""
    with httpx.Client(base_url=f"{base_url}/v1", auth=(api_key, ""), timeout=60) as client:
        invoices = _pages(client, "/invoices", "invoices")
        return {
            "customers": collections.Counter(c["external_id"] for c in _pages(client, "/customers", "entries")),
            "contacts": collections.Counter(c["external_id"] for c in _pages(client, "/contacts", "entries")),
            "invoices": collections.Counter(i["external_id"] for i in invoices),
            "payments": collections.Counter(
                t["external_id"] for i in invoices for t in i["transactions"]
            ),
        }  # fmt: skip


def expected_state() -> dict[str, set[str]]:
    """What the model says ChartMogul must hold."""
    ids = range(ACCOUNTS)
    return {
        "customers": {f"a{i}" for i in ids},
        "contacts": {f"pa{i}" for i in ids},
        "invoices": {f"ia{i}" for i in ids},
        "payments": {f"tia{i}" for i in ids},
    }


def trials(workdir: Path, server: EmulatorServer, gate: WriteGate, count: int, seed: int) -> int:
    """``count`` runs killed at random instants, then one complete run; how many were killed.

    Every other trial adds rows to the model first, so later trials still have work to be
    interrupted in.
    """
    rng = random.Random(seed)
    killed = 0
    for trial in range(count):
        if trial % 2:
            grow(workdir, trial)
        writes = rng.randint(1, MAX_WRITES_BEFORE_KILL)
        killed += run_cli(workdir, server, gate, writes) is None
    started = time.monotonic()
    code = run_cli(workdir, server, gate, None)
    assert code == 0, f"the final run exited {code} after {time.monotonic() - started:.1f}s"
    return killed


def grow(workdir: Path, trial: int) -> None:
    """Add accounts (with their contact, invoice and payment) to the model."""
    global ACCOUNTS
    first, ACCOUNTS = ACCOUNTS, ACCOUNTS + GROWTH
    db = duckdb.connect(str(workdir / "warehouse.duckdb"))
    for table, select in (
        ("accounts", "'a' || i, 'Co ' || i, i"),
        ("people", "'pa' || i, 'a' || i, 'p' || i || '@x.io'"),
        ("invoices", ("'ia' || i, 'a' || i, DATE '2025-01-01', 'USD',"
                     " '[{\"type\":\"one_time\",\"amount_in_cents\":500}]'")),
        ("payments", "'tia' || i, 'ia' || i, 'payment', 'successful', DATE '2025-01-02'"),
    ):  # fmt: skip
        db.execute(f"insert into {table} select {select} from range({first}, {ACCOUNTS}) t(i)")
    db.close()
    del trial

"""``mogulsync events serve`` left running: many calls keep its resources bounded.

Fifty rounds against the real service (its own thread, real HTTP on loopback) and the
emulator: each round posts identify and group calls for the same few users and accounts,
one account ChartMogul refuses (a dead letter), a call with a wrong write key and one with
a bad body; every tenth round ChartMogul answers 500 throughout (retries, then dead
letters). The forwarder's clock is driven a day on per round, so its retention (1 day)
prunes what was delivered. After a warm-up, the process's file descriptors and threads,
the queue's files and its delivered rows must stay as they were, while every dead letter
is kept. Waiting for the forwarder is a wait for a state, never an assertion on time; so
is waiting, before a look, for the servers to close every connection their clients closed
(later on a busy machine). Connections to ChartMogul are held to the forwarder's pool bound,
not to the count one moment happened to have.
"""

from __future__ import annotations

import gc
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from tests.integration import _sockets

from mogulsync.config import parse_config
from mogulsync.emulator.server import EmulatorServer
from mogulsync.events.queue import EventQueue
from mogulsync.events.server import EventsService

WRITE_KEY = "wk-soak-0123456789"
ROUNDS = 50
WARM_UP = 15
FAULT_EVERY = 10
USERS = 4
DAY_S = 86_400.0
#: how long to wait for the forwarder to finish a round (it takes milliseconds)
PATIENCE_S = 120.0
#: slack for the test's own keep-alive connection to the service, which the server may have
#: timed out (one socket, not two) at one look and not at the other
FD_SLACK = 3
#: the forwarder's ChartMogul client pools at most max_in_flight connections; the admin one
POOL_MAX = 20 + 1
EXECUTOR_PREFIX = "asyncio_"
#: the service's loop and this test's: each default executor has at most this many workers
EXECUTOR_MAX = 2 * min(32, (os.cpu_count() or 1) + 4)


class DrivenClock:
    """Real time plus an offset the test moves (the forwarder's retries and retention)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


@dataclass(frozen=True)
class Look:
    fds: _sockets.Fds
    threads: tuple[int, int]
    files: frozenset[str]
    rows: dict[str, int]
    entities: int
    connections: int


def _threads() -> tuple[int, int]:
    """(the process's own threads, event-loop executor workers: started lazily as calls
    overlap, up to a bound per loop)."""
    names = [thread.name for thread in threading.enumerate()]
    pool = sum(1 for name in names if name.startswith(EXECUTOR_PREFIX))
    return len(names) - pool, pool


def _settle(ports: tuple[int, ...]) -> None:
    """Wait until no server here holds a connection its client has closed."""
    deadline = time.monotonic() + PATIENCE_S
    while (left := _sockets.closing(ports)) > 0:
        assert time.monotonic() < deadline, f"{left} connections never closed"
        time.sleep(0.01)


def _look(state_dir: Path, service: EventsService, emulator_port: int) -> Look:
    gc.collect()
    _settle((emulator_port, service.port))
    db = sqlite3.connect(state_dir / "events.sqlite")
    try:
        rows = dict(db.execute("SELECT status, COUNT(*) FROM events GROUP BY status").fetchall())
        entities = db.execute("SELECT COUNT(*) FROM entities").fetchone()[0]
    finally:
        db.close()
    return Look(
        fds=_sockets.count((emulator_port,)),
        threads=_threads(),
        files=frozenset(p.name for p in state_dir.iterdir()),
        rows=rows,
        entities=entities,
        connections=service.open_connections,
    )


def _messages(round_: int) -> list[dict[str, object]]:
    users = [
        message
        for user in range(USERS)
        for message in (
            {"type": "group", "userId": f"u{user}", "groupId": f"acct{user}",
             "traits": {"name": f"Account {user} r{round_}"}},
            {"type": "identify", "userId": f"u{user}",
             "traits": {"email": f"u{user}@example.com", "title": f"T{round_}",
                        "company": {"id": f"acct{user}"}}},
        )
    ]  # fmt: skip
    refused = {"type": "group", "userId": "x", "groupId": "bad",
               "traits": {"name": "Bad", "address": {"country": "Narnia"}}}  # fmt: skip
    return [
        {"messageId": f"r{round_}-{n}", **message} for n, message in enumerate([*users, refused])
    ]


def _settled(path: Path) -> None:
    """Wait until nothing is pending (the forwarder runs in the service's thread)."""
    deadline = time.monotonic() + PATIENCE_S
    while True:
        queue = EventQueue(path)
        try:
            pending = queue.counts()["pending"]
        finally:
            queue.close()
        if pending == 0:
            return
        assert time.monotonic() < deadline, f"{pending} events still pending"
        time.sleep(0.01)


@pytest.fixture
def service(emulator_server: EmulatorServer, tmp_path: Path) -> Iterator[EventsService]:
    raw = {
        "chartmogul": {
            "api_key": "${CM_KEY}",
            "base_url": emulator_server.base_url,
            "rate_limit": 10_000,  # the emulator has no limit: no pacing
        },
        "state_dir": str(tmp_path / "state"),
        "events": {
            "write_keys": ["${WRITE_KEY}"],
            "keep_days": 1,
            "retry": {"coalesce_window_s": 0, "max_attempts": 2,
                      "retry_initial_s": 0.001, "retry_max_s": 0.001},
        },
    }  # fmt: skip
    config = parse_config(raw, env={"CM_KEY": emulator_server.api_key, "WRITE_KEY": WRITE_KEY})
    with EventsService(config, host="127.0.0.1", port=0, clock=DrivenClock()) as running:
        yield running


def test_many_calls_keep_the_queue_and_the_process_bounded(
    service: EventsService, emulator_server: EmulatorServer, tmp_path: Path
) -> None:
    """50 rounds of calls, faults among them: the same after round 15 and round 50."""
    state_dir = tmp_path / "state"
    clock = service.clock
    assert isinstance(clock, DrivenClock)
    checkpoint: Look | None = None
    refused: list[str] = []
    with (
        httpx.Client(base_url=service.base_url, auth=(WRITE_KEY, ""), timeout=30) as http,
        httpx.Client(base_url=f"{emulator_server.base_url}/_emulator", timeout=30) as admin,
    ):
        for round_ in range(1, ROUNDS + 1):
            faulty = round_ % FAULT_EVERY == 0
            if faulty:
                admin.put("/faults", json={"error_rate": 1.0, "error_statuses": [500]})
            clock.offset += DAY_S  # the retention (1 day) may prune all that came before
            batch = _messages(round_)
            assert http.post("/v1/batch", json={"batch": batch}).status_code == 200
            refused.append(str(batch[-1]["messageId"]))
            wrong = http.post("/v1/identify", json={"userId": "u0"}, auth=("nope", ""))
            assert wrong.status_code == 401
            bad = http.post("/v1/group", content=b"{not json", headers={"Content-Type": "x"})
            assert bad.status_code == 400
            if round_ % 3 == 0:  # a client that does not keep its connection alive
                with httpx.Client(
                    base_url=service.base_url, auth=(WRITE_KEY, ""), timeout=30
                ) as once:
                    assert once.post("/v1/identify", json=batch[1]).status_code == 200
            _settled(service.path)
            if faulty:
                admin.delete("/faults")
            if round_ == WARM_UP:
                checkpoint = _look(state_dir, service, emulator_server.port)
        end = _look(state_dir, service, emulator_server.port)
    assert checkpoint is not None
    assert end.fds.others <= checkpoint.fds.others + FD_SLACK, (checkpoint.fds, end.fds)
    assert end.fds.pooled <= POOL_MAX, end.fds
    assert end.threads[0] <= checkpoint.threads[0], (checkpoint.threads, end.threads)
    assert end.threads[1] <= EXECUTOR_MAX
    assert end.files == checkpoint.files
    assert end.connections <= checkpoint.connections + 1
    # delivered events are pruned by the retention; the entities cache stays per entity
    assert end.rows.get("delivered", 0) <= checkpoint.rows.get("delivered", 0)
    assert end.entities == checkpoint.entities
    assert end.rows.get("pending", 0) == 0
    # every dead letter is kept for a human, whatever the retention
    queue = EventQueue(service.path)
    try:
        dead = {event.message_id for event in queue.by_status("dead", limit=10_000)}
    finally:
        queue.close()
    assert set(refused) <= dead
    assert end.rows["dead"] == len(dead) > len(refused)  # the 500 rounds' give-ups too

"""The durable embedded event queue: SQLite in WAL mode with ``synchronous=FULL``.

Ingest appends through :class:`GroupCommitWriter`: one writer thread takes every message
that arrived while the previous transaction was being committed and stores them all in
one fsync'd transaction, then acknowledges each waiting request. So a request is answered
only after its events are on disk, and throughput does not pay one fsync per event.

``messageId`` is unique: a message seen before is acknowledged but not stored again, so
it is delivered once. The forwarder and the CLI use :class:`EventQueue` to read pending
events and record outcomes (delivered, rejected, skipped, retry later, dead letter).
"""

from __future__ import annotations

import asyncio
import contextlib
import queue as stdlib_queue
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from mogulsync.events.schema import StoredEvent

SCHEMA_VERSION = 1
BUSY_TIMEOUT_MS = 30_000
#: Most events stored in one group commit (bounds transaction size and latency).
MAX_GROUP_EVENTS = 20_000
Status = Literal["pending", "delivered", "rejected", "skipped", "dead"]
STATUSES: tuple[Status, ...] = ("pending", "delivered", "rejected", "skipped", "dead")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events(
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id TEXT NOT NULL UNIQUE,
    type TEXT NOT NULL,
    body TEXT NOT NULL,
    received_at REAL NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL DEFAULT 0,
    reason TEXT,
    updated_at REAL
);
CREATE INDEX IF NOT EXISTS events_pending ON events(seq) WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS events_status ON events(status);
CREATE TABLE IF NOT EXISTS counters(name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS entities(
    kind TEXT NOT NULL,
    external_id TEXT NOT NULL,
    uuid TEXT NOT NULL,
    customer_uuid TEXT,
    PRIMARY KEY (kind, external_id)
);
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
_INSERT = (
    "INSERT OR IGNORE INTO events(message_id, type, body, received_at, status, reason)"
    " VALUES (?, ?, ?, ?, ?, ?)"
)


def connect(path: str | Path) -> sqlite3.Connection:
    """A connection with the durability settings every user of the queue needs."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(
        str(path), timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
    )
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    conn.executescript(_SCHEMA)
    conn.execute(
        "INSERT OR IGNORE INTO meta(key, value) VALUES ('schema_version', ?)",
        (str(SCHEMA_VERSION),),
    )
    return conn


@contextlib.contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` … ``COMMIT`` (rolled back on error)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _bump(conn: sqlite3.Connection, name: str, amount: int) -> None:
    if amount:
        conn.execute(
            "INSERT INTO counters(name, value) VALUES (?, ?)"
            " ON CONFLICT(name) DO UPDATE SET value = value + excluded.value",
            (name, amount),
        )


_Waiter = tuple[Sequence[StoredEvent], asyncio.AbstractEventLoop, "asyncio.Future[int]"]


class GroupCommitWriter:
    """Appends events from any event loop; each call returns once its events are durable."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._conn = connect(self.path)
        self._inbox: stdlib_queue.SimpleQueue[_Waiter | None] = stdlib_queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="events-writer", daemon=True)
        self._thread.start()
        self.commits = 0

    async def append(self, events: Sequence[StoredEvent]) -> int:
        """Store ``events`` durably; how many were new (the rest were duplicates)."""
        if not events:
            return 0
        loop = asyncio.get_running_loop()
        future: asyncio.Future[int] = loop.create_future()
        self._inbox.put((events, loop, future))
        return await future

    def close(self) -> None:
        """Finish what was handed in, then stop the writer thread."""
        self._inbox.put(None)
        self._thread.join()
        self._conn.close()

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._inbox.get()
            if first is None:
                break
            group = [first]
            size = len(first[0])
            while size < MAX_GROUP_EVENTS:
                try:
                    item = self._inbox.get_nowait()
                except stdlib_queue.Empty:
                    break
                if item is None:
                    stopping = True
                    break
                group.append(item)
                size += len(item[0])
            self._commit(group)

    def _commit(self, group: list[_Waiter]) -> None:
        results: list[int] = []
        error: BaseException | None = None
        try:
            with transaction(self._conn) as conn:
                duplicates = 0
                for events, _, _ in group:
                    before = conn.total_changes
                    conn.executemany(_INSERT, [_row(event) for event in events])
                    stored = conn.total_changes - before
                    duplicates += len(events) - stored
                    results.append(stored)
                _bump(conn, "received", sum(len(events) for events, _, _ in group))
                _bump(conn, "duplicates", duplicates)
            self.commits += 1
        except BaseException as exc:  # every waiter must hear about it
            error = exc
        # One wake-up per event loop for the whole group, not one per request: each
        # cross-thread call costs the loop a self-pipe write and read.
        settled: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[int], int]]] = {}
        for index, (_, loop, future) in enumerate(group):
            settled.setdefault(loop, []).append(
                (future, 0 if error is not None else results[index])
            )
        for loop, futures in settled.items():
            with contextlib.suppress(RuntimeError):  # that loop is closed: nobody waits
                loop.call_soon_threadsafe(_settle, futures, error)


def _row(event: StoredEvent) -> tuple[Any, ...]:
    status = "rejected" if event.rejection else "pending"
    return (event.message_id, event.type, event.body, event.received_at, status, event.rejection)


def _settle(futures: list[tuple[asyncio.Future[int], int]], error: BaseException | None) -> None:
    for future, value in futures:
        if future.done():
            continue
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(value)


@dataclass(frozen=True, slots=True)
class QueuedEvent:
    """A stored event as the forwarder and the CLI see it."""

    seq: int
    message_id: str
    type: str
    body: str
    received_at: float
    status: str
    attempts: int
    next_attempt_at: float
    reason: str | None


@dataclass(frozen=True, slots=True)
class Outcome:
    """What happened to one event: final (delivered/rejected/skipped/dead) or retry later."""

    seq: int
    status: Status
    reason: str | None = None
    attempts: int = 0
    next_attempt_at: float = 0.0


_COLUMNS = "seq, message_id, type, body, received_at, status, attempts, next_attempt_at, reason"


class EventQueue:
    """Reads and updates the queue (the forwarder, ``events status`` and dead letters)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._conn = connect(self.path)
        self._lock = threading.Lock()

    def close(self) -> None:
        """Close the connection."""
        self._conn.close()

    def pending(self, limit: int) -> list[QueuedEvent]:
        """The oldest pending events, in arrival order."""
        with self._lock:
            rows = self._conn.execute(
                f"SELECT {_COLUMNS} FROM events WHERE status = 'pending' ORDER BY seq LIMIT ?",  # noqa: S608
                (limit,),
            ).fetchall()
        return [QueuedEvent(*row) for row in rows]

    def record(self, outcomes: Sequence[Outcome], counters: dict[str, int] | None = None) -> None:
        """Store outcomes (and counter increments) in one durable transaction."""
        now = time.time()
        with self._lock, transaction(self._conn) as conn:
            conn.executemany(
                "UPDATE events SET status = ?, reason = ?, attempts = ?, next_attempt_at = ?,"
                " updated_at = ? WHERE seq = ?",
                [(o.status, o.reason, o.attempts, o.next_attempt_at, now, o.seq) for o in outcomes],
            )
            for name, amount in (counters or {}).items():
                _bump(conn, name, amount)

    def counts(self) -> dict[str, int]:
        """Events by current status."""
        with self._lock:
            rows = self._conn.execute("SELECT status, COUNT(*) FROM events GROUP BY status")
            found = dict(rows.fetchall())
        return {status: int(found.get(status, 0)) for status in STATUSES}

    def counters(self) -> dict[str, int]:
        """Running totals (received, duplicates, api_calls, webhook_posts, ...)."""
        with self._lock:
            return dict(self._conn.execute("SELECT name, value FROM counters").fetchall())

    def oldest_pending_age(self) -> float | None:
        """Seconds since the oldest pending event arrived, or None."""
        with self._lock:
            row = self._conn.execute(
                "SELECT MIN(received_at) FROM events WHERE status = 'pending'"
            ).fetchone()
        return None if row[0] is None else max(0.0, time.time() - float(row[0]))

    def by_status(self, status: Status, limit: int = 100) -> list[QueuedEvent]:
        """Events with this status, newest first."""
        with self._lock:
            rows = self._conn.execute(
                f"SELECT {_COLUMNS} FROM events WHERE status = ? ORDER BY seq DESC LIMIT ?",  # noqa: S608
                (status, limit),
            ).fetchall()
        return [QueuedEvent(*row) for row in rows]

    def get(self, message_id: str) -> QueuedEvent | None:
        """The stored event with this messageId."""
        with self._lock:
            row = self._conn.execute(
                f"SELECT {_COLUMNS} FROM events WHERE message_id = ?",  # noqa: S608
                (message_id,),
            ).fetchone()
        return QueuedEvent(*row) if row else None

    def replay(self, seqs: Sequence[int] | None = None) -> int:
        """Put dead letters (all, or these) back in the queue; how many."""
        with self._lock, transaction(self._conn) as conn:
            before = conn.total_changes
            update = (
                "UPDATE events SET status = 'pending', attempts = 0, next_attempt_at = 0,"
                " reason = NULL WHERE status = 'dead'"
            )
            if seqs is None:
                conn.execute(update)
            else:
                conn.executemany(f"{update} AND seq = ?", [(seq,) for seq in seqs])
            replayed = conn.total_changes - before
            _bump(conn, "replayed", replayed)
        return replayed

    def entity(self, kind: str, external_id: str) -> tuple[str, str | None] | None:
        """A remembered ChartMogul uuid (and customer uuid) for an external id."""
        with self._lock:
            row = self._conn.execute(
                "SELECT uuid, customer_uuid FROM entities WHERE kind = ? AND external_id = ?",
                (kind, external_id),
            ).fetchone()
        return (row[0], row[1]) if row else None

    def remember(
        self, kind: str, external_id: str, uuid: str, customer_uuid: str | None = None
    ) -> None:
        """Remember which ChartMogul record an external id resolved to."""
        with self._lock:
            self._conn.execute(
                "INSERT OR REPLACE INTO entities(kind, external_id, uuid, customer_uuid)"
                " VALUES (?, ?, ?, ?)",
                (kind, external_id, uuid, customer_uuid),
            )

    def forget(self, kind: str, external_id: str) -> None:
        """Drop a remembered uuid that turned out to be stale."""
        with self._lock:
            self._conn.execute(
                "DELETE FROM entities WHERE kind = ? AND external_id = ?", (kind, external_id)
            )

"""The durable embedded event queue: SQLite in WAL mode with ``synchronous=FULL``.

Ingest appends through :class:`GroupCommitWriter`: one writer thread takes every message
that arrived while the previous transaction was being committed and stores them all in
one fsync'd transaction, then acknowledges each waiting request. So a request is answered
only after its events are on disk, and throughput does not pay one fsync per event.

``messageId`` is unique per source (write key): a message seen before from the same
write key is acknowledged but not stored again, so it is delivered once; two sources
sending the same id do not silence each other. The envelope parts a batch's messages
inherit are stored once per distinct value (table ``shared``), not once per message. A
message is delivered once (for as long as its event is kept: finished events are pruned after
the configured retention, which is therefore also the deduplication window). The
forwarder and the CLI use :class:`EventQueue` to read pending events and record outcomes
(delivered, rejected, skipped, retry later, dead letter).

Before the forwarder sends events it marks them *in flight* (durably). An event still
marked in flight when it is read again was being sent when the process died: ChartMogul
may or may not have its effect, so its delivery must check before writing.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import queue as stdlib_queue
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from mogulsync import _sqlite_space, _threads
from mogulsync.events.schema import StoredEvent, merge_shared

logger = logging.getLogger(__name__)
SCHEMA_VERSION = 3
BUSY_TIMEOUT_MS = 30_000
#: Most finished events deleted in one pruning transaction (keeps ingest's waits short).
PRUNE_CHUNK = 5_000
#: statuses that are final and may be pruned (dead letters wait for a human)
FINISHED: tuple[str, ...] = ("delivered", "rejected", "skipped")
#: counter of events ever dead-lettered (the events alerts read it)
DEAD_LETTERED = "dead_lettered"
#: Most events stored in one group commit (bounds transaction size and latency).
MAX_GROUP_EVENTS = 20_000
Status = Literal["pending", "delivered", "rejected", "skipped", "dead"]
STATUSES: tuple[Status, ...] = ("pending", "delivered", "rejected", "skipped", "dead")

_EVENTS_TABLE = """
CREATE TABLE IF NOT EXISTS {name}(
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    source TEXT NOT NULL DEFAULT '',
    message_id TEXT NOT NULL,
    type TEXT NOT NULL,
    body TEXT NOT NULL,
    shared_id INTEGER,
    received_at REAL NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL DEFAULT 0,
    reason TEXT,
    updated_at REAL,
    inflight INTEGER NOT NULL DEFAULT 0,
    pending_since REAL,
    UNIQUE (source, message_id)
);
"""
_INDEXES = """
CREATE INDEX IF NOT EXISTS events_pending ON events(seq) WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS events_status ON events(status);
CREATE INDEX IF NOT EXISTS events_message ON events(message_id);
CREATE INDEX IF NOT EXISTS events_shared ON events(shared_id) WHERE shared_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS events_replayed ON events(pending_since)
    WHERE status = 'pending' AND pending_since IS NOT NULL;
"""
#: columns every schema version has, copied when a version-2 file is rebuilt
_V2_COLUMNS = (
    "seq, message_id, type, body, received_at, status, attempts, next_attempt_at, reason,"
    " updated_at, inflight"
)
_SCHEMA = (
    _EVENTS_TABLE.format(name="events")
    + """
CREATE TABLE IF NOT EXISTS shared(
    id INTEGER PRIMARY KEY,
    digest BLOB NOT NULL UNIQUE,
    body TEXT NOT NULL
);
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
)
_INSERT = (
    "INSERT OR IGNORE INTO events(source, message_id, type, body, shared_id, received_at,"
    " status, reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)


def connect(path: str | Path) -> sqlite3.Connection:
    """A connection with the durability settings every user of the queue needs."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(
        str(path), timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
    )
    _sqlite_space.configure(conn)  # before WAL: a new file gets incremental vacuum
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    conn.executescript(_SCHEMA)
    with transaction(conn):
        _migrate(conn)
    conn.executescript(_INDEXES)
    return conn


def _migrate(conn: sqlite3.Connection) -> None:
    """Bring a queue file written by an older version up to :data:`SCHEMA_VERSION`."""
    columns = {row[1] for row in conn.execute("PRAGMA table_info(events)")}
    if "inflight" not in columns:  # version 1 had no in-flight marker
        conn.execute("ALTER TABLE events ADD COLUMN inflight INTEGER NOT NULL DEFAULT 0")
    if "source" not in columns:
        # version 2 made messageId unique across write keys; SQLite cannot change a
        # UNIQUE constraint in place, so the table is rebuilt (seq values are kept)
        conn.execute("DROP INDEX IF EXISTS events_pending")
        conn.execute("DROP INDEX IF EXISTS events_status")
        conn.execute(_EVENTS_TABLE.format(name="events_v3"))
        conn.execute(
            f"INSERT INTO events_v3({_V2_COLUMNS}) SELECT {_V2_COLUMNS} FROM events"  # noqa: S608
        )
        conn.execute("DROP TABLE events")
        conn.execute("ALTER TABLE events_v3 RENAME TO events")
    if "pending_since" not in {row[1] for row in conn.execute("PRAGMA table_info(events)")}:
        # a replayed dead letter's wait counts from its replay (the backlog alert)
        conn.execute("ALTER TABLE events ADD COLUMN pending_since REAL")
    conn.execute(
        "INSERT INTO meta(key, value) VALUES ('schema_version', ?)"
        " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        (str(SCHEMA_VERSION),),
    )


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


_Waiter = tuple[Sequence[StoredEvent], str, asyncio.AbstractEventLoop, "asyncio.Future[int]"]


class GroupCommitWriter:
    """Appends events from any event loop; each call returns once its events are durable."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._conn = connect(self.path)
        self._inbox: stdlib_queue.SimpleQueue[_Waiter | None] = stdlib_queue.SimpleQueue()
        self._thread = _threads.Thread(target=self._run, name="events-writer", daemon=True)
        self._thread.start()
        self.commits = 0

    async def append(self, events: Sequence[StoredEvent], source: str = "") -> int:
        """Store ``events`` durably; how many were new (the rest were duplicates).

        ``source`` names the write key they came with (a fingerprint, never the key):
        ``messageId`` is deduplicated per source.
        """
        if not events:
            return 0
        loop = asyncio.get_running_loop()
        future: asyncio.Future[int] = loop.create_future()
        self._inbox.put((events, source, loop, future))
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
                shared_ids: dict[str, int] = {}
                for events, source, _, _ in group:
                    rows = [_row(conn, event, source, shared_ids) for event in events]
                    before = conn.total_changes
                    conn.executemany(_INSERT, rows)
                    stored = conn.total_changes - before
                    duplicates += len(events) - stored
                    results.append(stored)
                _bump(conn, "received", sum(len(events) for events, *_ in group))
                _bump(conn, "duplicates", duplicates)
            self.commits += 1
        except BaseException as exc:  # every waiter must hear about it
            error = exc
        # One wake-up per event loop for the whole group, not one per request: each
        # cross-thread call costs the loop a self-pipe write and read.
        settled: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[int], int]]] = {}
        for index, (_, _, loop, future) in enumerate(group):
            settled.setdefault(loop, []).append(
                (future, 0 if error is not None else results[index])
            )
        for loop, futures in settled.items():
            with contextlib.suppress(RuntimeError):  # that loop is closed: nobody waits
                loop.call_soon_threadsafe(_settle, futures, error)


def _row(
    conn: sqlite3.Connection, event: StoredEvent, source: str, shared_ids: dict[str, int]
) -> tuple[Any, ...]:
    status = "rejected" if event.rejection else "pending"
    shared_id = None if event.shared is None else _shared_id(conn, event.shared, shared_ids)
    return (
        source,
        event.message_id,
        event.type,
        event.body,
        shared_id,
        event.received_at,
        status,
        event.rejection,
    )


def _shared_id(conn: sqlite3.Connection, text: str, known: dict[str, int]) -> int:
    """The row holding ``text`` in ``shared`` (added when new): one copy per value."""
    found = known.get(text)
    if found is None:
        digest = hashlib.blake2b(text.encode(), digest_size=16).digest()
        conn.execute("INSERT OR IGNORE INTO shared(digest, body) VALUES (?, ?)", (digest, text))
        row = conn.execute("SELECT id FROM shared WHERE digest = ?", (digest,)).fetchone()
        found = known[text] = int(row[0])
    return found


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
    #: it was being sent when the process died: ChartMogul may already have its effect
    inflight: bool = False


@dataclass(frozen=True, slots=True)
class Outcome:
    """What happened to one event: final (delivered/rejected/skipped/dead) or retry later."""

    seq: int
    status: Status
    reason: str | None = None
    attempts: int = 0
    next_attempt_at: float = 0.0
    #: a failed attempt may have reached ChartMogul: the next one must check first
    inflight: bool = False


_COLUMNS = (
    "e.seq, e.message_id, e.type, e.body, s.body, e.received_at, e.status, e.attempts,"
    " e.next_attempt_at, e.reason, e.inflight"
    " FROM events e LEFT JOIN shared s ON s.id = e.shared_id"
)


class EventQueue:
    """Reads and updates the queue (the forwarder, ``events status`` and dead letters)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._conn = connect(self.path)
        self._lock = threading.Lock()

    def close(self) -> None:
        """Close the connection, once a call in progress on another thread has ended (the
        alert watch's, cancelled at shutdown but not awaited, may still be reading)."""
        with self._lock:
            self._conn.close()

    def pending(self, limit: int) -> list[QueuedEvent]:
        """The oldest pending events, in arrival order."""
        with self._lock:
            rows = self._conn.execute(
                f"SELECT {_COLUMNS} WHERE e.status = 'pending' ORDER BY e.seq LIMIT ?",
                (limit,),
            ).fetchall()
        return [_queued(row) for row in rows]

    def mark_inflight(self, seqs: Sequence[int]) -> None:
        """Durably note that these events are about to be sent (cleared by :meth:`record`)."""
        self.write(seqs, [], {})

    def record(self, outcomes: Sequence[Outcome], counters: dict[str, int] | None = None) -> None:
        """Store outcomes (and counter increments) in one durable transaction."""
        self.write([], outcomes, counters or {})

    def write(
        self,
        inflight: Sequence[int],
        outcomes: Sequence[Outcome],
        counters: Mapping[str, int],
        *,
        now: float | None = None,
    ) -> None:
        """In one durable transaction: mark events in flight, store outcomes, add counts.
        ``now`` (default: the wall clock) stamps the outcomes: a dead letter waits from it."""
        if not inflight and not outcomes and not any(counters.values()):
            return
        now = time.time() if now is None else now
        with self._lock, transaction(self._conn) as conn:
            conn.executemany(
                "UPDATE events SET inflight = 1 WHERE seq = ?", [(seq,) for seq in inflight]
            )
            conn.executemany(
                "UPDATE events SET status = ?, reason = ?, attempts = ?, next_attempt_at = ?,"
                " updated_at = ?, inflight = ? WHERE seq = ?",
                [
                    (o.status, o.reason, o.attempts, o.next_attempt_at, now, int(o.inflight), o.seq)
                    for o in outcomes
                ],
            )
            for name, amount in counters.items():
                _bump(conn, name, amount)
            # a running total (replays do not lower it): the alerts count new dead letters
            _bump(conn, DEAD_LETTERED, sum(o.status == "dead" for o in outcomes))

    def counts(self) -> dict[str, int]:
        """Events by current status."""
        with self._lock:
            rows = self._conn.execute("SELECT status, COUNT(*) FROM events GROUP BY status")
            found = dict(rows.fetchall())
        return {status: int(found.get(status, 0)) for status in STATUSES}

    def count(self, status: Status) -> int:
        """Events with this status now (reads only their part of the status index)."""
        with self._lock:
            row = self._conn.execute(
                "SELECT COUNT(*) FROM events WHERE status = ?", (status,)
            ).fetchone()
        return int(row[0])

    def counters(self) -> dict[str, int]:
        """Running totals (received, duplicates, api_calls, webhook_posts, ...)."""
        with self._lock:
            return dict(self._conn.execute("SELECT name, value FROM counters").fetchall())

    def oldest_pending_age(self, now: float | None = None) -> float | None:
        """Seconds the longest-waiting pending event waits (from its arrival, or from its
        replay: as the backlog alert counts), or None."""
        oldest = self.oldest_pending()
        if oldest is None:
            return None
        return max(0.0, (time.time() if now is None else now) - oldest[0])

    def oldest_pending(self) -> tuple[float, str | None] | None:
        """Since when the longest-waiting pending event waits (its arrival, or its replay
        for a replayed dead letter: received hours ago, it was not stuck all that time)
        and why its last attempt failed, or None."""
        with self._lock:
            # received_at grows with seq: the first by seq arrived first
            arrived = self._conn.execute(
                "SELECT received_at, reason FROM events WHERE status = 'pending'"
                " AND pending_since IS NULL ORDER BY seq LIMIT 1"
            ).fetchone()
            replayed = self._conn.execute(
                # without INDEXED BY the planner sorts every pending event (no statistics)
                "SELECT pending_since, reason FROM events INDEXED BY events_replayed"
                " WHERE status = 'pending' AND pending_since IS NOT NULL"
                " ORDER BY pending_since LIMIT 1"
            ).fetchone()
        found = [(float(row[0]), row[1]) for row in (arrived, replayed) if row is not None]
        return min(found, key=lambda since: since[0]) if found else None

    def dead_reasons(self, limit: int) -> list[tuple[str, int]]:
        """The most common reasons among dead letters, with how many have each."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT COALESCE(reason, ''), COUNT(*) AS n FROM events WHERE status = 'dead'"
                " GROUP BY 1 ORDER BY n DESC, 1 LIMIT ?",
                (limit,),
            ).fetchall()
        return [(str(reason), int(count)) for reason, count in rows]

    def meta(self, key: str) -> str | None:
        """A value kept in the queue file (e.g. the alerts' episode state), or None."""
        with self._lock:
            row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        """Keep ``value`` under ``key`` in the queue file (durably)."""
        with self._lock, transaction(self._conn) as conn:
            conn.execute(
                "INSERT INTO meta(key, value) VALUES (?, ?)"
                " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    def replace_meta(self, key: str, expected: str | None, value: str) -> bool:
        """Keep ``value`` under ``key`` only if it still holds ``expected`` (None: absent);
        whether it did. Atomic across processes sharing the file (``BEGIN IMMEDIATE``)."""
        with self._lock, transaction(self._conn) as conn:
            row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
            if (None if row is None else str(row[0])) != expected:
                return False
            conn.execute(
                "INSERT INTO meta(key, value) VALUES (?, ?)"
                " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, value),
            )
        return True

    def received_between(self, start: float, end: float) -> int:
        """How many stored events arrived in ``[start, end]`` (epoch seconds)."""
        with self._lock:
            # received_at grows with seq: walk down from the newest event to the last one
            # before ``start``, so the cost follows the window, not the queue's size
            row = self._conn.execute(
                "SELECT seq FROM events WHERE received_at < ? ORDER BY seq DESC LIMIT 1",
                (start,),
            ).fetchone()
            count = self._conn.execute(
                "SELECT COUNT(*) FROM events WHERE seq > ? AND received_at <= ?",
                (row[0] if row else 0, end),
            ).fetchone()
        return int(count[0])

    def by_status(self, status: Status, limit: int = 100) -> list[QueuedEvent]:
        """Events with this status, newest first."""
        with self._lock:
            rows = self._conn.execute(
                f"SELECT {_COLUMNS} WHERE e.status = ? ORDER BY e.seq DESC LIMIT ?",
                (status, limit),
            ).fetchall()
        return [_queued(row) for row in rows]

    def get(self, message_id: str) -> QueuedEvent | None:
        """The first stored event with this messageId (from any source)."""
        with self._lock:
            row = self._conn.execute(
                f"SELECT {_COLUMNS} WHERE e.message_id = ? ORDER BY e.seq LIMIT 1",
                (message_id,),
            ).fetchone()
        return _queued(row) if row else None

    def dead_among(self, seqs: Sequence[int]) -> set[int]:
        """Which of these ``seq`` numbers are dead letters now."""
        with self._lock:
            return {
                seq
                for seq in seqs
                if self._conn.execute(
                    "SELECT 1 FROM events WHERE seq = ? AND status = 'dead'", (seq,)
                ).fetchone()
            }

    def replay(self, seqs: Sequence[int] | None = None, now: float | None = None) -> int:
        """Put dead letters (all, or these) back in the queue; how many. ``now`` (default:
        the wall clock) is when they wait from, for the backlog alert."""
        since = time.time() if now is None else now
        with self._lock, transaction(self._conn) as conn:
            before = conn.total_changes
            update = (
                "UPDATE events SET status = 'pending', attempts = 0, next_attempt_at = 0,"
                " reason = NULL, inflight = 0, pending_since = ? WHERE status = 'dead'"
            )
            if seqs is None:
                conn.execute(update, (since,))
            else:
                conn.executemany(f"{update} AND seq = ?", [(since, seq) for seq in seqs])
            replayed = conn.total_changes - before
            _bump(conn, "replayed", replayed)
        return replayed

    def discard(self, seqs: Sequence[int] | None = None) -> int:
        """Delete dead letters (all, or these) for good; how many (counted as
        ``discarded``). For refusals no replay will ever get through."""
        with self._lock, transaction(self._conn) as conn:
            before = conn.total_changes
            if seqs is None:
                conn.execute("DELETE FROM events WHERE status = 'dead'")
            else:
                conn.executemany(
                    "DELETE FROM events WHERE status = 'dead' AND seq = ?",
                    [(seq,) for seq in seqs],
                )
            discarded = conn.total_changes - before
            _bump(conn, "discarded", discarded)
        return discarded

    def prune(self, received_before: float | None, dead_before: float | None = None) -> int:
        """Delete finished events received before ``received_before``, and dead letters
        waiting since before ``dead_before`` (None: none); how many.

        Pending events are kept whatever their age. A dead letter waits from when it
        became one (the outcome's time; again after a replay), not from its arrival: an
        event refused days after it arrived is new to whoever reads the list. A pruned
        event's ``messageId`` is no longer deduplicated. Works in chunks along ``seq``
        (arrival order) so no transaction holds the write lock for long; then gives the
        freed pages back to the disk (:meth:`reclaim_space`).
        """
        deleted = 0 if received_before is None else self._prune_finished(received_before)
        if dead_before is not None:
            deleted += self._prune_dead(dead_before)
        with self._lock, transaction(self._conn) as conn:
            # shared envelope parts no event refers to any more
            conn.execute(
                "DELETE FROM shared WHERE NOT EXISTS"
                " (SELECT 1 FROM events WHERE events.shared_id = shared.id)"
            )
        try:
            self.reclaim_space()
        except sqlite3.Error as exc:  # the events are gone either way: the next prune retries
            logger.warning("events queue: freed space not given back yet: %s", exc)
        return deleted

    def _prune_dead(self, before: float) -> int:
        """Delete dead letters waiting since before ``before``, in chunks; how many.
        ``updated_at`` is when the outcome that made each one dead was recorded."""
        deleted = 0
        while True:
            with self._lock, transaction(self._conn) as conn:
                changes = conn.total_changes
                conn.execute(
                    "DELETE FROM events WHERE seq IN (SELECT seq FROM events"
                    " WHERE status = 'dead' AND COALESCE(updated_at, received_at) < ?"
                    " ORDER BY seq LIMIT ?)",
                    (before, PRUNE_CHUNK),
                )
                chunk = conn.total_changes - changes
                _bump(conn, "pruned_dead", chunk)
            deleted += chunk
            if chunk < PRUNE_CHUNK:
                return deleted

    def _prune_finished(self, received_before: float) -> int:
        """Delete finished events received before this time, in chunks; how many."""
        with self._lock:
            row = self._conn.execute(
                "SELECT seq FROM events WHERE received_at >= ? ORDER BY seq LIMIT 1",
                (received_before,),
            ).fetchone()
        # received_at grows with seq (stamped on arrival), so everything below the first
        # young event is old; without a young event every event is old
        below = int(row[0]) if row else None
        placeholders = ", ".join("?" for _ in FINISHED)
        deleted = 0
        while True:
            with self._lock, transaction(self._conn) as conn:
                before = conn.total_changes
                conn.execute(
                    f"DELETE FROM events WHERE seq IN (SELECT seq FROM events"  # noqa: S608
                    f" WHERE (? IS NULL OR seq < ?) AND received_at < ?"
                    f" AND status IN ({placeholders}) ORDER BY seq LIMIT ?)",
                    (below, below, received_before, *FINISHED, PRUNE_CHUNK),
                )
                chunk = conn.total_changes - before
                _bump(conn, "pruned", chunk)
            deleted += chunk
            if chunk < PRUNE_CHUNK:
                return deleted

    def reclaim_space(self) -> _sqlite_space.Reclaimed:
        """Give freed pages back to the disk, in short steps under the connection's lock
        (ingest's writer waits one step at most); a queue file from before incremental
        vacuum is converted once, by a VACUUM."""
        return _sqlite_space.reclaim(self._conn, self._lock)

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


def _queued(row: Sequence[Any]) -> QueuedEvent:
    seq, message_id, kind, body, shared, received_at, status, attempts, next_at, reason, flag = row
    return QueuedEvent(
        seq,
        message_id,
        kind,
        merge_shared(body, shared),
        received_at,
        status,
        attempts,
        next_at,
        reason,
        bool(flag),
    )

"""One pacing clock per account shared by every process: a SQLite file or a PostgreSQL row.

ChartMogul's 40 req/s is per account, so two processes (two Dagster runs) or two machines
syncing one account must draw from one budget. The in-process pacer hands out start times
``1 / rate`` apart from a virtual clock; here that clock (``next_start``) lives in one row
per account, and reserving a start is one atomic read-modify-write:

    start = max(now, next_start);  next_start = start + interval;  wait start - now

This is the generic cell rate algorithm (GCRA) with no burst. Library token buckets that
share state (pyrate-limiter's SQLite and PostgreSQL buckets) keep a row per request in a
sliding window and let a whole window's worth start at once, which can exceed ChartMogul's
20-connection cap when several processes burst together; one row per account is also less
work per request. The in-flight cap is shared separately, by
leases (:mod:`mogulsync.chartmogul.shared_leases`).

* :class:`SqlitePacingStore` — machine-wide, a file in a per-user directory; wall-clock
  seconds (every process of the machine reads the same clock).
* :class:`PostgresPacingStore` — across machines, in the ``state_store`` database; the
  *server's* clock is used, so machines' clock skew does not matter.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Protocol

#: A booked start further ahead than this means a clock jump (or a stale row after a reboot),
#: never a real queue: each process books at most its in-flight cap ahead.
MAX_AHEAD_S = 60.0
#: waiting for another process's write lock on the SQLite file
_SQLITE_BUSY_TIMEOUT_S = 5.0
DEFAULT_FILE_ENV = "MOGULSYNC_RATE_LIMIT_FILE"
_PG_CONNECT_TIMEOUT_S = 5


class PacingStore(Protocol):
    """Books request start times on a clock shared by several processes."""

    def reserve(self, account: str, interval: float) -> float:
        """Book the next start for ``account``; seconds to wait for it (0 when free)."""
        ...

    def close(self) -> None:
        """Release the connection."""
        ...


def default_pacing_file() -> Path:
    """``$MOGULSYNC_RATE_LIMIT_FILE``, else ``<tmp>/mogulsync-<uid>/rate-limit.sqlite``."""
    override = os.environ.get(DEFAULT_FILE_ENV)
    if override:
        return Path(override)
    uid = os.getuid() if hasattr(os, "getuid") else 0
    return Path(tempfile.gettempdir()) / f"mogulsync-{uid}" / "rate-limit.sqlite"


class SqlitePacingStore:
    """The shared clock in a SQLite file: every process on this machine books from it."""

    def __init__(self, path: Path, *, clock: Any = time.time) -> None:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.path = path
        self._clock = clock
        self._lock = threading.Lock()
        # Autocommit mode, so BEGIN IMMEDIATE below is the only transaction.
        self._db = sqlite3.connect(
            path, timeout=_SQLITE_BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
        )
        # WAL lets readers and the one writer overlap; losing a booking in a power cut is
        # harmless, so no fsync per request.
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=OFF")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS pacing (account TEXT PRIMARY KEY, next_start REAL NOT NULL)"
        )

    def reserve(self, account: str, interval: float) -> float:
        """Book a start (one short write transaction); seconds to wait for it."""
        start, now = self.book(account, interval)
        return start - now

    def book(self, account: str, interval: float) -> tuple[float, float]:
        """Book a start: ``(start, now)`` on the shared clock."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                now = float(self._clock())
                row = self._db.execute(
                    "SELECT next_start FROM pacing WHERE account = ?", (account,)
                ).fetchone()
                booked = float(row[0]) if row else now
                start = now if booked > now + MAX_AHEAD_S else max(now, booked)
                self._db.execute(
                    "INSERT INTO pacing (account, next_start) VALUES (?, ?) "
                    "ON CONFLICT(account) DO UPDATE SET next_start = excluded.next_start",
                    (account, start + interval),
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            return start, now

    def close(self) -> None:
        """Close the file."""
        with self._lock:
            self._db.close()


#: one statement: the upsert's row lock serialises bookers on every machine
_PG_RESERVE = """
WITH clock AS (SELECT extract(epoch FROM clock_timestamp())::float8 AS now)
INSERT INTO {table} AS p (account, next_start)
SELECT %(account)s::text, clock.now + %(interval)s::float8 FROM clock
ON CONFLICT (account) DO UPDATE SET next_start = (
    SELECT CASE WHEN p.next_start > clock.now + %(max_ahead)s::float8 THEN clock.now
                ELSE greatest(p.next_start, clock.now) END + %(interval)s::float8
    FROM clock)
RETURNING p.next_start - %(interval)s::float8, (SELECT now FROM clock)
"""


class PostgresPacingStore:
    """The shared clock in PostgreSQL (the ``state_store``): machines book from one row."""

    def __init__(self, url: str, schema: str) -> None:
        import psycopg  # only where a state store is configured

        self._lock = threading.Lock()
        # A database that does not answer must not hold a sync up: it then paces alone.
        self._conn = psycopg.connect(
            libpq_url(url), autocommit=True, connect_timeout=_PG_CONNECT_TIMEOUT_S
        )
        table = f'"{schema}".rate_pacing'
        self._sql = _PG_RESERVE.format(table=table)
        # Concurrent CREATE ... IF NOT EXISTS can still collide in PostgreSQL's catalog: the
        # first worker of a deployment creates the table while the others wait on this lock.
        with self._conn.transaction(), self._conn.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext('mogulsync.rate_pacing'))")
            cursor.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
            cursor.execute(
                f"CREATE TABLE IF NOT EXISTS {table} "
                "(account TEXT PRIMARY KEY, next_start DOUBLE PRECISION NOT NULL)"
            )

    def reserve(self, account: str, interval: float) -> float:
        """Book a start (one round trip); seconds to wait for it."""
        start, now = self.book(account, interval)
        return max(0.0, start - now)

    def book(self, account: str, interval: float) -> tuple[float, float]:
        """Book a start: ``(start, now)`` on the database server's clock."""
        params = {"account": account, "interval": interval, "max_ahead": MAX_AHEAD_S}
        with self._lock, self._conn.cursor() as cursor:
            cursor.execute(self._sql, params)
            row = cursor.fetchone()
        if row is None:  # pragma: no cover - an upsert with RETURNING always returns a row
            raise RuntimeError("rate pacing upsert returned no row")
        return float(row[0]), float(row[1])

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._conn.close()


def libpq_url(url: str) -> str:
    """psycopg takes ``postgresql://``; SQLAlchemy spellings add a driver (``+psycopg``)."""
    _scheme, sep, rest = url.partition("://")
    return f"postgresql{sep}{rest}" if sep else url

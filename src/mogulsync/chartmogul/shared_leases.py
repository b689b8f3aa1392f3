"""In-flight slots per account shared by every process: leases in a SQLite file or PostgreSQL.

ChartMogul answers 503 beyond 20 parallel connections per account, whatever process or
machine holds them. A request in flight therefore holds a *lease*: one of ``cap`` slot rows
``(account, slot)`` with its owner and an expiry. Taking one is a single write that claims
the lowest slot with no live lease; giving it back deletes the row if we still own it.

A process killed with SIGKILL never gives its leases back, so leases expire: each store
runs a daemon thread that renews its own live leases every ``ttl / 3`` seconds, and a slot
whose lease is past its expiry counts as free. A killed process's slots come back at most
``ttl`` seconds later; a live process never loses a slot while it is renewing.

* :class:`SqliteLeaseStore` — machine-wide, in the same per-user file as the pacing clock;
  wall-clock seconds (every process of the machine reads the same clock).
* :class:`PostgresLeaseStore` — across machines, in the ``state_store`` database, on the
  database *server's* clock, so machines' clock skew does not matter.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from mogulsync import _threads

_log = logging.getLogger(__name__)

#: a dead process's slots come back after this long; renewed every third of it
DEFAULT_LEASE_TTL_S = 15.0
_SQLITE_BUSY_TIMEOUT_S = 5.0
_PG_CONNECT_TIMEOUT_S = 5


class LeaseStore(Protocol):
    """Hands out at most ``cap`` live leases per account across processes."""

    def try_acquire(self, account: str, cap: int) -> int | None:
        """Claim a free slot (its number), or None when all ``cap`` are held."""
        ...

    def release(self, account: str, slot: int) -> None:
        """Give a slot back (a no-op if its lease expired and another owner took it)."""
        ...

    def close(self) -> None:
        """Stop renewing and release the connection."""
        ...


class _Renewer:
    """The daemon thread that keeps a store's live leases from expiring."""

    def __init__(self, renew: Callable[[], None], interval: float) -> None:
        self._renew = renew
        self._interval = interval
        self._stop = threading.Event()
        # the store is process-wide: its renewal belongs to no run (no run id on its lines)
        self._thread = _threads.Thread(
            target=self._run, name="mogulsync-leases", daemon=True, process_wide=True
        )
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self._renew()
            except Exception as exc:  # the next request's failure is what reports it
                _log.debug("renewing in-flight leases failed (%s)", type(exc).__name__)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self._interval + 1)


class SqliteLeaseStore:
    """Leases in a SQLite file: every process of this machine draws from one set of slots."""

    def __init__(
        self,
        path: Path,
        *,
        ttl: float = DEFAULT_LEASE_TTL_S,
        clock: Callable[[], float] = time.time,
        renew: bool = True,
    ) -> None:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.owner = uuid.uuid4().hex
        self._ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._held = 0
        self._db = sqlite3.connect(
            path, timeout=_SQLITE_BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
        )
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=OFF")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS leases (account TEXT NOT NULL, slot INTEGER NOT NULL, "
            "owner TEXT NOT NULL, expires REAL NOT NULL, PRIMARY KEY (account, slot))"
        )
        self._renewer = _Renewer(self.renew, ttl / 3) if renew else None

    def try_acquire(self, account: str, cap: int) -> int | None:
        """Claim the lowest free slot in one write transaction."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                now = float(self._clock())
                live = {
                    int(row[0])
                    for row in self._db.execute(
                        "SELECT slot FROM leases WHERE account = ? AND expires > ?", (account, now)
                    )
                }
                slot = next((each for each in range(cap) if each not in live), None)
                if slot is not None:
                    self._db.execute(
                        "INSERT OR REPLACE INTO leases (account, slot, owner, expires) "
                        "VALUES (?, ?, ?, ?)",
                        (account, slot, self.owner, now + self._ttl),
                    )
                    self._held += 1
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            return slot

    def release(self, account: str, slot: int) -> None:
        """Delete our lease on the slot."""
        with self._lock:
            self._held -= 1
            self._db.execute(
                "DELETE FROM leases WHERE account = ? AND slot = ? AND owner = ?",
                (account, slot, self.owner),
            )

    def renew(self) -> None:
        """Push our live leases' expiry ``ttl`` ahead (the renewer thread calls this)."""
        with self._lock:
            if self._held:
                self._db.execute(
                    "UPDATE leases SET expires = ? WHERE owner = ?",
                    (float(self._clock()) + self._ttl, self.owner),
                )

    def close(self) -> None:
        """Stop renewing and close the file (leases still held expire on their own)."""
        if self._renewer is not None:
            self._renewer.stop()
        with self._lock:
            self._db.close()


#: one statement: the primary key makes two claimers of one slot collide; the loser's
#: conditional update then sees the winner's live lease and returns no row (try again)
_PG_ACQUIRE = """
WITH clock AS (SELECT extract(epoch FROM clock_timestamp())::float8 + %(offset)s AS now),
free AS (
    SELECT s.slot FROM generate_series(0, %(cap)s - 1) AS s(slot)
    WHERE NOT EXISTS (
        SELECT 1 FROM {table} l, clock
        WHERE l.account = %(account)s AND l.slot = s.slot AND l.expires > clock.now)
    ORDER BY s.slot LIMIT 1)
INSERT INTO {table} AS l (account, slot, owner, expires)
SELECT %(account)s::text, free.slot, %(owner)s::text, clock.now + %(ttl)s::float8
FROM free, clock
ON CONFLICT (account, slot) DO UPDATE SET owner = excluded.owner, expires = excluded.expires
WHERE l.expires <= (SELECT now FROM clock)
RETURNING l.slot
"""
_PG_RENEW = """
UPDATE {table} SET expires = extract(epoch FROM clock_timestamp())::float8
    + %(offset)s + %(ttl)s::float8
WHERE owner = %(owner)s
"""
_PG_RELEASE = "DELETE FROM {table} WHERE account = %s AND slot = %s AND owner = %s"


class PostgresLeaseStore:
    """Leases in PostgreSQL (the ``state_store``): every machine draws from one set of slots."""

    def __init__(
        self,
        url: str,
        schema: str,
        *,
        ttl: float = DEFAULT_LEASE_TTL_S,
        clock_offset_s: float = 0.0,
        renew: bool = True,
    ) -> None:
        import psycopg  # only where a state store is configured

        from mogulsync.chartmogul.shared_pacing import libpq_url

        self.owner = uuid.uuid4().hex
        self._lock = threading.Lock()
        self._held = 0
        # ``clock_offset_s`` lets a test look at the slots from the future (expiry) without
        # waiting; it is 0 in use.
        self._params: dict[str, Any] = {"ttl": ttl, "owner": self.owner, "offset": clock_offset_s}
        self._conn = psycopg.connect(
            libpq_url(url), autocommit=True, connect_timeout=_PG_CONNECT_TIMEOUT_S
        )
        table = f'"{schema}".inflight_leases'
        self._acquire = _PG_ACQUIRE.format(table=table)
        self._renew = _PG_RENEW.format(table=table)
        self._release = _PG_RELEASE.format(table=table)
        # Serialise the creation: concurrent CREATE ... IF NOT EXISTS can collide in the catalog.
        with self._conn.transaction(), self._conn.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext('mogulsync.inflight_leases'))")
            cursor.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
            cursor.execute(
                f"CREATE TABLE IF NOT EXISTS {table} (account TEXT NOT NULL, "
                "slot INTEGER NOT NULL, owner TEXT NOT NULL, "
                "expires DOUBLE PRECISION NOT NULL, PRIMARY KEY (account, slot))"
            )
        self._renewer = _Renewer(self.renew, ttl / 3) if renew else None

    def try_acquire(self, account: str, cap: int) -> int | None:
        """Claim the lowest free slot in one round trip (None too if a race was lost)."""
        params = {**self._params, "account": account, "cap": cap}
        with self._lock, self._conn.cursor() as cursor:
            cursor.execute(self._acquire, params)
            row = cursor.fetchone()
            if row is None:
                return None
            self._held += 1
            return int(row[0])

    def release(self, account: str, slot: int) -> None:
        """Delete our lease on the slot."""
        with self._lock, self._conn.cursor() as cursor:
            self._held -= 1
            cursor.execute(self._release, (account, slot, self.owner))

    def renew(self) -> None:
        """Push our live leases' expiry ``ttl`` ahead on the server's clock."""
        with self._lock, self._conn.cursor() as cursor:
            if self._held:
                cursor.execute(self._renew, self._params)

    def close(self) -> None:
        """Stop renewing and close the connection."""
        if self._renewer is not None:
            self._renewer.stop()
        with self._lock:
            self._conn.close()

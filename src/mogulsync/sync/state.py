"""Embedded sync state: snapshots, known uuids and the one-run-per-sync lock.

SQLite in WAL mode under ``state_dir`` (``.mogulsync/state.sqlite`` by default). The schema
is versioned (``meta.schema_version``) and migrated forward on open. Every write is a short
transaction, so a process killed at any instant leaves the last committed state: rows are
marked ``inflight`` *before* their request is sent and ``synced`` only *after* ChartMogul
accepted them (see docs/sync.md, "Exactly once").
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Self

from mogulsync._pid_lock import PidFileLock
from mogulsync._sqlite_file import readable_database
from mogulsync.errors import FatalError
from mogulsync.sync.diff import Prior, RowStatus

SCHEMA_VERSION = 2
STATE_FILE = "state.sqlite"
#: keys per ``IN (...)`` query (SQLite's default limit on variables is 32766; stay small)
_CHUNK = 500
_BUSY_TIMEOUT_MS = 30_000
#: status text → enum, without the Enum call per row
_STATUSES = {status.value: status for status in RowStatus}
#: a batch of keys is passed to SQLite as one JSON array (``json_each``): one statement per
#: batch instead of one per key. SQLite text stops at NUL, so keys holding one (the escape
#: below) take the per-key path.
_NUL_ESCAPE = "\\u0000"
_MIGRATIONS: dict[int, str] = {
    1: """
    CREATE TABLE snapshot (
        sync TEXT NOT NULL,
        pk TEXT NOT NULL,
        digest TEXT,
        status TEXT NOT NULL,
        uuid TEXT,
        attempt_digest TEXT,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (sync, pk)
    ) WITHOUT ROWID;
    CREATE TABLE registry (
        kind TEXT NOT NULL,
        data_source_uuid TEXT NOT NULL,
        external_id TEXT NOT NULL,
        uuid TEXT NOT NULL,
        PRIMARY KEY (kind, data_source_uuid, external_id)
    ) WITHOUT ROWID;
    CREATE TABLE sync_definition (sync TEXT PRIMARY KEY, definition TEXT NOT NULL);
    """,
    # the record's external id, for records whose uuid is not known (bulk imports answer
    # per customer, not per record): deletes and updates find them by it
    2: "ALTER TABLE snapshot ADD COLUMN ref TEXT",
}


class SyncLockedError(FatalError):
    """Another run of the same sync holds its lock."""


@dataclass(frozen=True, slots=True)
class RowResult:
    """The outcome of sending one row."""

    key: str
    ok: bool
    uuid: str | None = None
    #: the failure left the outcome unknown: keep the row in flight for the next run
    unknown: bool = False
    #: the record's external id (kept so a record without a known uuid can be found)
    ref: str | None = None


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


class StateStore:
    """Snapshots of every sync in one SQLite file."""

    def __init__(self, state_dir: Path | str) -> None:
        self.path = Path(state_dir) / STATE_FILE
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with readable_database(self.path, "sync state"):
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._db.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
            self._db.execute("PRAGMA journal_mode = WAL")
            # A kill -9 keeps WAL commits (they are in the OS page cache); only power loss
            # could drop the last ones, and those rows are then simply re-resolved.
            self._db.execute("PRAGMA synchronous = NORMAL")
            self._migrate()
            self._db.execute(
                "CREATE TEMP TABLE IF NOT EXISTS seen (pk TEXT PRIMARY KEY, ordinal INTEGER)"
            )

    def _migrate(self) -> None:
        with self._transaction():
            self._db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
            row = self._db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            version = int(row[0]) if row else 0
            if version > SCHEMA_VERSION:
                raise FatalError(
                    f"{self.path} was written by a newer mogulsync (schema {version})",
                    hint="Upgrade mogulsync.",
                )
            for target in range(version + 1, SCHEMA_VERSION + 1):
                for statement in _MIGRATIONS[target].split(";"):
                    if statement.strip():
                        self._db.execute(statement)
            self._db.execute(
                "INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
            )

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    # ------------------------------------------------------------------ definition
    def definition_changed(self, sync: str, definition: str) -> bool:
        """Record the sync's definition; whether it differs from the last run's."""
        row = self._db.execute(
            "SELECT definition FROM sync_definition WHERE sync = ?", (sync,)
        ).fetchone()
        return row is not None and row[0] != definition

    def save_definition(self, sync: str, definition: str) -> None:
        """Remember the definition the snapshot was built with."""
        self._db.execute("INSERT OR REPLACE INTO sync_definition VALUES (?, ?)", (sync, definition))

    # ------------------------------------------------------------------ snapshot
    def priors(self, sync: str, keys: Sequence[str]) -> dict[str, Prior]:
        """What the snapshot knows about each key (absent keys are new)."""
        found: dict[str, Prior] = {}
        packed = _packed(keys)
        if packed is not None:
            rows = self._db.execute(
                "SELECT pk, digest, status, uuid, ref FROM snapshot"
                " WHERE sync = ? AND pk IN (SELECT value FROM json_each(?))",
                (sync, packed),
            )
            statuses = _STATUSES
            for pk, digest, status, uuid, ref in rows:
                found[pk] = Prior(digest, statuses[status], uuid, ref)
            return found
        for start in range(0, len(keys), _CHUNK):
            chunk = keys[start : start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            query = f"SELECT pk, digest, status, uuid, ref FROM snapshot WHERE pk IN ({marks})"  # noqa: S608
            rows = self._db.execute(
                query + " AND sync = ?",
                (*chunk, sync),
            )
            for pk, digest, status, uuid, ref in rows:
                found[pk] = Prior(digest, RowStatus(status), uuid, ref)
        return found

    def changed_keys(self, sync: str, digests: Mapping[str, str]) -> set[str] | None:
        """Keys (of ``key → digest``) that are not accepted with that digest; None: use priors.

        The comparison runs inside SQLite, so an unchanged row costs no Python at all: a
        no-change batch returns nothing. None when a key holds a NUL (see ``_packed``).
        """
        packed = json.dumps(digests, ensure_ascii=False)
        if _NUL_ESCAPE in packed:
            return None
        rows = self._db.execute(
            "SELECT j.key FROM json_each(?) AS j WHERE NOT EXISTS (SELECT 1 FROM snapshot AS s"
            " WHERE s.sync = ? AND s.pk = j.key AND s.digest = j.value AND s.status = ?)",
            (packed, sync, RowStatus.SYNCED.value),
        )
        return {row[0] for row in rows}

    def mark_inflight(self, sync: str, rows: Iterable[tuple[str, str, str | None]]) -> None:
        """Before sending: these (key, digest, ref) rows may reach ChartMogul from now on.

        The ref (record's external id) is kept so a row that leaves the model while in
        flight can still be found, and deleted, even if its record's uuid was never learnt.
        """
        now = _now()
        with self._transaction():
            self._db.executemany(
                "INSERT INTO snapshot"
                " (sync, pk, digest, status, uuid, ref, attempt_digest, updated_at)"
                " VALUES (?, ?, NULL, 'inflight', NULL, ?, ?, ?)"
                " ON CONFLICT (sync, pk) DO UPDATE SET status = 'inflight',"
                " ref = COALESCE(excluded.ref, ref),"
                " attempt_digest = excluded.attempt_digest, updated_at = excluded.updated_at",
                [(sync, key, ref, digest, now) for key, digest, ref in rows],
            )

    def record(self, sync: str, results: Sequence[RowResult]) -> None:
        """After answers: accepted rows become synced, the rest failed (or stay in flight)."""
        now = _now()
        with self._transaction():
            for result in results:
                if result.ok:
                    self._db.execute(
                        "UPDATE snapshot SET status = 'synced', digest = attempt_digest,"
                        " uuid = COALESCE(?, uuid), ref = COALESCE(?, ref), updated_at = ?"
                        " WHERE sync = ? AND pk = ?",
                        (result.uuid, result.ref, now, sync, result.key),
                    )
                else:
                    status = "inflight" if result.unknown else "failed"
                    self._db.execute(
                        "UPDATE snapshot SET status = CASE WHEN status = 'inflight' AND ?"
                        " THEN 'inflight' ELSE ? END, updated_at = ? WHERE sync = ? AND pk = ?",
                        (result.unknown, status, now, sync, result.key),
                    )

    def forget(self, sync: str, keys: Sequence[str]) -> None:
        """Drop keys from the snapshot (deleted, or left the model with on_delete: ignore)."""
        with self._transaction():
            self._db.executemany(
                "DELETE FROM snapshot WHERE sync = ? AND pk = ?", [(sync, key) for key in keys]
            )

    def reset(self, sync: str) -> None:
        """Forget a sync's whole snapshot."""
        with self._transaction():
            self._db.execute("DELETE FROM snapshot WHERE sync = ?", (sync,))
            self._db.execute("DELETE FROM sync_definition WHERE sync = ?", (sync,))

    # ------------------------------------------------------------------ seen keys
    def start_seen(self) -> None:
        """Begin collecting the keys the model has in this run."""
        self._db.execute("DELETE FROM temp.seen")

    def see(self, keys: Sequence[str | None], first_row: int = 1) -> list[bool]:
        """Note keys as present; per key, whether it is new (False: a duplicate or None)."""
        packed = _packed(keys)
        if packed is not None:
            # RETURNING yields only the keys this statement inserted: the batch's new keys;
            # json_each's key is the array index, so each key keeps its row number
            inserted = {
                row[0]
                for row in self._db.execute(
                    "INSERT OR IGNORE INTO temp.seen SELECT value, key + ? FROM json_each(?)"
                    " WHERE value IS NOT NULL RETURNING pk",
                    (first_row, packed),
                )
            }
            if len(inserted) == len(keys):
                return [True] * len(keys)
            marks: list[bool] = []
            for key in keys:  # a key repeated in the batch is new only the first time
                if key is not None and key in inserted:
                    inserted.discard(key)
                    marks.append(True)
                else:
                    marks.append(False)
            return marks
        fresh: list[bool] = []
        with self._transaction():
            for index, key in enumerate(keys):
                if key is None:
                    fresh.append(False)
                    continue
                cursor = self._db.execute(
                    "INSERT OR IGNORE INTO temp.seen VALUES (?, ?)", (key, first_row + index)
                )
                fresh.append(cursor.rowcount == 1)
        return fresh

    def seen_rows(self, keys: Sequence[str]) -> dict[str, int]:
        """The row number at which each key was first seen in this run (the kept row)."""
        found: dict[str, int] = {}
        for start in range(0, len(keys), _CHUNK):
            chunk = keys[start : start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            query = f"SELECT pk, ordinal FROM temp.seen WHERE pk IN ({marks})"  # noqa: S608
            found.update(self._db.execute(query, chunk))
        return found

    def unseen(self, sync: str) -> Iterator[tuple[str, Prior]]:
        """Snapshot rows whose key the model no longer has."""
        rows = self._db.execute(
            "SELECT pk, digest, status, uuid, ref FROM snapshot WHERE sync = ?"
            " AND pk NOT IN (SELECT pk FROM temp.seen) ORDER BY pk",
            (sync,),
        ).fetchall()
        for pk, digest, status, uuid, ref in rows:
            yield pk, Prior(digest, RowStatus(status), uuid, ref)

    def sharing(
        self, sync: str, refs: Sequence[str], uuids: Sequence[str]
    ) -> Iterator[tuple[str, Prior]]:
        """Snapshot rows that may name one of these records: ref in ``refs``, or uuid in
        ``uuids`` (rows holding several uuids are all returned; the caller checks)."""
        # one pass over the snapshot (ref and uuid are not indexed): the values go to a
        # temporary table the IN reads as an index; refs and uuids share it (a ref equal to
        # some uuid returns a row too many, which the caller's check drops)
        with self._transaction():
            self._db.execute("CREATE TEMP TABLE IF NOT EXISTS sharing (value TEXT PRIMARY KEY)")
            self._db.execute("DELETE FROM temp.sharing")
            self._db.executemany(
                "INSERT OR IGNORE INTO temp.sharing VALUES (?)",
                [(value,) for value in (*refs, *uuids)],
            )
        rows = self._db.execute(
            "SELECT pk, digest, status, uuid, ref FROM snapshot WHERE sync = ? AND ("
            " ref IN (SELECT value FROM temp.sharing) OR uuid IN (SELECT value FROM temp.sharing)"
            " OR uuid LIKE '%,%')",
            (sync,),
        ).fetchall()
        for pk, digest, status, uuid, ref in rows:
            yield pk, Prior(digest, RowStatus(status), uuid, ref)

    def counts(self, sync: str) -> dict[str, int]:
        """Rows per status in a sync's snapshot."""
        rows = self._db.execute(
            "SELECT status, COUNT(*) FROM snapshot WHERE sync = ? GROUP BY status", (sync,)
        )
        return dict(rows)

    # ------------------------------------------------------------------ registry
    def known_uuid(self, kind: str, data_source_uuid: str, external_id: str) -> str | None:
        """A uuid learnt earlier for (kind, data source, external id)."""
        row = self._db.execute(
            "SELECT uuid FROM registry WHERE kind = ? AND data_source_uuid = ? AND external_id = ?",
            (kind, data_source_uuid, external_id),
        ).fetchone()
        return str(row[0]) if row else None

    def remember_uuids(self, entries: Sequence[tuple[str, str, str, str]]) -> None:
        """Store (kind, data source, external id, uuid) facts learnt from ChartMogul."""
        if not entries:
            return
        with self._transaction():
            self._db.executemany("INSERT OR REPLACE INTO registry VALUES (?, ?, ?, ?)", entries)

    def forget_uuid(self, kind: str, data_source_uuid: str, external_id: str) -> None:
        """Drop a stale uuid (the record was deleted in ChartMogul)."""
        self._db.execute(
            "DELETE FROM registry WHERE kind = ? AND data_source_uuid = ? AND external_id = ?",
            (kind, data_source_uuid, external_id),
        )


def _packed(keys: Sequence[str | None]) -> str | None:
    """The keys as one JSON array for ``json_each``, or None when a key holds a NUL."""
    packed = json.dumps(keys, ensure_ascii=False)
    return None if _NUL_ESCAPE in packed else packed


class SyncLock:
    """An exclusive, process-wide lock per sync (released by the OS if the process dies)."""

    def __init__(self, state_dir: Path | str, sync: str, *, what: str | None = None) -> None:
        self.path = Path(state_dir) / "locks" / f"{sync}.lock"
        self.sync = sync
        #: what runs under it, for the refusal (e.g. a drift watch: not a sync run)
        self.what = what or f"sync `{sync}`"
        self._lock = PidFileLock(self.path)

    def acquire(self) -> None:
        """Take the lock or raise :class:`SyncLockedError` at once."""
        holder = self._lock.try_acquire()
        if holder is not None:
            raise SyncLockedError(
                f"{self.what} is already running (pid {holder or 'another process'});"
                " concurrent runs are refused",
                hint="Wait for that run to finish, or stop it, then run again.",
            )

    def release(self) -> None:
        """Give the lock back."""
        self._lock.release()

    def __enter__(self) -> Self:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

"""Run history in SQLite under ``state_dir`` (``runs.sqlite``): runs, row errors, requests.

Everything stored here went through :class:`mogulsync._redact.Redactor` first (request
bodies arrive redacted from the client; messages are redacted again on the way in), so the
history can be shared when debugging without leaking the API key.
"""

from __future__ import annotations

import datetime as dt
import logging
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from mogulsync import _sqlite_space
from mogulsync._redact import Redactor
from mogulsync._sqlite_file import readable_database
from mogulsync.chartmogul.request_log import RequestLogEntry
from mogulsync.errors import ConfigError
from mogulsync.runs import alert_retries
from mogulsync.runs import deliveries as alert_deliveries
from mogulsync.runs.models import RowCounts, RowError, RunRecord, RunStatus

if TYPE_CHECKING:
    from mogulsync.alerts.events_retry import Undelivered

logger = logging.getLogger(__name__)
RUNS_FILE = "runs.sqlite"
SCHEMA_VERSION = 1
_BUSY_TIMEOUT_MS = 30_000
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY, sync TEXT NOT NULL, status TEXT NOT NULL,
    started_at TEXT NOT NULL, finished_at TEXT, duration_s REAL NOT NULL DEFAULT 0,
    added INTEGER NOT NULL DEFAULT 0, changed INTEGER NOT NULL DEFAULT 0,
    removed INTEGER NOT NULL DEFAULT 0, unchanged INTEGER NOT NULL DEFAULT 0,
    succeeded INTEGER NOT NULL DEFAULT 0, failed INTEGER NOT NULL DEFAULT 0,
    invalid INTEGER NOT NULL DEFAULT 0, api_calls INTEGER NOT NULL DEFAULT 0,
    full INTEGER NOT NULL DEFAULT 0, message TEXT
);
CREATE INDEX IF NOT EXISTS runs_by_sync ON runs (sync, started_at);
CREATE INDEX IF NOT EXISTS runs_by_start ON runs (started_at, run_id);
CREATE TABLE IF NOT EXISTS row_errors (
    run_id TEXT NOT NULL, pk TEXT NOT NULL, field TEXT NOT NULL, message TEXT NOT NULL,
    action TEXT NOT NULL, kind TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS row_errors_by_run ON row_errors (run_id);
-- how many row errors of a run the retention deleted (keep_errors_days): its pages then
-- say so, rather than showing no errors under its failed count
CREATE TABLE IF NOT EXISTS pruned_row_errors (
    run_id TEXT PRIMARY KEY, count INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS requests (
    run_id TEXT NOT NULL, seq INTEGER NOT NULL, timestamp TEXT NOT NULL, method TEXT NOT NULL,
    path TEXT NOT NULL, endpoint TEXT NOT NULL, status INTEGER, duration_ms REAL NOT NULL,
    attempt INTEGER NOT NULL, request_body TEXT, response_body TEXT, error_type TEXT,
    PRIMARY KEY (run_id, seq)
);
"""
_VERSION_ROW = "SELECT 1 FROM meta WHERE key = 'schema_version'"
_COUNT_COLUMNS = ("added", "changed", "removed", "unchanged", "succeeded", "failed", "invalid")
#: runs whose rows are deleted per transaction (a concurrent run's writes wait no longer)
PRUNE_CHUNK = 50
#: Buffered request entries are written once the oldest has waited this long, even when
#: the run has no result to commit (a bulk import's status polls, a long listing): the run
#: page and `runs show --requests` then follow a running run, and a crash loses less.
REQUESTS_FLUSH_AFTER_S = 2.0
#: A running run's counts (rows, API calls, seconds) are written at most this often on
#: their own, and with every request flush in between (same transaction, no extra commit):
#: pages of other processes follow the run, and a killed run keeps what it had done.
PROGRESS_EVERY_S = 2.0
#: the clock of both waits (tests drive it)
_clock: Callable[[], float] = time.monotonic
_PROGRESS_UPDATE = (
    "UPDATE runs SET duration_s = ?, api_calls = ?, "  # noqa: S608 - column names are constants
    + ", ".join(f"{column} = ?" for column in _COUNT_COLUMNS)
    + " WHERE run_id = ? AND status = 'running'"
)
#: finished runs older than a cutoff that are not among their sync's latest ``?`` runs
_PRUNABLE = """
SELECT run_id FROM (
    SELECT run_id, status, started_at,
           ROW_NUMBER() OVER (PARTITION BY sync ORDER BY started_at DESC) AS newest
    FROM runs
) AS old WHERE newest > ? AND started_at < ? AND status != 'running'
"""
#: ... that still have a request log
_STILL_LOGGED = " AND EXISTS (SELECT 1 FROM requests WHERE requests.run_id = old.run_id)"
#: ... that still have row errors
_STILL_ERRORED = " AND EXISTS (SELECT 1 FROM row_errors WHERE row_errors.run_id = old.run_id)"
#: noted before a run's row errors are deleted (same transaction)
_NOTE_PRUNED_ERRORS = (
    "INSERT OR REPLACE INTO pruned_row_errors (run_id, count)"
    " SELECT run_id, COUNT(*) FROM row_errors WHERE run_id = ? GROUP BY run_id"
)


class RunNotFoundError(ConfigError):
    """No run with this id in the history."""


def new_run_id() -> str:
    """A sortable, unique run id: UTC time plus a random suffix."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
    return f"{stamp}-{uuid.uuid4().hex[:8]}"


class RunStore:
    """The run history of a project."""

    def __init__(self, state_dir: Path | str, redactor: Redactor | None = None) -> None:
        self.path = Path(state_dir) / RUNS_FILE
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._redactor = redactor or Redactor()
        with readable_database(self.path, "run history"):
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._db.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
            _sqlite_space.configure(self._db)  # before WAL: a new file gets incremental vacuum
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA synchronous = NORMAL")
            self._db.executescript(_SCHEMA + alert_deliveries.SCHEMA + alert_retries.SCHEMA)
            # written once, not on every open: an INSERT takes the write lock even when it
            # inserts nothing, and serve opens the history on its event loop for every page
            # while a retention's VACUUM may hold that lock for seconds
            if self._db.execute(_VERSION_ROW).fetchone() is None:
                self._db.execute(
                    "INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)",
                    (str(SCHEMA_VERSION),),
                )
        self._pending: list[tuple[object, ...]] = []
        self._pending_since = 0.0
        self._seq: dict[str, int] = {}
        #: the running run whose counts :meth:`progress` keeps, and what was last written
        self._live: RunRecord | None = None
        self._written: tuple[object, ...] | None = None
        self._progress_at = _clock()

    def close(self) -> None:
        """Write buffered requests and close."""
        self.flush()
        self._db.close()

    # ------------------------------------------------------------------ runs
    def start(self, sync: str, *, full: bool, holds_lock: bool = True) -> RunRecord:
        """Open a run; earlier runs of this sync still 'running' were interrupted.

        Only a caller holding the sync's lock may say so (``holds_lock``): a record that
        runs nothing (a skip) must not relabel a run another process has in progress.
        """
        if holds_lock:
            self.mark_interrupted(sync)
        self._live, self._written, self._progress_at = None, None, _clock()
        record = RunRecord(
            run_id=new_run_id(),
            sync=sync,
            status=RunStatus.RUNNING,
            started_at=dt.datetime.now(dt.UTC).isoformat(),
            full=full,
        )
        self._db.execute(
            "INSERT INTO runs (run_id, sync, status, started_at, full) VALUES (?, ?, ?, ?, ?)",
            (record.run_id, sync, record.status.value, record.started_at, int(full)),
        )
        return record

    def mark_interrupted(self, sync: str) -> int:
        """Runs of ``sync`` still 'running' were interrupted; how many. Only a caller
        holding the sync's lock may say so: another process may be running it."""
        cursor = self._db.execute(
            "UPDATE runs SET status = ?, message = 'the process stopped before the run ended'"
            " WHERE sync = ? AND status = ?",
            (RunStatus.INTERRUPTED.value, sync, RunStatus.RUNNING.value),
        )
        return cursor.rowcount

    def running_syncs(self) -> list[str]:
        """The names with a run recorded 'running' (in progress, or its process died)."""
        rows = self._db.execute(
            "SELECT DISTINCT sync FROM runs WHERE status = ? ORDER BY sync",
            (RunStatus.RUNNING.value,),
        )
        return [str(row[0]) for row in rows]

    def progress(self, record: RunRecord) -> None:
        """A running run's counts so far (``rows``, ``api_calls``, ``duration_s``).

        Cheap to call for every row: written with the next request flush, or on their own
        once PROGRESS_EVERY_S passed since the last write. Only the ``runs`` row changes,
        no indexed column: the runs list's indexes are left alone.
        """
        self._live = record
        if _clock() - self._progress_at < PROGRESS_EVERY_S:
            return
        try:
            self._db.execute("BEGIN")
            try:
                written = self._write_progress()
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:  # best effort: the end of the run writes everything
            logger.warning("run history: progress not written yet: %s", exc)
            written = None
        self._committed(written)

    def _write_progress(self) -> tuple[object, ...] | None:
        """Inside a transaction: the live run's counts when they changed since the last
        write; what was written (the caller keeps it once committed)."""
        record = self._live
        if record is None:
            return None
        counts = record.rows
        values = (
            round(record.duration_s, 3),
            record.api_calls,
            *(getattr(counts, column) for column in _COUNT_COLUMNS),
            record.run_id,
        )
        if values == self._written:
            return None
        self._db.execute(_PROGRESS_UPDATE, values)
        return values

    def _committed(self, written: tuple[object, ...] | None) -> None:
        if written is not None:
            self._written = written
        self._progress_at = _clock()

    def finish(self, record: RunRecord) -> None:
        """Store the final status, counts and timings."""
        if self._live is not None and self._live.run_id == record.run_id:
            self._live = None  # written whole below
        self.flush()
        counts = record.rows
        self._db.execute(
            "UPDATE runs SET status = ?, finished_at = ?, duration_s = ?, api_calls = ?,"  # noqa: S608 - column names are constants
            " message = ?, "
            + ", ".join(f"{column} = ?" for column in _COUNT_COLUMNS)
            + " WHERE run_id = ?",
            (
                record.status.value,
                record.finished_at,
                record.duration_s,
                record.api_calls,
                self._redactor.text(record.message) if record.message else None,
                *(getattr(counts, column) for column in _COUNT_COLUMNS),
                record.run_id,
            ),
        )

    def latest(
        self,
        *,
        sync: str | None = None,
        limit: int = 20,
        status: str | None = None,
        offset: int = 0,
    ) -> list[RunRecord]:
        """The latest runs, newest first (of one sync, with one status, when given), from
        the ``offset``-th on (pages of a long history)."""
        # Only the filters given: ``(? IS NULL OR sync = ?)`` would keep SQLite from the
        # indexes, and every page and alert check would read and sort the whole history.
        filters = {"sync": sync or None, "status": status}
        given = {column: value for column, value in filters.items() if value is not None}
        where = " AND ".join(f"{column} = ?" for column in given) or "1"
        # run_id breaks ties: two runs started in the same microsecond keep one order,
        # so a page boundary never shows a run twice or skips one
        cursor = self._db.execute(
            f"SELECT * FROM runs WHERE {where} "  # noqa: S608 - column names are fixed above
            "ORDER BY started_at DESC, run_id DESC LIMIT ? OFFSET ?",
            (*given.values(), limit, offset),
        )
        names = [item[0] for item in cursor.description]
        return [self._record(row, names) for row in cursor]

    def get(self, run_id: str) -> RunRecord:
        """One run; RunNotFoundError when unknown."""
        cursor = self._db.execute("SELECT * FROM runs WHERE run_id = ?", (run_id,))
        row = cursor.fetchone()
        if row is None:
            raise RunNotFoundError(
                f"no run with id {run_id}", hint="List runs with `mogulsync runs list`."
            )
        return self._record(row, [item[0] for item in cursor.description])

    def _record(self, row: Sequence[object], names: Sequence[str]) -> RunRecord:
        """A ``runs`` row as a record; ``names``: its columns, from the query's cursor."""
        data = dict(zip(names, row, strict=True))
        counts = RowCounts(**{column: int(str(data[column])) for column in _COUNT_COLUMNS})
        return RunRecord(
            run_id=str(data["run_id"]),
            sync=str(data["sync"]),
            status=RunStatus(data["status"]),
            started_at=str(data["started_at"]),
            finished_at=str(data["finished_at"]) if data["finished_at"] else None,
            duration_s=float(str(data["duration_s"])),
            rows=counts,
            api_calls=int(str(data["api_calls"])),
            full=bool(data["full"]),
            message=str(data["message"]) if data["message"] else None,
        )

    # ------------------------------------------------------------------ retention
    def prune(
        self,
        *,
        runs_before: dt.datetime | None,
        requests_before: dt.datetime | None,
        keep_last: int,
        errors_before: dt.datetime | None = None,
    ) -> tuple[int, int]:
        """Delete old history; (runs deleted, runs whose request log was deleted).

        Runs started before ``runs_before`` go with their row errors and requests; runs
        started before ``requests_before`` lose their request log only, and those started
        before ``errors_before`` their row errors only. Each sync's latest ``keep_last``
        runs and running runs are never touched. None: no cutoff.
        """
        gone = self._prunable(runs_before, keep_last)
        self._delete(
            gone, ("requests", "row_errors", "pruned_row_errors", "alert_deliveries", "runs")
        )
        logless = self._prunable(requests_before, keep_last, still=_STILL_LOGGED)
        self._delete(logless, ("requests",))
        errorless = self._prunable(errors_before, keep_last, still=_STILL_ERRORED)
        self._delete(errorless, ("row_errors",), note=_NOTE_PRUNED_ERRORS)
        return len(gone), len(logless)

    def reclaim_space(self) -> _sqlite_space.Reclaimed:
        """Give the pages freed by :meth:`prune` back to the disk (in short steps; a file
        from before incremental vacuum is converted once, by a VACUUM)."""
        self.flush()  # VACUUM needs no transaction open on this connection
        return _sqlite_space.reclaim(self._db)

    def _delete(
        self, run_ids: Sequence[str], tables: Sequence[str], *, note: str | None = None
    ) -> None:
        """Delete the runs' rows from ``tables``, PRUNE_CHUNK runs per transaction (after
        ``note``, a statement per run id, in the same transaction)."""
        for start in range(0, len(run_ids), PRUNE_CHUNK):
            chunk = [(run_id,) for run_id in run_ids[start : start + PRUNE_CHUNK]]
            self._db.execute("BEGIN")
            if note is not None:
                self._db.executemany(note, chunk)
            for table in tables:
                self._db.executemany(f"DELETE FROM {table} WHERE run_id = ?", chunk)  # noqa: S608 - constant names
            self._db.execute("COMMIT")

    def _prunable(
        self, before: dt.datetime | None, keep_last: int, *, still: str = ""
    ) -> list[str]:
        if before is None:
            return []
        # started_at is always UTC isoformat: text order is time order
        cutoff = before.astimezone(dt.UTC).isoformat()
        query = _PRUNABLE + still
        return [row[0] for row in self._db.execute(query, (keep_last, cutoff))]

    # ------------------------------------------------------------------ alert deliveries
    def add_deliveries(self, deliveries: Sequence[alert_deliveries.AlertDelivery]) -> None:
        """Record alert deliveries (targets and errors already redacted; redacted again)."""
        text = self._redactor.text
        alert_deliveries.add(
            self._db,
            [
                replace(d, target=text(d.target), error=text(d.error) if d.error else None)
                for d in deliveries
            ],
        )

    def keep_deliveries(self, sync: str, run_ids: Sequence[str]) -> int:
        """Delete ``sync``'s deliveries about runs other than ``run_ids``; how many."""
        return alert_deliveries.keep_runs(self._db, sync, run_ids)

    def deliveries(
        self,
        syncs: Sequence[str],
        *,
        limit: int = alert_deliveries.KEEP_DELIVERIES,
        successes: int | None = None,
    ) -> list[alert_deliveries.AlertDelivery]:
        """The latest alert deliveries about ``syncs`` (names in the history), newest first
        (``successes``: at most this many success notices, on top of ``limit`` others)."""
        return alert_deliveries.latest(self._db, syncs, limit, successes)

    def deliveries_of_run(self, run_id: str) -> list[alert_deliveries.AlertDelivery]:
        """Every alert delivery about run ``run_id``, oldest first."""
        return alert_deliveries.of_run(self._db, run_id)

    # ------------------------------------------------------------------ alerts to retry
    def take_alert_retries(
        self,
        now: float,
        *,
        job: str | None = None,
        channels: Sequence[str] = (),
        due_only: bool = True,
    ) -> list[Undelivered]:
        """Claim the waiting alerts to send now (see :func:`alert_retries.take`)."""
        return alert_retries.take(self._db, now, job=job, channels=channels, due_only=due_only)

    def put_back_alert_retries(self, items: Sequence[Undelivered]) -> None:
        """Keep alerts a channel did not take, to retry later."""
        alert_retries.put_back(self._db, items)

    def note_alerts_delivered(self, items: Sequence[Undelivered]) -> None:
        """Note the newest alert each channel took per job (older ones waiting are stale)."""
        alert_retries.delivered(self._db, items)

    def alert_retries(self, job: str | None = None) -> list[Undelivered]:
        """The alerts waiting to be retried (of ``job``), oldest first."""
        return alert_retries.waiting(self._db, job)

    # ------------------------------------------------------------------ row errors
    def add_errors(self, run_id: str, errors: Sequence[RowError]) -> None:
        """Record failed rows (messages redacted)."""
        text = self._redactor.text
        self._db.executemany(
            "INSERT INTO row_errors VALUES (?, ?, ?, ?, ?, ?)",
            [
                (run_id, text(e.key), e.field, text(e.message), text(e.action), e.kind)
                for e in errors
            ],
        )

    def errors_deleted(self, run_id: str) -> int:
        """How many row errors of this run the retention deleted (0: none were)."""
        row = self._db.execute(
            "SELECT count FROM pruned_row_errors WHERE run_id = ?", (run_id,)
        ).fetchone()
        return int(row[0]) if row else 0

    def errors(self, run_id: str, *, limit: int | None = None) -> list[RowError]:
        """A run's row errors in the order they happened."""
        rows = self._db.execute(
            "SELECT pk, field, message, action, kind FROM row_errors WHERE run_id = ?"
            " ORDER BY rowid LIMIT ?",
            (run_id, -1 if limit is None else limit),
        )
        return [RowError(*row) for row in rows]

    # ------------------------------------------------------------------ requests
    def add_request(self, run_id: str, entry: RequestLogEntry) -> None:
        """Buffer one HTTP attempt (already redacted by the client; redacted again here)."""
        seq = self._seq.get(run_id, 0) + 1
        self._seq[run_id] = seq
        text = self._redactor.text
        if not self._pending:
            self._pending_since = _clock()
        self._pending.append(
            (
                run_id,
                seq,
                entry.timestamp.isoformat(),
                entry.method,
                text(entry.path),
                entry.endpoint,
                entry.status,
                round(entry.duration_ms, 2),
                entry.attempt,
                text(entry.request_body) if entry.request_body else None,
                text(entry.response_body) if entry.response_body else None,
                entry.error_type,
            )
        )
        if _clock() - self._pending_since >= REQUESTS_FLUSH_AFTER_S:
            try:
                self.flush()
            except sqlite3.Error as exc:
                # best effort from a request hook: the entries stay buffered for the next
                # flush (the run's results and its end still write, and report a lasting
                # problem); the next try waits another interval
                logger.warning("run history: request log not written yet: %s", exc)
                self._pending_since = _clock()

    def flush(self) -> None:
        """Write buffered request entries; on failure they stay buffered (and it raises)."""
        if not self._pending:
            return
        pending = self._pending
        self._db.execute("BEGIN")
        try:
            self._db.executemany(
                "INSERT INTO requests VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", pending
            )
            written = self._write_progress()  # rides on this commit
            self._db.execute("COMMIT")
        except BaseException:
            # a transaction left open would swallow every later write of this connection
            # (the run's end included) and be rolled back at close
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise
        self._pending = []
        self._committed(written)

    def request_count(self, run_id: str) -> int:
        """HTTP attempts made by a run so far (buffered ones included)."""
        stored = self._db.execute(
            "SELECT COUNT(*) FROM requests WHERE run_id = ?", (run_id,)
        ).fetchone()[0]
        return int(stored) + sum(1 for item in self._pending if item[0] == run_id)

    def requests(
        self, run_id: str, *, offset: int = 0, limit: int | None = None
    ) -> Iterator[RequestLogEntry]:
        """A run's HTTP attempts in order (from the ``offset``-th, at most ``limit``)."""
        rows = self._db.execute(
            "SELECT timestamp, method, path, endpoint, status, duration_ms, attempt,"
            " request_body, response_body, error_type FROM requests WHERE run_id = ?"
            " ORDER BY seq LIMIT ? OFFSET ?",
            (run_id, -1 if limit is None else limit, offset),
        )
        for ts, method, path, endpoint, status, duration, attempt, req, resp, err in rows:
            yield RequestLogEntry(
                method=method,
                path=path,
                endpoint=endpoint,
                status=status,
                duration_ms=duration,
                attempt=attempt,
                request_body=req,
                response_body=resp,
                error_type=err,
                timestamp=dt.datetime.fromisoformat(ts),
            )

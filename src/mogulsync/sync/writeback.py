"""Sync logs: every row a run acted on, written back into the sync's source warehouse.

One row per outcome lands in ``<sync_logs.schema>.<sync_logs.table>`` (created with
SQLAlchemy Core when missing, so any dialect works) in the warehouse the sync's model reads
from. Batches arrive as the engine flushes its results and are inserted and committed one
by one on a writer thread, so a crash loses at most the batches not yet committed and a
slow or unreachable warehouse holds the sync up only at its end, for at most
``CLOSE_TIMEOUT_S``. A failure stops the run's
writeback (later batches are counted, not attempted) and surfaces as a warning on the run
record: sync logs are a report, never a reason for a sync to fail.
"""

from __future__ import annotations

import datetime as dt
import queue
import threading
import time
from collections.abc import Sequence

import sqlalchemy as sa

from mogulsync import _threads
from mogulsync._docs import SYNC_LOGS
from mogulsync._redact import Redactor, display_url, redact_url
from mogulsync.config import AppConfig
from mogulsync.errors import RetriableError
from mogulsync.runs.models import RunRecord
from mogulsync.sync.outcomes import RowOutcome

#: batches waiting for the writer before new ones are dropped (and counted as not written)
MAX_PENDING_BATCHES = 500
#: how long the end of a run waits for the writer to commit what is queued
CLOSE_TIMEOUT_S = 60.0
_UUID_LENGTH = 64
_SHORT = 16
_NAME_LENGTH = 255

LogRow = dict[str, object]


class SyncLogError(RetriableError):
    """Some sync log rows of a run could not be written (the sync itself is unaffected)."""


def sync_log_table(metadata: sa.MetaData, schema: str | None, name: str) -> sa.Table:
    """The sync log table: one row per row outcome per run."""
    return sa.Table(
        name,
        metadata,
        sa.Column("run_id", sa.String(_UUID_LENGTH), nullable=False),
        sa.Column("sync_name", sa.String(_NAME_LENGTH), nullable=False),
        sa.Column("primary_key", sa.Text(), nullable=False),
        sa.Column("operation", sa.String(_SHORT)),
        sa.Column("status", sa.String(_SHORT), nullable=False),
        sa.Column("error_message", sa.Text()),
        sa.Column("chartmogul_uuid", sa.String(_UUID_LENGTH)),
        sa.Column("logged_at", sa.DateTime(timezone=True), nullable=False),
        schema=schema,
    )


class WarehouseSyncLog:
    """A :class:`~mogulsync.sync.outcomes.RowSink` writing sync logs to each sync's warehouse."""

    def __init__(self, config: AppConfig, redactor: Redactor) -> None:
        self._config = config
        self._redactor = redactor
        self._writers: dict[str, _RunWriter] = {}

    def write(self, record: RunRecord, outcomes: Sequence[RowOutcome]) -> None:
        """Queue a batch of ``record``'s outcomes (never blocks, never raises)."""
        writer = self._writers.get(record.run_id)
        if writer is None:
            writer = self._open(record)
            if writer is None:
                return
            self._writers[record.run_id] = writer
        now = dt.datetime.now(dt.UTC)
        text = self._redactor.text
        writer.submit(
            [
                {
                    "run_id": record.run_id,
                    "sync_name": record.sync,
                    "primary_key": outcome.key,
                    "operation": outcome.operation,
                    "status": outcome.status.value,
                    "error_message": text(outcome.error) if outcome.error else None,
                    "chartmogul_uuid": outcome.uuid,
                    "logged_at": now,
                }
                for outcome in outcomes
            ]
        )

    def close(self, record: RunRecord) -> None:
        """Wait for the run's queued batches; SyncLogError says what was not written."""
        writer = self._writers.pop(record.run_id, None)
        if writer is not None:
            writer.close()

    def _open(self, record: RunRecord) -> _RunWriter | None:
        settings = self._config.sync_logs
        sync = self._config.syncs.get(record.sync)
        if not settings.enabled or sync is None or not sync.sync_logs:
            return None
        warehouse = self._config.models[sync.model].warehouse
        url = self._config.warehouses[warehouse].url.get_secret_value()
        table = sync_log_table(sa.MetaData(), settings.schema_, settings.table)
        return _RunWriter(warehouse, url, table, self._redactor)


class _RunWriter:
    """One run's writer thread and its queue of batches."""

    def __init__(self, warehouse: str, url: str, table: sa.Table, redactor: Redactor) -> None:
        self._warehouse = warehouse
        self._url = url
        self._table = table
        self._redactor = redactor
        self._queue: queue.Queue[list[LogRow] | None] = queue.Queue(MAX_PENDING_BATCHES)
        self._lock = threading.Lock()
        self._lost = 0
        self._failure: str | None = None
        self._thread = _threads.Thread(target=self._work, name="sync-log-writer", daemon=True)
        self._thread.start()

    def submit(self, rows: list[LogRow]) -> None:
        if self._failure is not None:
            self._count_lost(len(rows))
            return
        try:
            self._queue.put_nowait(rows)
        except queue.Full:
            self._count_lost(len(rows))

    def close(self) -> None:
        # one deadline for queueing the end marker and for the join: the run's end waits
        # at most CLOSE_TIMEOUT_S for its sync logs, however slow the warehouse is
        deadline = time.monotonic() + CLOSE_TIMEOUT_S
        try:
            self._queue.put(None, timeout=CLOSE_TIMEOUT_S)
        except queue.Full:
            self._failure = self._failure or "the warehouse is too slow"
        self._thread.join(max(0.0, deadline - time.monotonic()))
        if self._thread.is_alive():
            self._failure = f"still writing after {CLOSE_TIMEOUT_S:.0f}s"
        with self._lock:
            lost = self._lost + sum(len(rows) for rows in _drain(self._queue))
        if self._failure is None and lost == 0:
            return
        table = (
            f"{self._table.schema}.{self._table.name}" if self._table.schema else self._table.name
        )
        reason = f": {self._failure}" if self._failure else ""
        raise SyncLogError(
            f"sync logs: {lost} row(s) not written to {table} in warehouse"
            f" `{self._warehouse}`{reason}",
            # the common causes: no write access, or a table of that name made for
            # something else (the log table is created only when missing)
            hint="The sync itself is not affected; check the warehouse is writable and that"
            f" {table} has the sync log's columns ({SYNC_LOGS}), or set"
            " sync_logs.table to another name.",
        )

    def _work(self) -> None:
        engine: sa.Engine | None = None
        ready = False
        try:
            while (rows := self._queue.get()) is not None:
                if self._failure is not None:
                    self._count_lost(len(rows))
                    continue
                try:
                    engine = engine or sa.create_engine(self._url)
                    if not ready:
                        self._create_table(engine)
                        ready = True
                    with engine.begin() as connection:  # one transaction per batch
                        connection.execute(self._table.insert(), rows)
                except Exception as exc:
                    self._failure = self._clean(exc)
                    self._count_lost(len(rows))
        finally:
            if engine is not None:
                engine.dispose()

    def _create_table(self, engine: sa.Engine) -> None:
        """Create schema and table when missing, in their own transaction.

        Runs of other syncs into the same warehouse may race to create them: losing
        that race is fine as long as the table exists afterwards.
        """
        schema = self._table.schema
        try:
            with engine.begin() as connection:
                if schema is not None:
                    connection.execute(sa.schema.CreateSchema(schema, if_not_exists=True))
                self._table.create(connection, checkfirst=True)
        except sa.exc.DBAPIError:
            if not sa.inspect(engine).has_table(self._table.name, schema=schema):
                raise

    def _count_lost(self, count: int) -> None:
        with self._lock:
            self._lost += count

    def _clean(self, exc: Exception) -> str:
        """The first line of the driver's error, without URL passwords or known secrets."""
        lines = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        first = lines[0] if lines else type(exc).__name__
        return self._redactor.text(redact_url(first.replace(self._url, display_url(self._url))))


def _drain(pending: queue.Queue[list[LogRow] | None]) -> list[list[LogRow]]:
    """Batches still queued after the writer gave up."""
    left: list[list[LogRow]] = []
    while True:
        try:
            item = pending.get_nowait()
        except queue.Empty:
            return left
        if item is not None:
            left.append(item)

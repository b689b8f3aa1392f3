"""The sync engine: stream model rows → validate → diff → apply concurrently → record.

Rows are read in batches on a worker thread, classified (:mod:`mogulsync.sync.batch`),
marked in flight in the state (one commit per batch) and then sent by up to
``max_concurrent_rows`` tasks at once, so the client's limiter is always full while memory
stays bounded. Results are committed to the state as they arrive (every ``flush_every``
results), so a run killed at any instant resumes where it stopped: see docs/sync.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import time
from collections.abc import Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mogulsync import logs
from mogulsync._gcpause import paused_gc
from mogulsync._redact import Redactor
from mogulsync.alerts.dispatch import AlertDispatcher
from mogulsync.chartmogul import (
    ChartMogulClient,
    ClientSettings,
    OutageBreaker,
    RequestHook,
    RequestLogEntry,
)
from mogulsync.chartmogul.outage import DEFAULT_OUTAGE_WINDOW_S
from mogulsync.config import AppConfig
from mogulsync.errors import ConfigError, FatalError, MogulsyncError
from mogulsync.output import key_label
from mogulsync.runs import RowError, RunRecord, RunStatus, RunStore
from mogulsync.runs.retention import prune_history_at
from mogulsync.sync.after_run import finish_run
from mogulsync.sync.apply import Applier, ApplyContext, KeyedLocks, Resolver, applier_for
from mogulsync.sync.apply._base import ROW_LOOKUPS, Lookups
from mogulsync.sync.batch import Classified, Prepared, attach_children, classify_batch, prepare
from mogulsync.sync.bulk import (
    BulkRunner,
    BulkSettings,
    Spool,
    bulk_group,
    discard_spools,
    row_ref,
    uses_bulk,
)
from mogulsync.sync.bulk import adopted as adopted_scope
from mogulsync.sync.bulk.adopted import AdoptedScope
from mogulsync.sync.bulk.deleted import restated
from mogulsync.sync.bulk.learn import Learnt
from mogulsync.sync.bulk.results import Problem
from mogulsync.sync.connect import client_settings, model_of, open_source, resolve_data_source
from mogulsync.sync.delete_guard import (
    DeleteGuard,
    TooManyDeletesError,
    guard_for,
    no_record,
    snapshot_rows,
)
from mogulsync.sync.diff import (
    Change,
    Prior,
    RowStatus,
    claimed,
    needs_sending,
    unsure_removal,
)
from mogulsync.sync.errors_text import may_have_landed, row_errors
from mogulsync.sync.outcomes import OutcomeStatus, RowOutcome, RowSink
from mogulsync.sync.state import RowResult
from mogulsync.sync.state_open import open_lock, open_state
from mogulsync.sync.state_protocol import SyncState
from mogulsync.sync.warehouse_diff import WarehouseState, open_diff
from mogulsync.sync.writeback import WarehouseSyncLog
from mogulsync.warehouse import Row, SqlAlchemySource

#: rows being applied at once; well above the client's 20 in flight, so it never idles
MAX_CONCURRENT_ROWS = 64
#: results committed to the state per transaction
FLUSH_EVERY = 100

ProgressHook = Callable[["Progress"], None]
#: told the run record as soon as the run holds its lock and is in the history
StartHook = Callable[[RunRecord], None]


@dataclass(slots=True)
class Progress:
    """Where a run is: rows read from the model and rows done."""

    read: int = 0
    to_send: int = 0
    done: int = 0
    #: rows that failed so far, and HTTP requests sent (for progress lines outside a TTY)
    failed: int = 0
    requests: int = 0
    #: the run these figures belong to (JSON log lines carry it)
    run_id: str = ""


class SyncEngine:
    """Runs the syncs of one project."""

    def __init__(
        self,
        config: AppConfig,
        *,
        settings: ClientSettings | None = None,
        state_dir: Path | str | None = None,
        max_concurrent_rows: int = MAX_CONCURRENT_ROWS,
        sinks: Sequence[RowSink] = (),
        bulk: BulkSettings | None = None,
        outage_window_s: float = DEFAULT_OUTAGE_WINDOW_S,
    ) -> None:
        self.config = config
        self.settings = settings or client_settings(config)
        self.state_dir = Path(state_dir or config.state_dir)
        self.redactor = Redactor([self.settings.api_key.get_secret_value()])
        for warehouse in config.warehouses.values():
            self.redactor.add_url(warehouse.url.get_secret_value())
        self.max_concurrent_rows = max_concurrent_rows
        #: a run stops as failed once ChartMogul gave no usable answer this long
        self.outage_window_s = outage_window_s
        #: receivers of every row's outcome (sync logs writeback)
        self.sinks = list(sinks)
        #: tuning of the bulk import path (docs/sync.md, "Bulk import path")
        self.bulk = bulk or BulkSettings()
        if config.sync_logs.enabled:
            self.sinks.append(WarehouseSyncLog(config, self.redactor))
        #: alerts after each run (registers channel secrets with the redactor)
        self.alerts = AlertDispatcher(config.alerts, self.redactor)
        #: the time the run history's retention counts from (tests drive it)
        self.now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)

    async def run(
        self,
        name: str,
        *,
        full: bool = False,
        bulk: bool = True,
        allow_deletes: bool = False,
        progress: ProgressHook | None = None,
        stop: asyncio.Event | None = None,
        on_start: StartHook | None = None,
        request_hooks: Sequence[RequestHook] = (),
    ) -> RunRecord:
        """Run one sync; the run record (``record.status`` says how it ended).

        ``bulk=False`` (``--no-bulk``) sends every row over REST, one request per row.
        ``allow_deletes=True`` (``--allow-deletes``) lifts the sync's ``max_deletes`` limit
        for this run only.
        ``stop`` set ends the run at the next safe point (between batches, requests in
        flight answered) as ``cancelled``. ``request_hooks`` see every API request as it ends.

        Raises ConfigError for an unknown sync and SyncLockedError when another run of the
        sync holds its lock; everything else ends in a recorded ``failed`` run whose
        ``message`` says why (``error`` holds the exception).
        """
        model_of(self.config, name)
        lock = open_lock(self.config, self.state_dir, name)
        lock.acquire()
        try:
            state = open_state(self.config, self.state_dir, name)
        except BaseException:
            lock.release()
            raise
        try:
            runs = RunStore(self.state_dir, self.redactor)
        except BaseException:  # e.g. runs.sqlite is not a database
            state.close()
            lock.release()
            raise
        record = runs.start(name, full=full)
        # every line logged for this run, on any of its tasks, carries its id (serve runs
        # many at once: a context variable, not a global)
        with logs.bound_run(record.run_id):
            started = time.monotonic()
            run = _Run(self, name, record, runs, state, progress or (lambda _p: None))
            run.stop_event = stop or asyncio.Event()
            run.request_hooks = list(request_hooks)
            run.allow_deletes = allow_deletes
            # alerts about this sync a channel did not take, now due: sent beside the run
            # (a cron-only user gets them at the next run), done before this run's own
            retrying = asyncio.create_task(self.alerts.retry_due(runs, self.alerts.now(), name))
            try:
                if on_start is not None:
                    on_start(record)
                await run.execute(full=full, bulk=bulk)
            except MogulsyncError as exc:
                run.fatal = run.fatal or exc
            except Exception as exc:  # an edge: record, never lose the run
                run.fatal = run.fatal or FatalError(f"{type(exc).__name__}: {exc}")
            finally:
                record.duration_s = time.monotonic() - started
                record.finished_at = _now()
                record.api_calls = run.api_calls
                record.status = run.final_status()
                if run.fatal is not None:
                    record.message = self.redactor.text(run.fatal.user_message)
                try:
                    await retrying
                    await finish_run(record, runs, self.sinks, self.alerts, self.redactor)
                    # off the loop: a long history's first prune takes seconds, and a
                    # server's other runs, API and scheduler share this loop; on its own
                    # connection, which a cancelled run cannot close under it
                    await asyncio.to_thread(
                        prune_history_at,
                        self.state_dir,
                        self.redactor,
                        self.config.run_history,
                        self.now(),
                    )
                finally:
                    runs.close()
                    state.close()
                    lock.release()
            record.error = run.fatal
            return record

    def client(self, hooks: Sequence[Callable[[RequestLogEntry], None]] = ()) -> ChartMogulClient:
        """A client for one run (tests may override to use another transport).

        Its breaker is the run's: an outage seen by any row stops every row.
        """
        breaker = OutageBreaker(self.settings.base_url, window_s=self.outage_window_s)
        return ChartMogulClient(self.settings, request_hooks=hooks, breaker=breaker)

    def skip(self, name: str, reason: str) -> RunRecord:
        """Record that sync ``name`` was not run (status ``skipped``), and why."""
        model_of(self.config, name)
        runs = RunStore(self.state_dir, self.redactor)
        try:
            record = runs.start(name, full=False, holds_lock=False)
            record.status = RunStatus.SKIPPED
            record.finished_at = _now()
            record.message = self.redactor.text(reason)
            runs.finish(record)
        finally:
            runs.close()
        return record


class _Run:
    """One run's moving parts."""

    def __init__(
        self,
        engine: SyncEngine,
        name: str,
        record: RunRecord,
        runs: RunStore,
        state: SyncState,
        progress: ProgressHook,
    ) -> None:
        self.engine = engine
        self.name = name
        self.record = record
        self.runs = runs
        self.state = state
        self.progress_hook = progress
        self.progress = Progress(run_id=record.run_id)
        self.started = time.monotonic()
        self.fatal: MogulsyncError | None = None
        #: the whole model was read and sent (a stop after this point changes nothing)
        self.completed = False
        self.results: list[RowResult] = []
        self.errors: list[RowError] = []
        #: model rows classified so far: the next batch starts at row ``rows_seen + 1``
        self.rows_seen = 0
        self.outcomes: list[RowOutcome] = []
        self.tasks: set[asyncio.Task[None]] = set()
        self.slots = asyncio.Semaphore(engine.max_concurrent_rows)
        #: new rows parked for the bulk import (None: this run sends everything over REST)
        self.spool: Spool | None = None
        self.applier: Applier | None = None
        #: tells a bulk row's missing parent we delivered (deleted in ChartMogul) apart
        self.resolver: Resolver | None = None
        #: the note a ``reconcile --adopt`` left for this run (bulk path)
        self.adopted: AdoptedScope | None = None
        #: attempts that reached ChartMogul (refused connections are logged, not counted)
        self.api_calls = 0
        #: set: stop at the next safe point (the run ends ``cancelled``)
        self.stop_event = asyncio.Event()
        self.request_hooks: list[RequestHook] = []
        #: ``--allow-deletes``: this run may delete more than ``max_deletes``
        self.allow_deletes = False
        #: the mass-delete safeguard (None: deletes are not limited in this run)
        self.guard: DeleteGuard | None = None
        #: keys this run added to the snapshot (classified with no prior): the snapshot
        #: minus these is what the sync managed before the run
        self.inserted = 0
        #: rows read whose snapshot row is no record (ChartMogul refused every attempt):
        #: not managed records either
        self.no_records = 0
        #: rows in flight, never accepted, that this run looked up and found not in
        #: ChartMogul: no records before the run either
        self.settled_absent = 0

    @property
    def halted(self) -> bool:
        """A fatal error or a stop request: send nothing more."""
        return self.fatal is not None or self.stop_event.is_set()

    def final_status(self) -> RunStatus:
        """``failed`` when the run could not complete, else by its rows (docs/errors.md)."""
        if self.fatal is not None:
            return RunStatus.FAILED
        if self.stop_event.is_set() and not self.completed:
            return RunStatus.CANCELLED
        # Completed: even when no row landed (e.g. the same invalid rows as last time) the
        # run did all it could; the rows, not the run, need fixing.
        return RunStatus.SUCCESS if self.record.rows.failed == 0 else RunStatus.PARTIAL

    async def execute(self, *, full: bool, bulk: bool = True) -> None:
        config = self.engine.config
        model = model_of(config, self.name)
        source = open_source(config, model)
        hook = self._log_request
        # an adopt's note serves the run right after it, and no other (taken under the lock)
        self.adopted = adopted_scope.take(self.engine.state_dir, self.name)
        try:
            async with self.engine.client([hook]) as client:
                schema = await asyncio.to_thread(source.compile, model)
                prepared = await asyncio.to_thread(prepare, config, self.name, source, schema)
                if self.state.definition_changed(self.name, prepared.definition):
                    full = True  # mapping changed: the old digests say nothing any more
                sync = prepared.sync
                data_source = await resolve_data_source(client, sync.data_source, create=True)
                assert data_source is not None
                owners: dict[str, str] = {
                    other.object: name
                    for name, other in config.syncs.items()
                    if other.data_source == sync.data_source
                }
                context = ApplyContext(
                    client, sync, data_source, self.state, KeyedLocks(), owners=owners
                )
                applier = applier_for(context)
                self.applier = applier
                self.resolver = Resolver(context)
                # under the sync's lock: a killed run's spool is ours to delete
                discard_spools(self.engine.state_dir, self.name)
                if bulk and uses_bulk(sync):
                    self.spool = Spool(self.engine.state_dir, self.name)
                self.guard = guard_for(self.name, sync, allow=self.allow_deletes)
                self.state.start_seen()
                complete = await self._stream(prepared, source, applier, full=full)
                if complete and not self.halted and self.spool is not None:
                    await self._bulk(client, sync.object, data_source)
                if complete and not self.halted:
                    await self._removed(prepared, applier)
                await self._drain()
                # refused deletes aside, every row was sent: the definition is current
                refused = (
                    isinstance(self.fatal, TooManyDeletesError) and not self.stop_event.is_set()
                )
                if complete and (refused or not self.halted):
                    self.state.save_definition(self.name, prepared.definition)
                if complete and not self.halted:
                    self.completed = True
        finally:
            with contextlib.suppress(Exception):
                await self._drain()
            self._flush()
            if self.spool is not None:
                self.spool.close()
            await asyncio.to_thread(source.close)

    async def _stream(
        self, prepared: Prepared, source: SqlAlchemySource, applier: Applier, *, full: bool
    ) -> bool:
        if isinstance(self.state, WarehouseState):
            return await self._stream_diff(prepared, source, self.state, applier, full=full)
        batches: Iterator[Sequence[Row]] = source.stream(prepared.model)
        try:
            while not self.halted:
                # The collector stays paused until the batch's rows are freed: they are all
                # alive until then, so a collection would only scan them (its sends, when
                # any, run paused too; their objects are freed by reference counting).
                with paused_gc():
                    rows = await self._read(prepared, source, batches)
                    if rows is None:
                        return True
                    await self._batch(prepared, rows, applier, full=full)
                    del rows
            return False
        finally:
            closer = getattr(batches, "close", None)
            if closer is not None:
                await asyncio.to_thread(closer)

    async def _read(
        self, prepared: Prepared, source: SqlAlchemySource, batches: Iterator[Sequence[Row]]
    ) -> list[Row] | None:
        """The next batch with its children; None at the end of the model.

        While requests are in flight the read runs on a worker thread, so the event loop
        keeps serving them. With none in flight (a run that finds few changes) nothing waits
        for the loop, and reading on it is much cheaper: rows built on another thread (so
        another core) made the whole 1M-row diff 15-40 % slower (docs/performance.md).
        """
        if self.tasks:
            batch = await asyncio.to_thread(next, batches, None)
            if batch is None:
                return None
            return await asyncio.to_thread(attach_children, prepared, source, batch)
        batch = next(batches, None)
        return None if batch is None else attach_children(prepared, source, batch)

    async def _stream_diff(
        self,
        prepared: Prepared,
        source: SqlAlchemySource,
        state: WarehouseState,
        applier: Applier,
        *,
        full: bool,
    ) -> bool:
        """``state: warehouse``: the warehouse diffs; only rows to look at are streamed."""
        schema = await asyncio.to_thread(source.compile, prepared.model)
        diff = open_diff(state, prepared, schema)
        batches = diff.batches(full=full)
        try:
            while not self.halted:
                batch = await asyncio.to_thread(next, batches, None)
                if batch is None:
                    unchanged = diff.unchanged()
                    self.record.rows.unchanged += unchanged
                    self.progress.read += unchanged
                    self._report()
                    return True
                await self._batch(diff.prepared, batch, applier, full=full)
            return False
        finally:
            await asyncio.to_thread(batches.close)

    async def _batch(
        self, prepared: Prepared, rows: Sequence[Row], applier: Applier, *, full: bool
    ) -> None:
        result = classify_batch(prepared, self.state, rows, full=full, first_row=self.rows_seen + 1)
        self.rows_seen += len(rows)
        counts = self.record.rows
        self.progress.read += len(rows)
        counts.invalid += result.invalid_rows
        counts.failed += result.invalid_rows
        counts.unchanged += len(result.unchanged)
        self.errors.extend(result.invalid)
        self._invalid_outcomes(result.invalid)
        sending: list[Classified] = []
        for item in result.rows:
            # a key seen once per run (repeats are invalid): each is inserted once when
            # marked in flight, here or by the bulk import
            self.inserted += item.prior is None
            self.no_records += no_record(item.prior)
            if item.change is Change.ADDED:
                counts.added += 1
            elif item.change is Change.CHANGED:
                counts.changed += 1
            else:
                counts.unchanged += 1
            if not needs_sending(item.change):
                continue
            group = bulk_group(prepared.sync, item) if self.spool is not None else None
            if group is not None and self.spool is not None:
                self.spool.add(group, item)  # imported after the model is read
                self.progress.to_send += 1
            else:
                sending.append(item)
        # Mark before sending: a crash from here on leaves these rows in flight, and the
        # next run resolves them by lookup instead of creating them twice.
        self.state.mark_inflight(
            self.name, [(c.row.key, c.row.digest, row_ref(c)) for c in sending]
        )
        self.progress.to_send += len(sending)
        self._report()
        for item in sending:
            # A stop sends no more rows: those marked in flight but not sent are resolved
            # by the next run's lookups, exactly as after a kill -9; requests already out
            # are answered and recorded (the drain), which makes this a safe point.
            if self.halted:
                break
            await self.slots.acquire()
            self._spawn(self._send(applier, item))

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _send(self, applier: Applier, item: Classified, *, as_read: bool = True) -> None:
        """Apply one row (``as_read`` False: the bulk path's row, whose prior is no longer
        the snapshot's as the run read it: a new row, counted as such already)."""
        operation = item.change.value
        lookups = Lookups()
        ROW_LOOKUPS.set(lookups)  # this row's task's own context: the applier notes in it
        prior = item.prior
        in_flight = prior is not None and prior.status is RowStatus.INFLIGHT
        try:
            uuid = await applier.apply(item.row, prior)
        except (ConfigError, FatalError) as exc:
            self.fatal = self.fatal or exc
            doubt = in_flight and not lookups.absent  # "not delivered" would be untrue
            self._failed(item.row.key, exc, unknown=True, operation=operation, doubt=doubt)
        except Exception as exc:
            # A row in flight from an earlier attempt stays so until a run settles it: a
            # failure now (a 429, a lookup that failed) says nothing of the record that
            # attempt may have created, and insert mode takes over only a row in flight.
            # A lookup that found no record settles it: the row is then an ordinary one.
            doubt = in_flight and not lookups.absent
            unknown = doubt or may_have_landed(exc)
            self._failed(item.row.key, exc, unknown=unknown, operation=operation, doubt=doubt)
        else:
            self.succeeded(
                RowResult(item.row.key, ok=True, uuid=uuid, ref=row_ref(item)), operation
            )
        finally:
            if as_read and in_flight and lookups.absent and prior is not None and not prior.digest:
                # found not to be in ChartMogul: no record the sync managed before this run
                self.settled_absent += 1
            self.slots.release()
            self.progress.done += 1
            self._report()
            if len(self.results) >= FLUSH_EVERY:
                self._flush()

    def succeeded(self, result: RowResult, operation: str) -> None:
        """A row ChartMogul accepted: counted, committed to the state, reported to sinks."""
        self.record.rows.succeeded += 1
        self.results.append(result)
        self.outcomes.append(
            RowOutcome(result.key, operation, OutcomeStatus.SUCCEEDED, uuid=result.uuid)
        )

    # ------------------------------------------------------------------ bulk path
    async def _bulk(self, client: ChartMogulClient, object_type: str, data_source: str) -> None:
        """Import the spooled new rows (or send them over REST when that is cheaper)."""
        assert self.spool is not None
        runner = BulkRunner(
            self,
            client,
            object_type=object_type,
            data_source_uuid=data_source,
            run_id=self.record.run_id,
            settings=self.engine.bulk,
            adopted=self.adopted,
        )
        await runner.run(self.spool)

    @property
    def stopped(self) -> bool:
        """A fatal error ended the run (bulk host)."""
        return self.fatal is not None

    def stop(self, exc: MogulsyncError) -> None:
        """Record a fatal error (bulk host)."""
        self.fatal = self.fatal or exc

    def mark_inflight(self, items: Sequence[Classified]) -> None:
        """Before a bulk import or REST send: these rows may land from now on."""
        rows = [(item.row.key, item.row.digest, row_ref(item)) for item in items]
        self.state.mark_inflight(self.name, rows)

    def imported(self, item: Classified) -> None:
        """A row the bulk import created (its uuid is unknown; ``ref`` finds it later)."""
        result = RowResult(item.row.key, ok=True, uuid=None, ref=row_ref(item))
        self.succeeded(result, item.change.value)
        self._done()

    def rejected(self, item: Classified, problems: Sequence[Problem]) -> None:
        """A row the bulk import refused, with its field errors."""
        key = item.row.key
        if self.resolver is not None:
            problems = restated(self.resolver, item.row.payload, problems)
        errors = [RowError(key, p.field, p.message, p.action) for p in problems]
        self.record.rows.failed += 1
        self.errors.extend(errors)
        self.results.append(RowResult(key, ok=False))
        self.outcomes.append(
            RowOutcome(key, item.change.value, OutcomeStatus.FAILED, error=self._error_text(errors))
        )
        self._done()

    def unresolved(self, item: Classified, exc: BaseException) -> None:
        """A bulk row whose outcome is unknown: stays in flight, resolved next run."""
        self._failed(item.row.key, exc, unknown=True, operation=item.change.value)
        self._done()

    async def send_rest(self, items: Sequence[Classified], *, marked: bool) -> None:
        """Send rows one per REST request (``marked``: already in flight)."""
        if not items or self.applier is None:
            return
        if not marked and self.fatal is None:
            self.mark_inflight(items)
            marked = True
        applier = self.applier
        for index, item in enumerate(items):
            if self.fatal is not None:  # a send spawned above may have hit a fatal error
                for left in items[index:] if marked else ():
                    self.unresolved(left, self.fatal)  # in flight: the next run looks it up
                return
            await self.slots.acquire()
            self._spawn(self._send(applier, item, as_read=False))

    def learned(self, kind: str, data_source: str, found: Sequence[Learnt]) -> None:
        """uuids found for rows already reported imported: snapshot and registry (bulk host).

        Not counted nor reported again: only the rows' uuids are recorded.
        """
        self.results.extend(RowResult(key, ok=True, uuid=uuid, ref=ref) for key, ref, uuid in found)
        self.state.remember_uuids([(kind, data_source, ref, uuid) for _, ref, uuid in found])
        self._flush()

    def flush(self) -> None:
        """Commit results gathered so far (bulk host)."""
        self._flush()

    def _done(self) -> None:
        self.progress.done += 1
        self._report()

    def _failed(
        self, key: str, exc: BaseException, *, unknown: bool, operation: str, doubt: bool = False
    ) -> None:
        self.record.rows.failed += 1
        errors = row_errors(key, exc, earlier_may_have_landed=doubt)
        self.errors.extend(errors)
        self.results.append(RowResult(key, ok=False, unknown=unknown))
        self.outcomes.append(
            RowOutcome(key, operation, OutcomeStatus.FAILED, error=self._error_text(errors))
        )

    def _invalid_outcomes(self, errors: Sequence[RowError]) -> None:
        by_key: dict[str, list[RowError]] = {}
        for error in errors:
            by_key.setdefault(error.key, []).append(error)
        self.outcomes.extend(
            RowOutcome(key, None, OutcomeStatus.INVALID, error=self._error_text(found))
            for key, found in by_key.items()
        )

    def _error_text(self, errors: Sequence[RowError]) -> str:
        text = "; ".join(
            f"{error.field}: {error.message}" if error.field else error.message for error in errors
        )
        return self.engine.redactor.text(text)

    async def _removed(self, prepared: Prepared, applier: Applier) -> None:
        gone = list(self.state.unseen(self.name))
        counted = [(key, prior) for key, prior in gone if prior.digest is not None]
        if prepared.sync.on_delete != "delete":
            self.record.rows.removed += len(counted)
            self.state.forget(self.name, [key for key, _ in gone])
            return
        # In flight and never accepted: a killed run may still have created the record;
        # it is looked up by its external id (and deleted if found), never just forgotten.
        kind = prepared.sync.object
        unsure = {key for key, prior in gone if unsure_removal(prior, kind)}
        # A removed row whose record a row the model holds names (re-keyed model, dedup):
        # the record is that row's now; deleting it would lose it. Forgotten instead.
        kept = await self._kept(gone)
        counted_deletes = sum(key not in kept for key, _ in counted)
        refusal = await self._refusal(
            counted_deletes + len(unsure - kept.keys()),
            sum(no_record(prior) for _, prior in gone),
        )
        if refusal is not None:
            # nothing deleted, nothing forgotten: the next run sees these rows leave again
            self.fatal = self.fatal or refusal
            return
        if self.halted:
            # a stop or a fatal error came while the count waited for the last sends: the
            # run ends there (a cancelled run deletes nothing); the next run sees them leave
            return
        self.record.rows.removed += len(counted) + len(unsure)
        never_landed = [
            key
            for key, prior in gone
            if prior.digest is None and not prior.uuid and key not in unsure
        ]
        self.state.forget(self.name, [*never_landed, *kept])
        self._hand_over(prepared, kept)
        self._note_kept(kept, dict(gone))
        for key, prior in gone:
            if key in kept:
                continue
            # bulk-imported records have no known uuid: the applier finds them by ``ref``
            if prior.uuid or (prior.ref and prior.digest is not None) or key in unsure:
                await self.slots.acquire()
                self._spawn(self._delete(applier, key, prior))

    async def _kept(self, gone: Sequence[tuple[str, Prior]]) -> dict[str, tuple[str, Prior]]:
        """Removed rows whose record a row the model still holds names (see :func:`claimed`).

        Waits for the rows being sent first: a new row's uuid (an email match) is known
        once its answer is recorded, and no delete may race the upsert of the same record.
        """
        named = [(key, prior) for key, prior in gone if prior.uuid or prior.ref]
        if not named:
            return {}
        await self._drain()
        refs = sorted({prior.ref for _, prior in named if prior.ref})
        uuids = sorted({part for _, p in named for part in (p.uuid or "").split(",") if part})
        leaving = {key for key, _ in gone}
        holders = {
            key: prior
            for key, prior in self.state.sharing(self.name, refs, uuids)
            if key not in leaving
        }
        return claimed(named, holders) if holders else {}

    def _hand_over(self, prepared: Prepared, kept: dict[str, tuple[str, Prior]]) -> None:
        """Insert mode: a row refused this run because the kept record exists takes it over.

        Marked in flight, the next run looks its record up by its match key and adopts it,
        as after a lost answer (insert mode never updates it); without this the row would
        be refused as "already exists" on every run. The digest is the next run's: a row
        never accepted is sent (so marked again) on every run.
        """
        if prepared.sync.mode != "insert":
            return  # upsert and update find and update the record on their own
        rows = [(holder, "", prior.ref) for holder, prior in kept.values() if not prior.may_exist]
        if rows:
            self.state.mark_inflight(self.name, rows)

    def _note_kept(self, kept: dict[str, tuple[str, Prior]], gone: dict[str, Prior]) -> None:
        """Say in the run's message which removed rows' records were kept, and why."""
        if not kept:
            return
        examples = [
            f"{_record_label(gone[key])} is now row {key_label(holder)}"
            for key, (holder, _) in sorted(kept.items())[:3]
        ]
        more = f" (and {len(kept) - 3} more)" if len(kept) > 3 else ""
        note = f"{len(kept)} removed row(s)' record kept, not deleted: {'; '.join(examples)}{more}"
        self.record.message = f"{self.record.message}; {note}" if self.record.message else note

    async def _refusal(self, deletes: int, gone_no_records: int) -> TooManyDeletesError | None:
        """The mass-delete safeguard's verdict on ``deletes`` (None: they may go);
        ``gone_no_records``: rows that left the model and were never a record."""
        if self.guard is None or not self.guard.needs_count(deletes):
            return None
        # the rows still being sent may settle as "not in ChartMogul": wait for them, so
        # the count is of what the run found, not of what it had not looked up yet
        while self.tasks:
            await asyncio.gather(*list(self.tasks), return_exceptions=True)
        rows = snapshot_rows(self.state, self.name)
        before = rows - self.inserted - self.no_records - self.settled_absent - gone_no_records
        return self.guard.refusal(deletes, before)

    async def _delete(self, applier: Applier, key: str, prior: Prior) -> None:
        try:
            await applier.delete(prior)
        except Exception as exc:
            if isinstance(exc, ConfigError | FatalError):
                self.fatal = self.fatal or exc
            self.record.rows.failed += 1
            errors = row_errors(key, exc)
            self.errors.extend(errors)
            self.outcomes.append(
                RowOutcome(key, "removed", OutcomeStatus.FAILED, error=self._error_text(errors))
            )
        else:
            self.record.rows.succeeded += 1
            self.state.forget(self.name, [key])
            self.outcomes.append(RowOutcome(key, "removed", OutcomeStatus.SUCCEEDED, prior.uuid))
        finally:
            self.slots.release()

    async def _drain(self) -> None:
        while self.tasks:
            await asyncio.gather(*list(self.tasks), return_exceptions=True)
        self._flush()

    def _flush(self) -> None:
        results, self.results = self.results, []
        errors, self.errors = self.errors, []
        if results:
            self.state.record(self.name, results)
        if errors:
            self.runs.add_errors(self.record.run_id, errors)
        self.runs.flush()
        outcomes, self.outcomes = self.outcomes, []
        if outcomes:
            for sink in self.engine.sinks:
                sink.write(self.record, outcomes)

    def _log_request(self, entry: RequestLogEntry) -> None:
        if entry.reached_server:
            self.api_calls += 1
            self.record.api_calls = self.api_calls  # live: written with the request log
        self.runs.add_request(self.record.run_id, entry)
        if entry.reached_server:
            self.progress.requests += 1
        for hook in self.request_hooks:
            hook(entry)

    def _report(self) -> None:
        self.progress.failed = self.record.rows.failed
        # the record's counts so far, to the history at a bounded rate: another process's
        # page follows the run, and a killed run shows what it had done
        self.record.duration_s = time.monotonic() - self.started
        self.runs.progress(self.record)
        self.progress_hook(self.progress)


def _record_label(prior: Prior) -> str:
    """How a kept record is named to the user: by its external id, else its uuid."""
    return f"external_id {prior.ref}" if prior.ref else f"uuid {prior.uuid}"


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat()

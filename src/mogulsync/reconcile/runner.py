"""``mogulsync reconcile``: compare a sync's model with what ChartMogul holds; ``--adopt``.

A reconcile lists the sync's scope in ChartMogul into an embedded table (see
:mod:`mogulsync.reconcile.remote`), then streams the model through the sync's own mapper
(:func:`mogulsync.sync.batch.prepare`), pairs each row with its record by the sync's match
key and compares the mapped fields (:mod:`mogulsync.reconcile.compare`).

``adopt`` also rebuilds the sync's state from what it saw, so the next ``sync run`` sends
exactly the missing and drifted rows:

- a row whose record matches is written to the snapshot as accepted (its digest, uuid and
  external id), so the run leaves it alone and later updates cost one call;
- a drifted row is written with its record's uuid and a digest no row can have, so the run
  sends it as a change (an update by uuid, no lookup);
- a missing row is dropped from the snapshot, so the run creates it.

Every row is written as ``inflight`` and then ``synced`` (the same two steps a run takes),
batch by batch: a kill at any instant leaves rows either adopted, untouched or in flight
(resolved by lookup on the next run), and adopting again finishes the job. The sync's
definition is saved last, so an interrupted adopt never hides a mapping change.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mogulsync import logs
from mogulsync._redact import Redactor
from mogulsync.chartmogul import ChartMogulClient, ClientSettings, RequestLogEntry
from mogulsync.config import AppConfig
from mogulsync.config.alerts import RECONCILE_PREFIX
from mogulsync.reconcile.compare import differences, expected
from mogulsync.reconcile.remote import (
    PRIMARY_CONTACT,
    Pairing,
    RemoteIndex,
    RemoteRecord,
    fill,
    list_merged,
    match_key,
)
from mogulsync.reconcile.report import ReconcileReport
from mogulsync.runs import RunRecord, RunStatus, RunStore
from mogulsync.runs.retention import prune_history_at
from mogulsync.sync.batch import Prepared, attach_children, prepare
from mogulsync.sync.bulk import adopted as adopted_scope
from mogulsync.sync.bulk.adopted import MAX_ABSENT, NOTED_OBJECTS, AdoptedScope
from mogulsync.sync.connect import client_settings, model_of, open_source, resolve_data_source
from mogulsync.sync.mapping import MappedRow, primary_key_of
from mogulsync.sync.state import RowResult, SyncLock
from mogulsync.sync.state_open import open_lock, open_state
from mogulsync.sync.state_protocol import RunLock, SyncState
from mogulsync.sync.warehouse_diff import WarehouseState, open_diff
from mogulsync.warehouse import Row, SqlAlchemySource

if TYPE_CHECKING:
    from mogulsync.alerts.dispatch import AlertDispatcher

#: prefix of the digest an adopted drifted row gets: never equal to a row's digest
DRIFTED_DIGEST = "adopted-drifted:"
#: the registry's kind for each object whose uuid later runs look up by external id
_REGISTRY_KIND = {"customer": "customer", "plan": "plan", "invoice": "invoice"}


async def reconcile(
    config: AppConfig,
    name: str,
    *,
    adopt: bool = False,
    record: bool = False,
    settings: ClientSettings | None = None,
    state_dir: Path | str | None = None,
) -> ReconcileReport:
    """Compare sync ``name``'s model with ChartMogul; with ``adopt``, rebuild its state.

    An adopt is recorded in the run history under the sync's name. ``record`` (the drift
    watch: ``reconcile --record``, and every reconcile `mogulsync serve` schedules) records a
    plain reconcile under ``reconcile:<sync>`` and sends the drift alerts its rules ask for.

    Raises ConfigError for an unknown sync and
    SyncLockedError when ``adopt`` finds a run of the sync in progress.
    """
    model_of(config, name)
    directory = Path(state_dir or config.state_dir)
    settings = settings or client_settings(config)
    redactor = Redactor([settings.api_key.get_secret_value()])
    lock = _lock(config, directory, name, adopt=adopt, record=record)
    if lock is not None:
        lock.acquire()
    try:
        job = _Reconcile(config, name, settings, directory, redactor, adopt=adopt, record=record)
        return await job.run()
    finally:
        if lock is not None:
            lock.release()


def _lock(
    config: AppConfig, state_dir: Path, name: str, *, adopt: bool, record: bool
) -> RunLock | None:
    """An adopt takes the sync's lock; a recorded watch the lock file of its history name
    (``reconcile:<sync>``), so a server starting meanwhile leaves its run ``running`` and
    two watches of one sync never overlap. A plain reconcile records nothing: no lock."""
    if adopt:
        return open_lock(config, state_dir, name)
    if record:
        what = f"a recorded reconcile (drift watch) of `{name}`"
        return SyncLock(state_dir, f"{RECONCILE_PREFIX}{name}", what=what)
    return None


def _added_by_others(config: AppConfig, name: str) -> frozenset[str]:
    """``{"transactions"}`` when an invoice sync's data source also gets a transaction sync:
    the payments and refunds it adds to the invoices are its records (its own reconcile
    compares them), not a drift of the invoices'."""
    sync = config.syncs[name]
    if sync.object != "invoice":
        return frozenset()
    shared = any(
        other.object == "transaction" and other.data_source == sync.data_source
        for other in config.syncs.values()
    )
    return frozenset({"transactions"}) if shared else frozenset()


def _listing_transactions(config: AppConfig, name: str) -> list[str]:
    """For a transaction sync: the project's invoice syncs of its data source whose rows
    list their transactions. Those transactions are theirs (their reconcile compares them,
    and leaves this sync's out), not extra records of this sync."""
    sync = config.syncs[name]
    if sync.object != "transaction":
        return []
    return [
        other_name
        for other_name, other in config.syncs.items()
        if other.object == "invoice"
        and other.data_source == sync.data_source
        and other.transactions_column is not None
    ]


class _Reconcile:
    """One reconcile's moving parts."""

    def __init__(
        self,
        config: AppConfig,
        name: str,
        settings: ClientSettings,
        state_dir: Path,
        redactor: Redactor,
        *,
        adopt: bool,
        record: bool,
    ) -> None:
        self.config = config
        self.name = name
        self.sync = config.syncs[name]
        self.settings = settings
        self.state_dir = state_dir
        self.redactor = redactor
        self.adopt = adopt
        #: the run-history name: the sync's for an adopt, ``reconcile:<sync>`` for a watch
        self.history_name = name if adopt else f"{RECONCILE_PREFIX}{name}"
        self.recorded = adopt or record
        self.report = ReconcileReport(name)
        self.requests: list[RequestLogEntry] = []
        #: the recorded run and its history while it goes (its counts written as it goes)
        self.live: tuple[RunStore, RunRecord, float] | None = None
        self.data_source_uuid: str | None = None
        self.seen_keys: set[str] = set()
        #: match keys of the rows ChartMogul lacks (for the adopt's note; capped)
        self.absent: set[str] = set()
        #: children another sync of the project adds to this sync's records
        self.others = _added_by_others(config, name)

    async def run(self) -> ReconcileReport:
        """Compare (and adopt); a recorded reconcile's log lines carry its run id."""
        started = time.monotonic()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        runs = RunStore(self.state_dir, self.redactor) if self.recorded else None
        record = runs.start(self.history_name, full=False) if runs is not None else None
        if record is None:
            return await self._run(started, runs, record)
        with logs.bound_run(record.run_id):
            return await self._run(started, runs, record)

    async def _run(
        self, started: float, runs: RunStore | None, record: RunRecord | None
    ) -> ReconcileReport:
        failed: BaseException | None = None
        if runs is not None and record is not None:
            self.live = (runs, record, started)
        try:
            # whatever opened is closed, also when a later open fails: a long-running
            # server must not keep a failed watch's files, nor its record ``running``
            if runs is not None and record is not None and not self.adopt:
                # drift alerts a channel did not take, now due (cron-only users' retry);
                # inside: a watch cancelled meanwhile still ends recorded, not `running`
                await self.dispatcher.retry_due(runs, self.dispatcher.now(), self.history_name)
            async with contextlib.AsyncExitStack() as opened:
                await self._compare(opened)
        except BaseException as exc:
            failed = exc
            raise
        finally:
            self.live = None
            self.report.api_calls = len(self.requests)
            self.report.duration_s = time.monotonic() - started
            if runs is not None and record is not None:
                self._finish(runs, record, failed)
                if failed is not None:
                    try:
                        await self._prune()
                    finally:
                        runs.close()
        if runs is not None and record is not None:
            try:
                if not self.adopt:
                    await self._alert(record, runs)
                await self._prune()
            finally:
                runs.close()
        return self.report

    async def _prune(self) -> None:
        """The history's retention, off the loop (a long history's first prune takes
        seconds; a server's other runs, API and scheduler share this loop), on a
        connection of its own (see prune_history_at)."""
        now = dt.datetime.now(dt.UTC)
        policy = self.config.run_history
        await asyncio.to_thread(prune_history_at, self.state_dir, self.redactor, policy, now)

    async def _compare(self, opened: contextlib.AsyncExitStack) -> None:
        """List, compare (and adopt); what it opens is closed by ``opened``."""
        model = self.config.models[self.sync.model]
        state = open_state(self.config, self.state_dir, self.name) if self.adopt else None
        if state is not None:
            opened.callback(state.close)
        index = RemoteIndex(self.state_dir)
        opened.callback(index.close)
        source = open_source(self.config, model)
        opened.push_async_callback(asyncio.to_thread, source.close)
        schema = await asyncio.to_thread(source.compile, model)
        prepared = await asyncio.to_thread(prepare, self.config, self.name, source, schema)
        if self.adopt:  # an earlier adopt's note says nothing about this one's listing
            adopted_scope.discard(self.state_dir, self.name)
        pairing = Pairing.of(self.sync.object, self.sync.match, prepared.mapper.columns)
        contacts = any(field.startswith(PRIMARY_CONTACT) for field in prepared.mapper.columns)
        listed, listed_at = await self._list(index, pairing, primary_contacts=contacts)
        # no request is in flight now: reading the model on the loop costs nothing
        self._compare_model(prepared, source, index, state, pairing)
        await self._under_merged(index, pairing, state)
        for other in _listing_transactions(self.config, self.name):
            self._mark_listed_by(other, index)
        for extra in index.unseen():
            self.report.note_extra(extra.uuid, extra.external_id)
        if state is not None:
            state.save_definition(self.name, prepared.definition)
            self.report.adopted = True
            self._leave_note(listed, listed_at)

    async def _list(
        self, index: RemoteIndex, pairing: Pairing, *, primary_contacts: bool
    ) -> tuple[int, float]:
        """Fill ``index`` with the scope's records; how many were listed, and from when."""
        async with ChartMogulClient(self.settings, request_hooks=[self._heard]) as cm:
            wanted = self.sync.data_source
            self.data_source_uuid = await resolve_data_source(cm, wanted, create=False)
            listed_at = time.time()
            if self.data_source_uuid is None and not pairing.account_wide:
                return 0, listed_at
            plans = self.sync.object == "invoice" and self.sync.line_items is not None
            filled = fill(
                index,
                cm,
                pairing,
                self.data_source_uuid,
                primary_contacts=primary_contacts,
                plans=plans,
            )
            return await filled, listed_at

    # ------------------------------------------------------------------ model side
    def _compare_model(
        self,
        prepared: Prepared,
        source: SqlAlchemySource,
        index: RemoteIndex,
        state: SyncState | None,
        pairing: Pairing,
    ) -> None:
        batches: Iterator[Sequence[Row]] = source.stream(prepared.model)
        if isinstance(state, WarehouseState):
            # the snapshot in the warehouse keeps the warehouse's own row hash as digest:
            # every row, with that hash, comes from the diff query (full)
            diff = open_diff(state, prepared, source.compile(prepared.model))
            batches, prepared = diff.batches(full=True), diff.prepared
        for batch in batches:
            rows = attach_children(prepared, source, batch)
            mapped, unmapped = self._map(prepared, rows, pairing)
            # a row that is invalid is still in the model: its record is not extra (a run
            # keeps it), only the row is counted, as invalid
            for records in index.find(unmapped).values():
                index.mark(records if pairing.every else records[:1])
            keys = [pairing.key(row.payload) for row in mapped]
            found = index.find([key for key in keys if key is not None])
            adopted: list[tuple[MappedRow, RemoteRecord, bool]] = []
            missing: list[str] = []
            later: list[tuple[str, str, dict[str, Any], str]] = []
            for row, key in zip(mapped, keys, strict=True):
                records = found.get(key, []) if key is not None else []
                if not records:
                    # (an empty listing, a first sync's, has nothing to pair it with)
                    if key is not None and pairing.by_customer_external_id and index.size:
                        later.append((row.key, key, expected(self.sync.object, row), row.digest))
                    else:
                        self.report.note_missing(row.key)
                    missing.append(row.key)
                    if key is not None and len(self.absent) <= MAX_ABSENT:
                        self.absent.add(key)
                    continue
                held, changes = self._compared(row, records)
                index.mark(records if pairing.every else [held])
                if changes:
                    self.report.note_drift(row.key, held.uuid, changes)
                else:
                    self.report.in_both += 1
                adopted.append((row, held, bool(changes)))
            index.defer(later)
            if state is not None:
                self._write(state, adopted, missing)
            self._progress()

    async def _under_merged(
        self, index: RemoteIndex, pairing: Pairing, state: SyncState | None
    ) -> None:
        """Contact rows found under no customer of the name they give: a run finds that
        customer also once merged into another (by any of its external ids), and the
        contact among the merged customer's. The data source's customers are listed for
        that only when such rows and unpaired contacts both remain (else none can pair)."""
        if not index.any_deferred:
            return
        listed = self.data_source_uuid is not None and index.any_unseen
        if listed and self.data_source_uuid is not None:
            async with ChartMogulClient(self.settings, request_hooks=[self._heard]) as cm:
                await list_merged(index, cm, self.data_source_uuid)
        for chunk in index.deferred():
            adopted: list[tuple[MappedRow, RemoteRecord, bool]] = []
            for row_key, key, want, digest in chunk:
                moved = pairing.rekeyed(key, index.merged_owner) if listed else None
                records = index.find([moved]).get(moved, []) if moved is not None else []
                if not records:
                    self.report.note_missing(row_key)
                    continue
                # the merged customer is the one the row names: its external id is not a
                # difference (a run finds the contact there and never moves it)
                want.pop(pairing.parent or "", None)
                held, changes = self._picked(want, records)
                index.mark([held])
                if changes:
                    self.report.note_drift(row_key, held.uuid, changes)
                else:
                    self.report.in_both += 1
                adopted.append((MappedRow(row_key, {}, (), digest), held, bool(changes)))
            if state is not None:
                self._write(state, adopted, [])
            self._progress()

    def _mark_listed_by(self, invoices: str, index: RemoteIndex) -> None:
        """Mark the transactions the rows of the invoice sync ``invoices`` list (by
        external id) as produced by a row: that sync's, not extra records of this one."""
        model = self.config.models[self.config.syncs[invoices].model]
        source = open_source(self.config, model)
        try:
            prepared = prepare(self.config, invoices, source, source.compile(model))
            key_columns = prepared.model.primary_key_columns
            for batch in source.stream(prepared.model):
                listed: list[str] = []
                for raw in batch:
                    key = primary_key_of(raw, key_columns)
                    outcome = None if key is None else prepared.mapper.build(raw, key, "")
                    if not isinstance(outcome, MappedRow):
                        continue  # an invalid invoice row: its reconcile counts it
                    for transaction in outcome.payload.get("transactions") or []:
                        external_id = match_key("external_id", transaction.get("external_id"))
                        if external_id is not None:
                            listed.append(external_id)
                for records in index.find(listed).values():
                    index.mark(records)
        finally:
            source.close()

    def _compared(
        self, row: MappedRow, records: Sequence[RemoteRecord]
    ) -> tuple[RemoteRecord, dict[str, tuple[Any, Any]]]:
        """The row's record and how it differs. With several: customers sharing the row's
        email are each updated by a run, so the first that differs; else (twin contacts)
        one that matches, the others being extra."""
        return self._picked(expected(self.sync.object, row), records)

    def _picked(
        self, want: dict[str, Any], records: Sequence[RemoteRecord]
    ) -> tuple[RemoteRecord, dict[str, tuple[Any, Any]]]:
        """:meth:`_compared` for a row's expected values ``want``."""
        compared = [(r, differences(want, r.fields, others=self.others)) for r in records]
        if self.sync.object == "customer" and self.sync.match == "email":
            return next(((r, c) for r, c in compared if c), compared[0])
        return next(((r, c) for r, c in compared if not c), compared[0])

    def _map(
        self, prepared: Prepared, rows: Sequence[Mapping[str, Any]], pairing: Pairing
    ) -> tuple[list[MappedRow], list[str]]:
        """The batch's rows mapped as a run maps them; invalid ones counted and skipped.

        Also the match keys of the rows that could not be mapped but whose primary key is
        set and first seen (a run keeps their records).
        """
        mapper = prepared.mapper
        digests = mapper.row_digests(rows)
        mapped: list[MappedRow] = []
        unmapped: list[str] = []
        fields = [pairing.match] + ([pairing.parent] if pairing.parent else [])
        columns = {field: mapper.columns.get(field) for field in fields}
        for raw, digest in zip(rows, digests, strict=True):
            key = primary_key_of(raw, prepared.model.primary_key_columns)
            if key is None or key in self.seen_keys:
                self.report.invalid += 1
                continue
            self.seen_keys.add(key)
            outcome = mapper.build(raw, key, digest)
            if isinstance(outcome, list):
                self.report.invalid += 1
                values = {field: raw.get(col) for field, col in columns.items() if col}
                held = pairing.key(values)
                if held is not None:
                    unmapped.append(held)
                continue
            mapped.append(outcome)
        return mapped, unmapped

    # ------------------------------------------------------------------ adopt
    def _leave_note(self, listed: int, listed_at: float) -> None:
        """Tell the next run what the data source lacked, so it need not list it again.

        Only with embedded state: there every run of the sync takes the note (with a shared
        state store, another worker's run would neither see nor remove it).
        """
        sync = self.sync
        if self.data_source_uuid is None:
            return  # nothing listed: the run creates the data source and everything in it
        if sync.object not in NOTED_OBJECTS or sync.match != "external_id":
            return
        if self.config.state_store is not None or sync.state == "warehouse":
            return
        if len(self.absent) > MAX_ABSENT:
            return
        note = AdoptedScope(
            self.data_source_uuid, sync.object, listed, frozenset(self.absent), listed_at
        )
        adopted_scope.save(self.state_dir, self.name, note)

    def _write(
        self,
        state: SyncState,
        adopted: Sequence[tuple[MappedRow, RemoteRecord, bool]],
        missing: Sequence[str],
    ) -> None:
        """Adopt one batch: matched rows accepted (drifted ones to resend), missing dropped."""
        if adopted:
            state.mark_inflight(
                self.name,
                [
                    (
                        row.key,
                        DRIFTED_DIGEST + row.digest if drifted else row.digest,
                        held.external_id,
                    )
                    for row, held, drifted in adopted
                ],
            )
            state.record(
                self.name,
                [
                    RowResult(row.key, ok=True, uuid=held.uuid, ref=held.external_id)
                    for row, held, _ in adopted
                ],
            )
            kind = _REGISTRY_KIND.get(self.sync.object)
            if kind is not None and self.data_source_uuid is not None:
                state.remember_uuids(
                    [
                        (kind, self.data_source_uuid, held.external_id, held.uuid)
                        for _, held, _ in adopted
                        # a record of another data source is not this one's external id
                        if held.external_id and held.inside
                    ]
                )
        if missing:
            state.forget(self.name, list(missing))

    def _heard(self, entry: RequestLogEntry) -> None:
        """Every request of the listing (a request hook): kept for the record's log."""
        self.requests.append(entry)
        self._progress()

    def _progress(self) -> None:
        """A recorded run's counts so far, to the history at a bounded rate (RunStore
        decides): a killed watch or adopt then shows how far it got once swept."""
        if self.live is None:
            return
        runs, record, started = self.live
        record.duration_s = time.monotonic() - started
        record.api_calls = len(self.requests)
        self._counts(record)
        runs.progress(record)

    def _counts(self, record: RunRecord) -> None:
        """The report's figures in the record's columns."""
        report, rows = self.report, record.rows
        rows.unchanged, rows.changed = report.in_both, report.drifted
        rows.added, rows.removed = report.missing, report.extra
        rows.succeeded = report.in_both + report.drifted if self.adopt else 0
        rows.invalid = rows.failed = report.invalid

    def _finish(self, runs: RunStore, record: RunRecord, failed: BaseException | None) -> None:
        """Record the adopt (or watched reconcile) in the run history, with its requests."""
        report = self.report
        record.duration_s = report.duration_s
        record.finished_at = dt.datetime.now(dt.UTC).isoformat()
        record.api_calls = report.api_calls
        self._counts(record)
        what = "reconcile --adopt" if self.adopt else "reconcile"
        if failed is None:
            apart = not self.adopt and report.differs
            record.status = RunStatus.PARTIAL if apart else RunStatus.SUCCESS
            fields = ", ".join(f"{name} {count}" for name, count in sorted(report.fields.items()))
            record.message = (
                f"{what}: {report.in_both} in both, {report.drifted} drifted,"
                f" {report.missing} missing, {report.extra} extra"
                + (f" (drifted fields: {fields})" if fields else "")
            )
        else:
            record.status = RunStatus.FAILED
            record.message = self.redactor.text(f"{what} failed: {failed}")
        for entry in self.requests:
            runs.add_request(record.run_id, entry)
        runs.finish(record)
        report.run_id = record.run_id

    async def _alert(self, record: RunRecord, runs: RunStore) -> None:
        """Drift alerts (``alerts.rules[].drift``) through the project's channels."""
        self.report.warnings.extend(await self.dispatcher.after_run(record, runs))

    @functools.cached_property
    def dispatcher(self) -> AlertDispatcher:
        """The project's alert channels (registers their secrets with the redactor)."""
        from mogulsync.alerts.dispatch import AlertDispatcher

        return AlertDispatcher(self.config.alerts, self.redactor)

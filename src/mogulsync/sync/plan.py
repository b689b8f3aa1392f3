"""``sync plan``: what a run would do, with zero writes to ChartMogul or to the snapshot."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from mogulsync._gcpause import paused_gc
from mogulsync.chartmogul import ChartMogulClient, ClientSettings
from mogulsync.config import AppConfig
from mogulsync.runs.models import RowError
from mogulsync.sync.batch import (
    BatchResult,
    Prepared,
    attach_children,
    classify_batch,
    map_unchanged,
    prepare,
)
from mogulsync.sync.bulk import bulk_group, row_ref
from mogulsync.sync.bulk.runner import DEFAULT_MIN_ROWS
from mogulsync.sync.connect import model_of, open_source, resolve_data_source
from mogulsync.sync.delete_guard import guard_for, no_record, snapshot_rows
from mogulsync.sync.diff import (
    Change,
    Prior,
    RowStatus,
    claimed,
    needs_sending,
    unsure_removal,
)
from mogulsync.sync.state_open import open_state
from mogulsync.sync.state_protocol import SyncState
from mogulsync.sync.warehouse_diff import DiffStream, WarehouseState, open_diff
from mogulsync.warehouse import Row, WarehouseSource

DEFAULT_SAMPLE = 5
_CATEGORIES = ("creates", "updates", "deletes", "unchanged", "invalid")


@dataclass(slots=True)
class SyncPlan:
    """Counts per kind of change and a few samples of each."""

    sync: str
    object: str
    mode: str
    #: the data source's uuid, or its name while it does not exist yet
    data_source: str
    #: the data source does not exist yet and would be created by the run
    creates_data_source: bool = False
    #: the data source's name (as in the project file)
    data_source_name: str = ""
    #: its uuid (None: it does not exist yet)
    data_source_uuid: str | None = None
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(_CATEGORIES, 0))
    samples: dict[str, list[dict[str, Any]]] = field(
        default_factory=lambda: {name: [] for name in _CATEGORIES}
    )
    #: rows that left the model but are kept (on_delete: ignore)
    removed_ignored: int = 0
    #: rows that changed in the model but whose record insert mode never updates
    changes_ignored: int = 0
    #: creates the run would send through the bulk JSON import (0: all over REST)
    bulk_creates: int = 0
    #: model rows classified so far (in memory only: numbers the rows of the next batch)
    rows_read: int = 0
    #: the sync's ``max_deletes`` as written (None: no limit, or on_delete: ignore)
    max_deletes: str | None = None
    #: the records the sync manages (what a percentage counts from): snapshot rows that
    #: ChartMogul accepted once or that are in flight
    managed: int = 0
    #: snapshot rows that are no record, ChartMogul refused every attempt (in memory only)
    no_records: int = 0
    #: why the run would be refused by the mass-delete safeguard (None: it would not)
    deletes_refused: str | None = None
    #: rows that left the model whose record a row the model holds names (on_delete:
    #: delete): kept, not deleted; a few as {"key", "record", "now"}
    kept: int = 0
    kept_samples: list[dict[str, str]] = field(default_factory=list)
    #: (on_delete: delete) the match key of each row the run would send, in memory only:
    #: a new row is not in the snapshot yet
    sent_refs: dict[str, Prior] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "sync": self.sync,
            "object": self.object,
            "mode": self.mode,
            "data_source": self.data_source,
            "data_source_name": self.data_source_name,
            "data_source_uuid": self.data_source_uuid,
            "creates_data_source": self.creates_data_source,
            "counts": self.counts,
            "removed_ignored": self.removed_ignored,
            "changes_ignored": self.changes_ignored,
            "bulk_creates": self.bulk_creates,
            "max_deletes": self.max_deletes,
            "managed": self.managed,
            "deletes_refused": self.deletes_refused,
            "kept": self.kept,
            "kept_samples": self.kept_samples,
            "samples": self.samples,
        }


async def plan_sync(
    config: AppConfig, name: str, settings: ClientSettings, *, sample: int = DEFAULT_SAMPLE
) -> SyncPlan:
    """Classify every row of the sync's model without sending anything."""
    model = model_of(config, name)
    sync = config.syncs[name]
    source = open_source(config, model)
    # create=False: a plan never writes, not even empty snapshot tables
    state = open_state(config, config.state_dir, name, create=False)
    try:
        async with ChartMogulClient(settings) as client:
            uuid = await resolve_data_source(client, sync.data_source, create=False)
        schema = await asyncio.to_thread(source.compile, model)
        prepared = await asyncio.to_thread(prepare, config, name, source, schema)
        full = state.definition_changed(name, prepared.definition)
        guard = guard_for(name, sync)
        result = SyncPlan(
            name,
            sync.object,
            sync.mode,
            uuid or sync.data_source or "mogulsync",
            creates_data_source=uuid is None,
            data_source_name=sync.data_source or "mogulsync",
            data_source_uuid=uuid,
        )
        state.start_seen()
        diff: DiffStream | None = None
        batches: Iterator[Sequence[Row]]
        if isinstance(state, WarehouseState):  # the warehouse diffs; only changes come out
            diff = await asyncio.to_thread(open_diff, state, prepared, schema)
            prepared = diff.prepared
            batches = diff.batches(full=full)
        else:
            batches = source.stream(model)
        while True:
            # the collector stays paused until the batch is freed (by reference counting)
            with paused_gc():
                if not _plan_batch(result, prepared, state, source, batches, full, sample):
                    break
        if result.bulk_creates < DEFAULT_MIN_ROWS:
            result.bulk_creates = 0  # the run sends so few over REST
        if diff is not None:
            result.counts["unchanged"] += diff.unchanged()
        gone = list(state.unseen(name))
        kept = (
            _count_kept(result, state, name, gone, sample) if sync.on_delete == "delete" else set()
        )
        _count_removed(result, gone, sync.on_delete, sync.object, sample, kept)
        if guard is not None:  # a plan writes nothing: the snapshot is as before the run
            result.max_deletes = str(guard.limit)
            result.managed = snapshot_rows(state, name) - result.no_records
            refusal = guard.refusal(result.counts["deletes"], result.managed)
            result.deletes_refused = None if refusal is None else refusal.preview
        return result
    finally:
        state.close()
        source.close()


def _plan_batch(
    plan: SyncPlan,
    prepared: Prepared,
    state: SyncState,
    source: WarehouseSource,
    batches: Iterator[Sequence[Row]],
    full: bool,
    sample: int,
) -> bool:
    """Classify and count the next batch; False when there is none."""
    batch = next(batches, None)
    if batch is None:
        return False
    rows = attach_children(prepared, source, batch)  # exactly what a run would send
    first_row = plan.rows_read + 1
    plan.rows_read += len(rows)
    classified = classify_batch(prepared, state, rows, full=full, first_row=first_row)
    plan.bulk_creates += sum(
        bulk_group(prepared.sync, item) is not None for item in classified.rows
    )
    _count_rows(plan, classified, sample)
    _count_unchanged(plan, prepared, classified, sample)
    plan.no_records += sum(no_record(item.prior) for item in classified.rows)
    if prepared.sync.on_delete == "delete":
        for item in classified.rows:
            if needs_sending(item.change):
                prior = item.prior
                uuid = prior.uuid if prior is not None else None
                if prepared.sync.match == "uuid":  # the row names its record itself
                    uuid = str(item.row.payload.get("uuid") or "") or uuid
                plan.sent_refs[item.row.key] = Prior(None, RowStatus.INFLIGHT, uuid, row_ref(item))
    return True


def _count_rows(plan: SyncPlan, classified: BatchResult, sample: int) -> None:
    _count_invalid(plan, classified.invalid, classified.invalid_rows, sample)
    for item in classified.rows:
        category = _category(item.change, item.prior, plan.mode)
        if category == "unchanged" and item.change is Change.CHANGED:
            plan.changes_ignored += 1
        plan.counts[category] += 1
        if len(plan.samples[category]) < sample:
            found: dict[str, Any] = {"key": item.row.key, "payload": dict(item.row.payload)}
            if category == "updates" and item.prior is not None and item.prior.uuid:
                found["uuid"] = item.prior.uuid  # the preview reads the current record
                found["custom"] = {c.key: c.value for c in item.row.custom}
            plan.samples[category].append(found)


def _count_unchanged(
    plan: SyncPlan, prepared: Prepared, classified: BatchResult, sample: int
) -> None:
    """Unchanged rows are counted unmapped; only the sampled ones are mapped (payloads)."""
    plan.counts["unchanged"] += len(classified.unchanged)
    wanted = sample - len(plan.samples["unchanged"])
    if wanted > 0:
        for row in map_unchanged(prepared, classified.unchanged[:wanted]):
            plan.samples["unchanged"].append({"key": row.key, "payload": dict(row.payload)})


def _count_kept(
    plan: SyncPlan, state: SyncState, name: str, gone: list[tuple[str, Prior]], sample: int
) -> set[str]:
    """Removed rows whose record a row of the model names: the run keeps them (as
    ``SyncEngine`` does, from the snapshot and the rows it would send)."""
    named = [(key, prior) for key, prior in gone if prior.uuid or prior.ref]
    if not named:
        return set()
    refs = sorted({prior.ref for _, prior in named if prior.ref})
    uuids = sorted({part for _, p in named for part in (p.uuid or "").split(",") if part})
    leaving = {key for key, _ in gone}
    holders = {k: p for k, p in state.sharing(name, refs, uuids) if k not in leaving}
    holders.update(plan.sent_refs)  # the row as the run would send it
    found = claimed(named, holders)
    plan.kept = len(found)
    for key, (holder, _) in sorted(found.items())[:sample]:
        prior = dict(gone)[key]
        record = f"external_id {prior.ref}" if prior.ref else f"uuid {prior.uuid}"
        plan.kept_samples.append({"key": key, "record": record, "now": holder})
    return set(found)


def _count_removed(
    plan: SyncPlan,
    gone: list[tuple[str, Prior]],
    on_delete: str,
    kind: str,
    sample: int,
    kept: set[str],
) -> None:
    for key, prior in gone:
        plan.no_records += no_record(prior)
        if key in kept:  # left the model, its record now another row's: not deleted
            continue
        # never accepted: counted only when the run looks its record up to delete it
        if prior.digest is None and not (on_delete == "delete" and unsure_removal(prior, kind)):
            continue
        if on_delete == "delete":
            plan.counts["deletes"] += 1
            if len(plan.samples["deletes"]) < sample:
                plan.samples["deletes"].append({"key": key, "uuid": prior.uuid})
        else:
            plan.removed_ignored += 1


def _category(change: Change, prior: Prior | None, mode: str) -> str:
    if change is Change.UNCHANGED:
        return "unchanged"
    if change is Change.ADDED and mode != "update":
        return "creates"
    if mode == "insert" and prior is not None and prior.digest is not None:
        return "unchanged"  # insert mode never updates a record that landed
    return "updates"


def _count_invalid(plan: SyncPlan, errors: list[RowError], rows: int, sample: int) -> None:
    plan.counts["invalid"] += rows
    for error in errors:
        if len(plan.samples["invalid"]) < sample:
            plan.samples["invalid"].append(
                {"key": error.key, "field": error.field, "message": error.message}
            )

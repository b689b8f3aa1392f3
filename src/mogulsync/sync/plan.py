"""``sync plan``: what a run would do, with zero writes to ChartMogul or to the snapshot."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from mogulsync.chartmogul import ChartMogulClient, ClientSettings
from mogulsync.config import AppConfig
from mogulsync.runs.models import RowError
from mogulsync.sync.batch import attach_children, classify_batch, prepare
from mogulsync.sync.connect import model_of, open_source, resolve_data_source
from mogulsync.sync.diff import Change, Prior
from mogulsync.sync.state import StateStore

DEFAULT_SAMPLE = 5
_CATEGORIES = ("creates", "updates", "deletes", "unchanged", "invalid")


@dataclass(slots=True)
class SyncPlan:
    """Counts per kind of change and a few samples of each."""

    sync: str
    object: str
    mode: str
    data_source: str
    #: the data source does not exist yet and would be created by the run
    creates_data_source: bool = False
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(_CATEGORIES, 0))
    samples: dict[str, list[dict[str, Any]]] = field(
        default_factory=lambda: {name: [] for name in _CATEGORIES}
    )
    #: rows that left the model but are kept (on_delete: ignore)
    removed_ignored: int = 0
    #: rows that changed in the model but whose record insert mode never updates
    changes_ignored: int = 0

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "sync": self.sync,
            "object": self.object,
            "mode": self.mode,
            "data_source": self.data_source,
            "creates_data_source": self.creates_data_source,
            "counts": self.counts,
            "removed_ignored": self.removed_ignored,
            "changes_ignored": self.changes_ignored,
            "samples": self.samples,
        }


async def plan_sync(
    config: AppConfig, name: str, settings: ClientSettings, *, sample: int = DEFAULT_SAMPLE
) -> SyncPlan:
    """Classify every row of the sync's model without sending anything."""
    model = model_of(config, name)
    sync = config.syncs[name]
    source = open_source(config, model)
    state = StateStore(config.state_dir)
    try:
        async with ChartMogulClient(settings) as client:
            uuid = await resolve_data_source(client, sync.data_source, create=False)
        schema = await asyncio.to_thread(source.compile, model)
        prepared = await asyncio.to_thread(prepare, config, name, source, schema)
        full = state.definition_changed(name, prepared.definition)
        result = SyncPlan(
            name,
            sync.object,
            sync.mode,
            uuid or sync.data_source or "mogulsync",
            creates_data_source=uuid is None,
        )
        state.start_seen()
        for batch in source.stream(model):
            rows = attach_children(prepared, source, batch)  # exactly what a run would send
            classified = classify_batch(prepared, state, rows, full=full)
            _count_invalid(result, classified.invalid, classified.invalid_rows, sample)
            for item in classified.rows:
                category = _category(item.change, item.prior, sync.mode)
                if category == "unchanged" and item.change is Change.CHANGED:
                    result.changes_ignored += 1
                result.counts[category] += 1
                if len(result.samples[category]) < sample:
                    result.samples[category].append(
                        {"key": item.row.key, "payload": dict(item.row.payload)}
                    )
        for key, prior in state.unseen(name):
            if prior.digest is None:
                continue
            if sync.on_delete == "delete":
                result.counts["deletes"] += 1
                if len(result.samples["deletes"]) < sample:
                    result.samples["deletes"].append({"key": key, "uuid": prior.uuid})
            else:
                result.removed_ignored += 1
        return result
    finally:
        state.close()
        source.close()


def _category(change: Change, prior: Prior | None, mode: str) -> str:
    if change is Change.UNCHANGED:
        return "unchanged"
    if change is Change.ADDED and mode != "update":
        return "creates"
    if mode == "insert" and prior is not None and prior.digest is not None and prior.uuid:
        return "unchanged"  # insert mode never updates a record that landed
    return "updates"


def _count_invalid(plan: SyncPlan, errors: list[RowError], rows: int, sample: int) -> None:
    plan.counts["invalid"] += rows
    for error in errors:
        if len(plan.samples["invalid"]) < sample:
            plan.samples["invalid"].append(
                {"key": error.key, "field": error.field, "message": error.message}
            )

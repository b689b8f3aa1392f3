"""One batch of model rows: primary keys, mapping, duplicate detection and diff.

Shared by the dry run (``sync plan``) and the real run, so both classify rows identically.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from mogulsync._gcpause import paused_gc
from mogulsync.config import AppConfig, ModelConfig, SyncConfig
from mogulsync.runs.models import RowError
from mogulsync.sync import fields as f
from mogulsync.sync.diff import Change, Prior, RowStatus, classify
from mogulsync.sync.mapping import LINE_ITEMS_KEY, MappedRow, Mapper, primary_key_of
from mogulsync.sync.state_protocol import SyncState
from mogulsync.warehouse import ModelSchema, Row, WarehouseSource


class Classified(NamedTuple):
    """A valid row and what the run does with it (a named tuple: one per row of a run)."""

    row: MappedRow
    change: Change
    prior: Prior | None


@dataclass(slots=True)
class BatchResult:
    """A batch split into classified rows and invalid ones."""

    rows: list[Classified] = field(default_factory=list)
    invalid: list[RowError] = field(default_factory=list)
    invalid_rows: int = 0


@dataclass(frozen=True, slots=True)
class Prepared:
    """What a run or plan works with, built once per sync."""

    name: str
    sync: SyncConfig
    model: ModelConfig
    mapper: Mapper
    child_model: ModelConfig | None
    definition: str


def prepare(config: AppConfig, name: str, source: WarehouseSource, schema: ModelSchema) -> Prepared:
    """Build the mapper (configuration problems raise here) and the sync's definition."""
    sync = config.syncs[name]
    model = config.models[sync.model]
    mapper = Mapper(name, sync, schema, model.primary_key_columns)
    child = None
    if sync.line_items is not None and sync.line_items.model is not None:
        child = config.models[sync.line_items.model]
        child_schema = source.compile(child)
        if sync.line_items.join_key not in child_schema.names:
            from mogulsync.sync.mapping import MappingConfigError

            raise MappingConfigError(
                name,
                [
                    (
                        f"syncs.{name}.line_items.join_key: model `{sync.line_items.model}` has no"
                        f" column `{sync.line_items.join_key}`"
                    )
                ],
            )
    definition = json.dumps(
        {
            "object": sync.object,
            "mode": sync.mode,
            "match": sync.match,
            "columns": mapper.columns,
            "custom": mapper.custom_types,
            "line_items": sync.line_items.model_dump() if sync.line_items else None,
            "transactions": sync.transactions_column,
            "data_source": sync.data_source,
        },
        sort_keys=True,
    )
    return Prepared(name, sync, model, mapper, child, definition)


def attach_children(
    prepared: Prepared, source: WarehouseSource, batch: Sequence[Row]
) -> list[Mapping[str, Any]]:
    """Invoice rows with their child-model line items attached (one query per batch)."""
    if prepared.child_model is None or prepared.sync.line_items is None:
        return list(batch)
    join_key = prepared.sync.line_items.join_key
    id_column = prepared.mapper.columns.get("external_id")
    if id_column is None:
        return list(batch)
    ids = [row.get(id_column) for row in batch if row.get(id_column) is not None]
    children: dict[str, list[dict[str, Any]]] = {}
    for child in source.rows_matching(prepared.child_model, join_key, ids):
        item = {k: v for k, v in child.items() if k in f.LINE_ITEM and v is not None}
        children.setdefault(str(child.get(join_key)), []).append(item)
    return [{**row, LINE_ITEMS_KEY: children.get(str(row.get(id_column)), [])} for row in batch]


def classify_batch(
    prepared: Prepared,
    state: SyncState,
    batch: Sequence[Mapping[str, Any]],
    *,
    full: bool,
    record_seen: bool = True,
) -> BatchResult:
    """Map, validate, de-duplicate and diff one batch."""
    with paused_gc():  # every object of the batch lives until the end: nothing to collect
        return _classify(prepared, state, batch, full=full, record_seen=record_seen)


def _classify(
    prepared: Prepared,
    state: SyncState,
    batch: Sequence[Mapping[str, Any]],
    *,
    full: bool,
    record_seen: bool,
) -> BatchResult:
    result = BatchResult()
    mapped: list[MappedRow] = []
    pk_label = ",".join(prepared.model.primary_key_columns)
    keys = _keys(batch, prepared.model.primary_key_columns)
    fresh = state.see([key for key in keys if key is not None]) if record_seen else None
    position = 0
    mapper = prepared.mapper
    for raw, key in zip(batch, keys, strict=True):
        if key is None:
            result.invalid_rows += 1
            result.invalid.append(
                RowError(
                    "",
                    pk_label,
                    f"primary key {pk_label} is null or blank",
                    "Every row needs a primary key: fix or filter these rows in the model.",
                    kind="invalid",
                )
            )
            continue
        is_new = fresh[position] if fresh is not None else True
        position += 1
        if not is_new:
            result.invalid_rows += 1
            result.invalid.append(
                RowError(
                    key,
                    pk_label,
                    f"duplicate primary key {key!r}: an earlier row of this run has it",
                    "Make the primary key unique in the model (e.g. GROUP BY or DISTINCT ON).",
                    kind="invalid",
                )
            )
            continue
        outcome = mapper.map(raw, key)
        if isinstance(outcome, list):
            result.invalid_rows += 1
            result.invalid.extend(
                RowError(p.key, p.field, p.message, p.fix, kind="invalid") for p in outcome
            )
            continue
        mapped.append(outcome)
    priors = state.priors(prepared.name, [row.key for row in mapped])
    rows = result.rows
    unchanged, synced = Change.UNCHANGED, RowStatus.SYNCED
    for row in mapped:
        prior = priors.get(row.key)
        if not full and prior is not None and prior.digest == row.digest and prior.status is synced:
            rows.append(Classified(row, unchanged, prior))  # classify()'s answer, inlined
        else:
            rows.append(Classified(row, classify(row.digest, prior, full=full), prior))
    return result


def _keys(batch: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> list[str | None]:
    """Each row's primary key (see :func:`primary_key_of`), fast for one-column keys."""
    if len(columns) != 1:
        return [primary_key_of(row, columns) for row in batch]
    column = columns[0]
    keys: list[str | None] = []
    for row in batch:
        value = row.get(column)
        text = value if type(value) is str or value is None else str(value)
        # "" or whitespace only is blank, exactly like primary_key_of's strip()
        keys.append(None if text is None or not text or text.isspace() else text)
    return keys

"""One batch of model rows: primary keys, duplicate detection, diff, then mapping.

Shared by the dry run (``sync plan``) and the real run, so both classify rows identically.
Rows are diffed by the digest of their raw values (:meth:`Mapper.row_digest`); only rows
that are new, changed or not yet accepted are mapped and validated. An unchanged row was
mapped, validated and accepted by ChartMogul with the same values and the same sync
definition, so mapping it again could only give the same payload.
"""

from __future__ import annotations

import json
from collections.abc import Container, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from mogulsync._gcpause import paused_gc
from mogulsync.config import AppConfig, ModelConfig, SyncConfig
from mogulsync.runs.models import RowError
from mogulsync.sync import fields as f
from mogulsync.sync.diff import Change, Prior, RowStatus, classify
from mogulsync.sync.mapping import (
    DIGEST_FORMAT,
    LINE_ITEMS_KEY,
    MappedRow,
    Mapper,
    primary_key_of,
)
from mogulsync.sync.state import StateStore
from mogulsync.sync.state_protocol import SyncState
from mogulsync.warehouse import ModelSchema, Row, WarehouseSource


class Classified(NamedTuple):
    """A valid row and what the run does with it (a named tuple: one per row of a run)."""

    row: MappedRow
    change: Change
    prior: Prior | None


@dataclass(slots=True)
class BatchResult:
    """A batch split into rows to act on, unchanged rows and invalid ones."""

    #: valid rows that are ADDED or CHANGED (never UNCHANGED: those are in ``unchanged``)
    rows: list[Classified] = field(default_factory=list)
    #: (key, raw row) of rows accepted before with the same digest: not mapped
    unchanged: list[tuple[str, Mapping[str, Any]]] = field(default_factory=list)
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
    described: dict[str, Any] = {
        "object": sync.object,
        "mode": sync.mode,
        "match": sync.match,
        "columns": mapper.columns,
        "custom": mapper.custom_types,
        "line_items": sync.line_items.model_dump() if sync.line_items else None,
        "transactions": sync.transactions_column,
        "data_source": sync.data_source,
    }
    if sync.state != "warehouse":
        # Snapshots written with another digest format read as a changed definition: one
        # full resend (docs/sync.md). A warehouse diff's digest is its SQL row hash instead.
        described["digest"] = DIGEST_FORMAT
    definition = json.dumps(described, sort_keys=True)
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
    first_row: int = 1,
    record_seen: bool = True,
) -> BatchResult:
    """De-duplicate and diff one batch; map and validate the rows to act on.

    ``first_row``: the 1-based position of ``batch[0]`` in the model as read in this run
    (rows of a warehouse diff carry their own, in :data:`ROW_COLUMN`); it names the rows
    whose key is null or repeated.
    """
    with paused_gc():  # every object of the batch lives until the end: nothing to collect
        return _classify(
            prepared, state, batch, full=full, first_row=first_row, record_seen=record_seen
        )


def _classify(
    prepared: Prepared,
    state: SyncState,
    batch: Sequence[Mapping[str, Any]],
    *,
    full: bool,
    first_row: int,
    record_seen: bool,
) -> BatchResult:
    result = BatchResult()
    keys = _keys(batch, prepared.model.primary_key_columns)
    present = [key for key in keys if key is not None]
    fresh = state.see(keys, first_row) if record_seen else None
    digests: Sequence[str | None]  # per row; None when its key is null or repeated (invalid)
    kept: dict[str, int] = {}  # repeated key -> row number of the row kept
    if len(present) == len(keys) and (fresh is None or all(fresh)):
        found = prepared.mapper.row_digests(batch)  # the usual batch: every key valid, once
        digests, wanted = found, dict(zip(present, found, strict=True))
    else:
        digests, wanted = _valid_digests(prepared.mapper, batch, keys, fresh)
        repeated = {k for k, d in zip(keys, digests, strict=True) if k is not None and d is None}
        if repeated:
            kept = state.seen_rows(sorted(repeated))
    look, priors = _to_look_at(prepared.name, state, wanted, full=full)
    if not look and len(wanted) == len(batch):  # nothing new, changed or invalid
        result.unchanged.extend(zip(present, batch, strict=True))
        return result
    mapper = prepared.mapper
    rows, unchanged = result.rows, result.unchanged
    # a second pass in row order, so errors keep the order of the model's rows
    for index, (raw, key, digest) in enumerate(zip(batch, keys, digests, strict=True)):
        if digest is None or key is None:
            result.invalid_rows += 1
            number = raw.get(ROW_COLUMN) or first_row + index
            result.invalid.append(_key_error(prepared, key, raw, number, kept))
            continue
        if key not in look and wanted[key] == digest:
            unchanged.append((key, raw))  # classify()'s UNCHANGED, without mapping the row
            continue
        prior = priors.get(key)
        outcome = mapper.build(raw, key, digest)
        if isinstance(outcome, list):
            result.invalid_rows += 1
            result.invalid.extend(
                RowError(p.key, p.field, p.message, p.fix, kind="invalid") for p in outcome
            )
            continue
        rows.append(Classified(outcome, classify(digest, prior, full=full), prior))
    return result


def _valid_digests(
    mapper: Mapper,
    batch: Sequence[Mapping[str, Any]],
    keys: Sequence[str | None],
    fresh: Sequence[bool] | None,
) -> tuple[list[str | None], dict[str, str]]:
    """Digests of the rows whose key is set and first seen (None for the others)."""
    chosen: list[tuple[int, str]] = []
    for index, key in enumerate(keys):
        if key is not None and (fresh is None or fresh[index]):
            chosen.append((index, key))
    found = mapper.row_digests([batch[index] for index, _key in chosen])
    digests: list[str | None] = [None] * len(batch)
    wanted: dict[str, str] = {}
    for (index, key), digest in zip(chosen, found, strict=True):
        digests[index] = digest
        wanted[key] = digest
    return digests, wanted


def _to_look_at(
    name: str, state: SyncState, wanted: dict[str, str], *, full: bool
) -> tuple[Container[str], dict[str, Prior]]:
    """Keys that are not unchanged (new, changed, not accepted yet), with their priors.

    The embedded store compares digests in SQL, so unchanged keys never reach Python;
    other stores answer with every key's prior and the comparison happens here.
    """
    if full:
        return wanted, state.priors(name, list(wanted))
    changed = state.changed_keys(name, wanted) if isinstance(state, StateStore) else None
    if changed is not None:
        return changed, state.priors(name, list(changed)) if changed else {}
    priors = state.priors(name, list(wanted))
    synced = RowStatus.SYNCED
    look = {
        key
        for key, digest in wanted.items()
        if (prior := priors.get(key)) is None
        or prior.digest != digest
        or prior.status is not synced
    }
    return look, priors


#: other values quoted after the row number of a row whose primary key is null: a model
#: without ORDER BY may return its rows in another order next time
_IDENTIFYING_VALUES = 3
_VALUE_CHARS = 40
#: the row number a warehouse diff streams with each row it finds invalid by key
ROW_COLUMN = "__mogulsync_row__"
#: columns the warehouse diff adds to a model row (never quoted as the row's values)
_INTERNAL_PREFIX = "__mogulsync_"


def null_key_label(row: int) -> str:
    """How a row whose primary key is null is named wherever its key would be shown."""
    return f"row {row} (primary key is null)"


def _key_error(
    prepared: Prepared,
    key: str | None,
    raw: Mapping[str, Any],
    row: int,
    kept: Mapping[str, int],
) -> RowError:
    """The error of row ``row``, whose primary key is null/blank (``key`` None) or repeated.

    A null key's error is keyed by :func:`null_key_label`; a repeated key's names the row
    kept (``kept``: the first row with that key, as read in this run).
    """
    columns = prepared.model.primary_key_columns
    label = ",".join(columns)
    if key is None:
        values = [
            f"{column}={str(value)[:_VALUE_CHARS]!r}"
            for column, value in raw.items()
            if value is not None
            and column not in columns
            and not column.startswith(_INTERNAL_PREFIX)
            and column != LINE_ITEMS_KEY
        ][:_IDENTIFYING_VALUES]
        which = f" (the row with {', '.join(values)})" if values else ""
        return RowError(
            null_key_label(row),
            label,
            f"primary key {label} is null or blank{which}",
            "Every row needs a primary key: fix or filter these rows in the model.",
            kind="invalid",
        )
    first = kept.get(key)
    if first is None or first == row:  # not expected: the kept row is always noted
        message = (
            f"duplicate primary key {key!r} (row {row}): the first row with this key was"
            f" kept and synced, row {row} skipped"
        )
    else:
        low, high = sorted((first, row))
        message = (
            f"duplicate primary key {key!r} (rows {low} and {high}):"
            f" row {first} was kept and synced, row {row} skipped"
        )
    return RowError(
        key,
        label,
        message,
        "Make the primary key unique in the model (e.g. GROUP BY or DISTINCT ON).",
        kind="invalid",
    )


def map_unchanged(
    prepared: Prepared, unchanged: Sequence[tuple[str, Mapping[str, Any]]]
) -> list[MappedRow]:
    """Unchanged rows mapped after all (``sync plan``'s payload samples)."""
    mapped: list[MappedRow] = []
    for key, raw in unchanged:
        outcome = prepared.mapper.map(raw, key)
        if isinstance(outcome, MappedRow):  # it was accepted with these values: valid
            mapped.append(outcome)
    return mapped


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

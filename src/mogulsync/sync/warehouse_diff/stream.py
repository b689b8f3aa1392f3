"""Streaming a warehouse diff into the engine (or ``sync plan``): only rows to look at.

:func:`open_diff` binds a :class:`WarehouseState` to the run's model and returns a
:class:`DiffStream`: batches of model rows that are new, changed, not yet accepted, invalid
by key or duplicated (those two with their row number in the model) — with the SQL row
hash as their digest (:class:`SqlDigestMapper`), so what the snapshot records is what the
next diff compares. Each row still goes through the
sync's mapper, validation and applier like any other.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Generator, Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from mogulsync.errors import ConfigError
from mogulsync.sync.batch import ROW_COLUMN, Prepared
from mogulsync.sync.mapping import Mapper, primary_key_of
from mogulsync.sync.warehouse_diff.query import DiffQuery, hashed_columns
from mogulsync.sync.warehouse_diff.sql import HASH_COLUMN, KEY_COLUMN
from mogulsync.sync.warehouse_diff.store import WarehouseState
from mogulsync.warehouse import ModelSchema, Row

#: repeated keys passed to the diff as a list; more are found again by the warehouse
INLINE_DUPLICATES = 1000


class SqlDigestMapper(Mapper):
    """The sync's mapper, with the warehouse's row hash as each mapped row's digest."""

    def row_digest(self, row: Mapping[str, Any]) -> str:
        """The row's SQL hash (what the snapshot table keeps and the diff query compares)."""
        return str(row[HASH_COLUMN])

    def row_digests(self, rows: Sequence[Mapping[str, Any]]) -> list[str]:
        """Each row's SQL hash."""
        return [str(row[HASH_COLUMN]) for row in rows]


class DiffStream:
    """One run's diff: its rows in batches, then how many rows were left unchanged."""

    def __init__(self, state: WarehouseState, query: DiffQuery, prepared: Prepared) -> None:
        self.state = state
        self.query = query
        self.prepared = prepared
        #: rows of the model, and rows the warehouse returned (the rest are unchanged)
        self.total = 0
        self.streamed = 0

    def batches(self, *, full: bool) -> Generator[Sequence[Row]]:
        """Rows to look at, ``batch_size`` at a time, through server-side cursors."""
        snapshot = self.state.snapshot if self.state.ready else None
        with self.state.engine.connect() as db:
            try:
                total, keyed, distinct = db.execute(self.query.stats()).one()
                self.total = int(total)
                if int(total) > int(keyed):  # rows with a null key: named by row number
                    yield from self._stream(db, self.query.null_key_rows(), dup=False)
                duplicates: list[str] | None = []
                if int(keyed) > int(distinct):
                    found = db.execute(self.query.duplicate_keys().limit(INLINE_DUPLICATES + 1))
                    duplicates = [str(key) for key in found.scalars()]
                    if len(duplicates) > INLINE_DUPLICATES:
                        duplicates = None  # too many to inline: the warehouse finds them
                    yield from self._stream(db, self.query.duplicate_rows(duplicates), dup=True)
                db.commit()  # end the read transaction before the long stream
                yield from self._stream(
                    db, self.query.changes(snapshot, full=full, duplicates=duplicates), dup=False
                )
            except sa.exc.SQLAlchemyError as exc:
                raise self.state.diff_error(exc) from None

    def _stream(
        self, db: sa.Connection, statement: sa.Select[Any], *, dup: bool
    ) -> Generator[Sequence[Row]]:
        size = self.state.warehouse.batch_size
        pk = self.prepared.model.primary_key_columns
        result = db.execution_options(stream_results=True, yield_per=size).execute(statement)
        keys = list(result.keys())
        while rows := result.fetchmany(size):
            batch = [dict(zip(keys, row, strict=True)) for row in rows]
            self.streamed += len(batch)
            if dup:
                self.state.note_duplicates(
                    (str(row[KEY_COLUMN]), int(row[ROW_COLUMN])) for row in batch
                )
            for row in batch:
                _same_key(row, pk)
            yield batch
        result.close()

    def unchanged(self) -> int:
        """Model rows the diff did not return: accepted with the same hash (after a stream)."""
        return max(self.total - self.streamed, 0)


def _same_key(row: Mapping[str, Any], pk: Sequence[str]) -> None:
    """The key the engine computes must be the one the SQL diff joined on."""
    sql_key = row[KEY_COLUMN]
    python_key = primary_key_of(row, pk)
    if sql_key is not None and python_key is not None and python_key != sql_key:
        raise ConfigError(
            f"primary key {python_key!r} reads as {sql_key!r} when the warehouse casts it to"
            " text, so the warehouse diff could not match it to its snapshot",
            hint="Cast the primary key column(s) to text in the model's SQL, or use state:"
            " embedded.",
        )


def open_diff(state: WarehouseState, prepared: Prepared, schema: ModelSchema) -> DiffStream:
    """Bind the state to the run's model; the diff to stream (the mapper digests by SQL hash)."""
    mapper = prepared.mapper
    query = DiffQuery(
        sync=prepared.name,
        model=prepared.model,
        names=schema.names,
        hashed=tuple(hashed_columns(prepared.sync, mapper.columns, list(mapper.custom_types))),
        default_schema=state.warehouse.schema_,
        dialect=state.engine.dialect.name,
    )
    state.bind(query)
    digesting = SqlDigestMapper(
        prepared.name, prepared.sync, schema, prepared.model.primary_key_columns
    )
    return DiffStream(state, query, dataclasses.replace(prepared, mapper=digesting))

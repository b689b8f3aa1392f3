"""The diff query: which model rows a run must look at, computed by the warehouse.

A first aggregate counts the model's rows, keyed rows and distinct keys (and, only when
keys repeat, lists the repeated ones). Then one statement joins the model (with its SQL key
and row hash) to the sync's snapshot and returns only rows that are new, changed or not yet
accepted (failed or in flight). Rows of repeated keys and rows with a null or blank key are
streamed apart, with their row number in the model (those of repeated keys in a stable
order), and only when the aggregate found some. Unchanged rows never leave the warehouse.
Rows that left the model are found with an anti-join (:meth:`DiffQuery.removed`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from mogulsync.config.sync import SyncConfig
from mogulsync.config.warehouse import ModelConfig
from mogulsync.sync.batch import ROW_COLUMN
from mogulsync.sync.diff import RowStatus
from mogulsync.sync.snapshot_sql import select_priors
from mogulsync.sync.warehouse_diff.sql import (
    HASH_COLUMN,
    KEY_COLUMN,
    hash_expr,
    key_expr,
    model_selectable,
    row_ordinal,
)

_MODEL = "mogulsync_model"
_KEYS = "mogulsync_keys"
_SNAPSHOT = "mogulsync_snapshot"


def hashed_columns(sync: SyncConfig, columns: dict[str, str], custom: Sequence[str]) -> list[str]:
    """Model columns whose values make up a row's payload (sorted: a stable hash)."""
    used = {*columns.values(), *custom}
    if sync.transactions_column:
        used.add(sync.transactions_column)
    if sync.line_items is not None and sync.line_items.column:
        used.add(sync.line_items.column)
    return sorted(used)


@dataclass(frozen=True, slots=True)
class DiffQuery:
    """The diff of one sync's model against its snapshot table, as SQLAlchemy statements."""

    sync: str
    model: ModelConfig
    names: tuple[str, ...]
    hashed: tuple[str, ...]
    default_schema: str | None
    #: the warehouse's SQLAlchemy dialect name (where a SQL model's text ends)
    dialect: str | None = None

    def _model(self, alias: str) -> sa.Subquery | sa.TableClause:
        return model_selectable(self.model, self.names, self.default_schema, alias, self.dialect)

    def _key(self, source: sa.Subquery | sa.TableClause) -> sa.ColumnElement[str]:
        return key_expr([source.c[name] for name in self.model.primary_key_columns])

    def stats(self) -> sa.Select[int, int, int]:
        """Rows of the model, rows with a key, distinct keys (fewer: duplicates exist)."""
        model = self._model(_MODEL)
        key = self._key(model)
        return sa.select(sa.func.count(), sa.func.count(key), sa.func.count(sa.distinct(key)))

    def duplicate_keys(self) -> sa.Select[Any]:
        """Keys found on more than one row of the model."""
        model = self._model(f"{_MODEL}_dup")
        key = self._key(model).label(KEY_COLUMN)
        return sa.select(key).where(key.isnot(None)).group_by(key).having(sa.func.count() > 1)

    def _keyed(self, *, numbered: bool = False) -> sa.Subquery:
        """The model with its key and row hash (and, ``numbered``, each row's number)."""
        model = self._model(_MODEL)
        extra = [row_ordinal().label(ROW_COLUMN)] if numbered else []
        return sa.select(
            *(model.c[name] for name in self.names),
            self._key(model).label(KEY_COLUMN),
            hash_expr([model.c[name] for name in self.hashed]).label(HASH_COLUMN),
            *extra,
        ).subquery(_KEYS)

    def _is_duplicate(
        self, key: sa.ColumnElement[str], duplicates: Sequence[str] | None
    ) -> sa.ColumnElement[bool]:
        # Few duplicate keys (the usual case) are inlined; many are found by the warehouse.
        if duplicates is None:
            return key.in_(self.duplicate_keys().scalar_subquery())
        return key.in_(list(duplicates))

    def duplicate_rows(self, duplicates: Sequence[str] | None) -> sa.Select[Any]:
        """Every row of a duplicated key with its row number, the same one first on every run.

        ``duplicates`` None: too many to inline, the warehouse finds them again. The row
        number is counted over the whole model before the filter (a window in the subquery).
        """
        keyed = self._keyed(numbered=True)
        key = keyed.c[KEY_COLUMN]
        return (
            sa.select(keyed)
            .where(self._is_duplicate(key, duplicates))
            .order_by(key, keyed.c[HASH_COLUMN], keyed.c[ROW_COLUMN])
        )

    def null_key_rows(self) -> sa.Select[Any]:
        """Rows whose key is null or blank, with their row number in the model."""
        keyed = self._keyed(numbered=True)
        return sa.select(keyed).where(keyed.c[KEY_COLUMN].is_(None)).order_by(keyed.c[ROW_COLUMN])

    def changes(
        self, snapshot: sa.Table | None, *, full: bool, duplicates: Sequence[str] | None = ()
    ) -> sa.Select[Any]:
        """Model rows of unique keys to look at, with their key and row hash.

        ``snapshot`` None (no snapshot table yet): every row is new. Rows of duplicated keys
        and of null keys are left out (:meth:`duplicate_rows` and :meth:`null_key_rows`
        stream them).
        """
        keyed = self._keyed()
        key = keyed.c[KEY_COLUMN]
        query = sa.select(keyed).where(key.isnot(None))
        if duplicates is None or duplicates:
            query = query.where(~self._is_duplicate(key, duplicates))
        if full or snapshot is None:
            return query
        prior = (
            sa.select(snapshot.c.pk, snapshot.c.digest, snapshot.c.status)
            .where(snapshot.c.sync == self.sync)
            .subquery(_SNAPSHOT)
        )
        return query.select_from(keyed.outerjoin(prior, prior.c.pk == key)).where(
            sa.or_(
                prior.c.pk.is_(None),
                prior.c.digest.is_(None),
                prior.c.status != RowStatus.SYNCED.value,
                prior.c.digest != keyed.c[HASH_COLUMN],
            )
        )

    def removed(self, snapshot: sa.Table) -> sa.Select[Any]:
        """Snapshot rows of this sync whose key no row of the model has any more."""
        model = self._model(_MODEL)
        present = sa.exists().where(self._key(model) == snapshot.c.pk)
        return (
            select_priors(snapshot)
            .where(snapshot.c.sync == self.sync, ~present)
            .order_by(snapshot.c.pk)
        )

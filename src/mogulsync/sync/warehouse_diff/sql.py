"""Portable SQL expressions of the warehouse-native diff, built with SQLAlchemy Core.

* :func:`key_expr` — a row's primary key as text, exactly like
  :func:`mogulsync.sync.mapping.primary_key_of` (parts cast to text, joined with ``|``;
  NULL when any part is null or blank).
* :func:`hash_expr` — a digest of the columns a sync's mapping uses: each value is cast to
  text and written as ``n`` (null) or ``v<length>:<text>``, so the encoding is injective
  (no separator or null marker can collide with data), then hashed with MD5 as 32 hex
  characters. :class:`row_hash` compiles per dialect: ``md5(x)`` where MD5 returns hex text
  (PostgreSQL, DuckDB, Snowflake, MySQL), ``TO_HEX(MD5(x))`` on BigQuery, whose MD5 returns
  bytes.
* :class:`row_ordinal` — a row's 1-based position in the model as this query reads it
  (``ROW_NUMBER() OVER ()``; Snowflake requires an ORDER BY: a constant one). Only the
  queries that find rows invalid by key use it: a window over the whole model would slow the
  diff itself (BigQuery runs an unpartitioned window on one worker).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import GenericFunction

from mogulsync.config.warehouse import ModelConfig
from mogulsync.warehouse.model_sql import subquery_sql

#: names of the columns the diff adds to each streamed model row (and, to rows invalid by
#: key, their row number: :data:`mogulsync.sync.batch.ROW_COLUMN`)
KEY_COLUMN = "__mogulsync_key__"
HASH_COLUMN = "__mogulsync_hash__"
MODEL_ALIAS = "mogulsync_model"
KEY_SEPARATOR = "|"
_NULL = "n"
_VALUE = "v"
_LENGTH_END = ":"


class row_hash(GenericFunction[str]):  # noqa: N801 - SQL function names are lower case
    """MD5 of a text expression as 32 lower-case hex characters, on every dialect."""

    type = sa.String()
    name = "mogulsync_row_hash"
    inherit_cache = True


@compiles(row_hash)
def _md5_hex(element: row_hash, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(sa.func.md5(*element.clauses.clauses), **kw)


@compiles(row_hash, "bigquery")
def _md5_bytes_to_hex(element: row_hash, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(sa.func.to_hex(sa.func.md5(*element.clauses.clauses)), **kw)


class row_ordinal(ColumnElement[int]):  # noqa: N801 - reads as the SQL it compiles to
    """The row's position in the model as read by this query: ``ROW_NUMBER() OVER ()``."""

    type = sa.BigInteger()
    inherit_cache = True


@compiles(row_ordinal)
def _row_number(element: row_ordinal, compiler: SQLCompiler, **kw: Any) -> str:  # noqa: ARG001
    return "ROW_NUMBER() OVER ()"


@compiles(row_ordinal, "snowflake")
def _row_number_ordered(element: row_ordinal, compiler: SQLCompiler, **kw: Any) -> str:  # noqa: ARG001
    return "ROW_NUMBER() OVER (ORDER BY 1)"  # a constant order: the rows' own order


def as_text(column: ColumnElement[Any]) -> ColumnElement[str]:
    """A column cast to the dialect's text type."""
    return sa.cast(column, sa.String)


def key_expr(columns: Sequence[ColumnElement[Any]]) -> ColumnElement[str]:
    """The primary key as text; NULL when a part is null or blank."""
    missing = sa.or_(
        *(sa.or_(column.is_(None), sa.func.trim(as_text(column)) == "") for column in columns)
    )
    joined: ColumnElement[str] = as_text(columns[0])
    for column in columns[1:]:
        joined = joined + sa.literal(KEY_SEPARATOR) + as_text(column)
    return sa.case((missing, sa.null()), else_=joined)


def hash_expr(columns: Sequence[ColumnElement[Any]]) -> ColumnElement[str]:
    """A NULL-safe, injective digest of the given columns' text values."""
    material: ColumnElement[str] | None = None
    for column in columns:
        text = as_text(column)
        part = sa.case(
            (column.is_(None), sa.literal(_NULL)),
            else_=sa.literal(_VALUE)
            + as_text(sa.func.length(text))
            + sa.literal(_LENGTH_END)
            + text,
        )
        material = part if material is None else material + part
    if material is None:  # nothing mapped: every row hashes alike
        material = sa.literal(_NULL)
    return row_hash(material)


def model_selectable(
    model: ModelConfig,
    names: Sequence[str],
    default_schema: str | None,
    alias: str,
    dialect: str | None = None,
) -> sa.Subquery | sa.TableClause:
    """The model as a FROM element with its columns: a table, or its SQL as a subquery
    (``dialect``: the warehouse's, which tells where that SQL ends)."""
    columns: list[sa.ColumnClause[Any]] = [sa.column(name) for name in names]
    if model.table is not None:
        parts = model.table.split(".")
        schema = ".".join(parts[:-1]) or default_schema
        return sa.table(parts[-1], *columns, schema=schema).alias(alias)  # type: ignore[return-value]
    assert model.sql is not None  # guaranteed by ModelConfig's validator
    return sa.text(subquery_sql(model.sql, dialect)).columns(*columns).subquery(alias)

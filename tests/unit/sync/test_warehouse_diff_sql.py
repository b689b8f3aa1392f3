"""The warehouse-diff SQL: portable across dialects, NULL-safe and injective row hashes."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import uuid
from collections.abc import Iterator
from typing import Any

import duckdb
import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine.default import DefaultDialect

from mogulsync.config import ConfigValidationError, ModelConfig, parse_config
from mogulsync.sync.batch import ROW_COLUMN
from mogulsync.sync.warehouse_diff import DiffQuery, snapshot_tables
from mogulsync.sync.warehouse_diff.sql import (
    HASH_COLUMN,
    KEY_COLUMN,
    hash_expr,
    key_expr,
    row_hash,
    row_ordinal,
)

QUERY = DiffQuery(
    sync="customers",
    model=ModelConfig(warehouse="w", sql="select * from accounts", primary_key=["id", "region"]),
    names=("id", "region", "name", "seats"),
    hashed=("id", "name", "seats"),
    default_schema=None,
)


def _statements() -> list[sa.ClauseElement]:
    _, snapshot, _ = snapshot_tables("mogulsync")
    return [
        QUERY.changes(snapshot, full=False),
        QUERY.changes(snapshot, full=False, duplicates=["a|eu"]),
        QUERY.changes(snapshot, full=False, duplicates=None),
        QUERY.changes(None, full=True),
        QUERY.duplicate_rows(["a|eu"]),
        QUERY.duplicate_rows(None),
        QUERY.null_key_rows(),
        QUERY.stats(),
        QUERY.removed(snapshot),
    ]


def _dialect(name: str) -> sa.Dialect:
    if name == "snowflake":
        module = pytest.importorskip("snowflake.sqlalchemy")
        return module.snowdialect.dialect()
    module = pytest.importorskip("sqlalchemy_bigquery")
    return module.BigQueryDialect()


def _value_part(column: str, text: str) -> str:
    as_text = f"CAST({column} AS {text})"
    return (
        f"CASE WHEN ({column} IS NULL) THEN 'n'"
        f" ELSE 'v' || CAST(length({as_text}) AS {text}) || ':' || {as_text} END"
    )


def _blank(column: str, text: str) -> str:
    return f"{column} IS NULL OR trim(CAST({column} AS {text})) = ''"


# Snowflake and BigQuery cannot run here: their exact text is pinned instead (the same
# expressions run on DuckDB and PostgreSQL below). BigQuery's MD5 returns bytes: TO_HEX.
# Snowflake's ROW_NUMBER needs an ORDER BY: a constant one keeps the rows' own order.
@pytest.mark.parametrize(
    ("name", "a", "b", "text", "wrap", "ordinal"),
    [
        ("snowflake", "t.a", "t.b", "VARCHAR", "md5({})", "ROW_NUMBER() OVER (ORDER BY 1)"),
        ("bigquery", "`t`.`a`", "`t`.`b`", "STRING", "to_hex(md5({}))", "ROW_NUMBER() OVER ()"),
    ],
)
def test_key_and_hash_text_per_unrunnable_dialect(name, a, b, text, wrap, ordinal):
    """Key and row hash compile to the exact expressions the DuckDB/PostgreSQL runs check."""
    dialect = _dialect(name)
    table = sa.table("t", sa.column("a"), sa.column("b"))

    def compiled(expression: sa.ColumnElement[str]) -> str:
        return str(expression.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))

    material = f"{_value_part(a, text)} || {_value_part(b, text)}"
    assert compiled(hash_expr([table.c.a, table.c.b])) == wrap.format(material)
    assert compiled(key_expr([table.c.a, table.c.b])) == (
        f"CASE WHEN ({_blank(a, text)} OR {_blank(b, text)}) THEN NULL"
        f" ELSE CAST({a} AS {text}) || '|' || CAST({b} AS {text}) END"
    )
    assert compiled(row_ordinal()) == ordinal
    assert f"{ordinal} AS " in str(QUERY.null_key_rows().compile(dialect=dialect))
    for statement in _statements():  # every statement compiles for the dialect
        assert str(statement.compile(dialect=dialect))


def _digest(*values: object) -> str:
    """The row hash computed in Python from its documented encoding."""
    text = "".join("n" if v is None else f"v{len(str(v))}:{v}" for v in values)
    return hashlib.md5(text.encode()).hexdigest()


MODEL_ROWS = [
    ("1", "eu", "A", 1),  # synced, same digest: unchanged
    ("2", "eu", "B", 2),  # synced, other digest: changed
    ("3", "eu", "C", 3),  # not in the snapshot: new
    ("4", "eu", "D", 4),  # failed last time: again
    ("6", "eu", "F", 6),  # no digest recorded: again
    (" ", "eu", "G", 7),  # blank key part: key NULL, always looked at
    ("5", "eu", "E", 5),  # two rows share key 5|eu
    ("5", "eu", "E2", 8),
]


def _snapshot_rows(sync: str) -> list[dict[str, object]]:
    stamp = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    rows = [
        (sync, "1|eu", _digest("1", "A", 1), "synced"),
        (sync, "2|eu", _digest("2", "B", 99), "synced"),
        (sync, "4|eu", _digest("4", "D", 4), "failed"),
        (sync, "6|eu", None, "synced"),
        (sync, "9|eu", _digest("9", "Z", 9), "synced"),  # left the model: removed
        # another sync's rows neither hide nor add anything
        ("other", "2|eu", _digest("2", "B", 2), "synced"),
        ("other", "3|eu", _digest("3", "C", 3), "synced"),
        ("other", "8|eu", _digest("8", "Y", 8), "synced"),
    ]
    return [
        {"sync": s, "pk": pk, "digest": d, "status": st, "updated_at": stamp}
        for s, pk, d, st in rows
    ]


@pytest.fixture(params=["duckdb", "postgresql"])
def warehouse(request, tmp_path) -> Iterator[sa.Engine]:
    if request.param == "duckdb":
        url = f"duckdb:///{tmp_path / 'w.duckdb'}"
    else:
        url = request.getfixturevalue("postgres_server").url
        url = url.replace("postgresql://", "postgresql+psycopg://", 1)
    engine = sa.create_engine(url)
    yield engine
    engine.dispose()  # close pooled connections now, not at interpreter exit


def test_statements_select_the_right_rows(warehouse: sa.Engine) -> None:
    """On DuckDB and PostgreSQL: stats, changes, duplicates and removals, row by row."""
    schema = f"diff_{uuid.uuid4().hex[:8]}"
    metadata, snapshot, _ = snapshot_tables(schema)
    query = dataclasses.replace(
        QUERY, model=QUERY.model.model_copy(update={"sql": f"select * from {schema}.accounts"})
    )
    with warehouse.begin() as db:
        db.execute(sa.text(f"create schema {schema}"))
        metadata.create_all(db)
        db.execute(
            sa.text(f"create table {schema}.accounts (id text, region text, name text, seats int)")
        )
        db.execute(
            sa.text(f"insert into {schema}.accounts values (:i, :r, :n, :s)"),
            [dict(zip("irns", row, strict=True)) for row in MODEL_ROWS],
        )
        db.execute(snapshot.insert(), _snapshot_rows(QUERY.sync))

    def keys(statement: sa.Select[Any]) -> list[str | None]:
        with warehouse.connect() as db:
            found = [row._mapping[KEY_COLUMN] for row in db.execute(statement)]
        return sorted(found, key=lambda key: (key is None, key or ""))

    with warehouse.connect() as db:
        assert tuple(db.execute(query.stats()).one()) == (8, 7, 6)
        removed = [row.pk for row in db.execute(query.removed(snapshot))]
        doubled = db.execute(query.duplicate_rows(["5|eu"])).mappings().all()
        nulls = db.execute(query.null_key_rows()).mappings().all()
        hashes = dict(
            db.execute(
                sa.select(
                    sa.literal_column("k.id"), sa.literal_column(f'k."{HASH_COLUMN}"')
                ).select_from(query.changes(None, full=True).subquery("k"))
            ).all()
        )
    again = ["2|eu", "3|eu", "4|eu", "6|eu"]  # null keys: streamed apart (null_key_rows)
    assert keys(query.changes(snapshot, full=False, duplicates=["5|eu"])) == again
    assert keys(query.changes(snapshot, full=False, duplicates=None)) == again
    assert keys(query.changes(snapshot, full=False)) == [
        "2|eu",
        "3|eu",
        "4|eu",
        "5|eu",
        "5|eu",
        "6|eu",
    ]
    assert keys(query.changes(None, full=True, duplicates=["5|eu"])) == [
        "1|eu",
        "2|eu",
        "3|eu",
        "4|eu",
        "6|eu",
    ]
    # both rows of the repeated key, in row-hash order (the same first on every run)
    by_hash = sorted([(_digest("5", "E", 5), "E"), (_digest("5", "E2", 8), "E2")])
    assert [(r[KEY_COLUMN], r["name"]) for r in doubled] == [("5|eu", n) for _, n in by_hash]
    # each with its position in the model (counted before the filter): E is row 7, E2 row 8
    assert {r["name"]: r[ROW_COLUMN] for r in doubled} == {"E": 7, "E2": 8}
    assert [(r[KEY_COLUMN], r["name"], r[ROW_COLUMN]) for r in nulls] == [(None, "G", 6)]
    assert keys(query.duplicate_rows(None)) == ["5|eu", "5|eu"]
    assert removed == ["9|eu"]
    assert hashes["3"] == _digest("3", "C", 3)
    assert nulls[0][HASH_COLUMN] == _digest(" ", "G", 7)


def test_bigquery_hash_is_hex_text():
    """BigQuery's MD5 returns bytes: the row hash wraps it in TO_HEX; others call md5 directly."""

    class BigQueryLike(DefaultDialect):
        name = "bigquery"

    expression = row_hash(sa.literal_column("x"))
    assert str(expression.compile(dialect=BigQueryLike())) == "to_hex(md5(x))"
    assert str(expression.compile(dialect=postgresql.dialect())) == "md5(x)"


def _hashes(rows: list[tuple[object, object]]) -> list[str | None]:
    table = sa.table("t", sa.column("a"), sa.column("b"))
    query = sa.select(hash_expr([table.c.a, table.c.b]))
    import duckdb_engine

    sql = str(
        query.compile(dialect=duckdb_engine.Dialect(), compile_kwargs={"literal_binds": True})
    )
    db = duckdb.connect()
    db.execute("create table t (a varchar, b varchar)")
    found = []
    for row in rows:
        db.execute("delete from t")
        db.execute("insert into t values (?, ?)", row)
        found.append(db.execute(sql).fetchone()[0])
    return found


def test_row_hash_is_null_safe_and_injective():
    """NULL, '', 'n' and values shifted across columns all hash differently; MD5 as 32 hex."""
    rows: list[tuple[object, object]] = [
        (None, "x"),
        ("", "x"),
        ("n", "x"),
        ("a|", "b"),
        ("a", "|b"),
        ("v1:a", None),
    ]
    hashes = _hashes(rows)
    assert len(set(hashes)) == len(rows)
    assert hashes[3] == hashlib.md5(b"v2:a|v1:b").hexdigest()


def test_key_is_null_for_blank_parts_and_joined_with_a_bar():
    """A composite key reads like primary_key_of: parts joined by |, NULL when one is blank."""
    table = sa.table("t", sa.column("a"), sa.column("b"))
    import duckdb_engine

    query = sa.select(key_expr([table.c.a, table.c.b]))
    sql = str(
        query.compile(dialect=duckdb_engine.Dialect(), compile_kwargs={"literal_binds": True})
    )
    db = duckdb.connect()
    db.execute("create table t (a varchar, b integer)")
    db.execute("insert into t values ('x', 1), (' ', 2), ('y', null)")
    assert [row[0] for row in db.execute(sql).fetchall()] == ["x|1", None, None]


def _raw(sync: dict[str, object], **top: object) -> dict[str, object]:
    return {
        "chartmogul": {"api_key": "${K}"},
        "warehouses": {"main": "duckdb:///w.duckdb"},
        "models": {
            "invoices": {"warehouse": "main", "table": "i", "primary_key": "id"},
            "lines": {"warehouse": "main", "table": "l", "primary_key": "id"},
        },
        "syncs": {"invoices": {"model": "invoices", "object": "invoice", "mode": "insert", **sync}},
        **top,
    }


def test_warehouse_state_refuses_child_model_line_items():
    """Child-model line items are outside the SQL row hash: a clear error names the sync."""
    sync = {"state": "warehouse", "line_items": {"model": "lines"}}
    with pytest.raises(ConfigValidationError, match=r"syncs\.invoices: .*child-model line items"):
        parse_config(_raw(sync), env={"K": "k"})
    accepted = parse_config(
        _raw({"state": "warehouse", "line_items": {"column": "lines"}}), env={"K": "k"}
    )
    assert accepted.syncs["invoices"].state == "warehouse"


def test_state_store_takes_a_postgres_url_from_the_environment():
    """state_store.url must be PostgreSQL; the schema defaults to mogulsync."""
    config = parse_config(
        _raw({}, state_store={"url": "${U}"}), env={"K": "k", "U": "postgresql://h/db"}
    )
    assert config.state_store is not None
    assert config.state_store.schema_ == "mogulsync"
    with pytest.raises(ConfigValidationError, match=r"state_store\.url: .*PostgreSQL URL"):
        parse_config(_raw({}, state_store={"url": "${U}"}), env={"K": "k", "U": "duckdb:///x"})

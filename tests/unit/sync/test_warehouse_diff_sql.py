"""The warehouse-diff SQL: portable across dialects, NULL-safe and injective row hashes."""

from __future__ import annotations

import hashlib

import duckdb
import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine.default import DefaultDialect

from mogulsync.config import ConfigValidationError, ModelConfig, parse_config
from mogulsync.sync.warehouse_diff import DiffQuery, snapshot_tables
from mogulsync.sync.warehouse_diff.sql import hash_expr, key_expr, row_hash

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
        QUERY.stats(),
        QUERY.removed(snapshot),
    ]


def _dialect(name: str) -> sa.Dialect:
    if name == "postgresql":
        return postgresql.dialect()
    if name == "duckdb":
        import duckdb_engine

        return duckdb_engine.Dialect()
    if name == "snowflake":
        module = pytest.importorskip("snowflake.sqlalchemy")
        return module.snowdialect.dialect()
    module = pytest.importorskip("sqlalchemy_bigquery")
    return module.BigQueryDialect()


@pytest.mark.parametrize("name", ["postgresql", "duckdb", "snowflake", "bigquery"])
def test_every_statement_compiles_for_the_dialect(name):
    """The diff, stats, duplicates and removal statements compile with no dialect-specific text."""
    dialect = _dialect(name)
    for statement in _statements():
        sql = str(statement.compile(dialect=dialect))
        assert "md5" in sql.lower() or "count" in sql.lower() or "not (exists" in sql.lower()


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

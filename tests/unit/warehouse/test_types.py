"""Warehouse column types map to ChartMogul custom-attribute types; DuckDB compiles models."""

from __future__ import annotations

import datetime as dt
import decimal

import duckdb
import pytest

from mogulsync.config import ModelConfig, WarehouseConfig
from mogulsync.warehouse import ModelCompileError, SqlAlchemySource, attribute_type_for
from mogulsync.warehouse.types import describe_type


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("INTEGER", "Integer"), ("BIGINT", "Integer"), ("HUGEINT", "Integer"),
        ("DECIMAL(10,2)", "Decimal"), ("DOUBLE", "Decimal"), ("NUMERIC", "Decimal"),
        ("TIMESTAMP WITH TIME ZONE", "Timestamp"), ("DATE", "Timestamp"),
        ("BOOLEAN", "Boolean"), ("VARCHAR", "String"), ("VARCHAR[]", "String"),
        ("JSON", "String"), (23, "Integer"), (1700, "Decimal"), (1184, "Timestamp"),
        (16, "Boolean"), (25, "String"), (int, "Integer"), (bool, "Boolean"),
        (decimal.Decimal, "Decimal"), (dt.datetime, "Timestamp"), (str, "String"),
    ],
)  # fmt: skip
def test_attribute_types(code, expected):
    """Type names, PostgreSQL OIDs and Python types all map."""
    assert attribute_type_for(code) == expected


@pytest.fixture
def source(tmp_path):
    db = duckdb.connect(str(tmp_path / "w.duckdb"))
    db.execute("create table t as select i as id, i * 1.5 as x from range(7) r(i)")
    db.close()
    config = WarehouseConfig(url=f"duckdb:///{tmp_path / 'w.duckdb'}", batch_size=3)
    warehouse = SqlAlchemySource("main", config)
    yield warehouse
    warehouse.close()


def test_duckdb_compile_stream_and_errors(source):
    """A model compiles without reading rows, streams in batches, and bad SQL is explained."""
    model = ModelConfig(warehouse="main", sql="select * from t;", primary_key="id")
    schema = source.compile(model)
    assert [c.attribute_type for c in schema.columns] == ["Integer", "Decimal"]
    assert [len(batch) for batch in source.stream(model)] == [3, 3, 1]
    with pytest.raises(ModelCompileError, match="does not compile"):
        source.compile(ModelConfig(warehouse="main", sql="select nope from t", primary_key="id"))
    with pytest.raises(ModelCompileError, match="primary key"):
        source.compile(ModelConfig(warehouse="main", table="t", primary_key="uuid"))


@pytest.mark.parametrize(
    ("name", "scale", "expected", "described"),
    [
        ("FIXED", 0, "Integer", "NUMBER(38,0)"), ("FIXED", 2, "Decimal", "NUMBER(38,2)"),
        ("REAL", None, "Decimal", "FLOAT"), ("TEXT", None, "String", "TEXT"),
        ("DATE", None, "Timestamp", "DATE"), ("TIMESTAMP_NTZ", None, "Timestamp", "TIMESTAMP_NTZ"),
        ("TIMESTAMP_LTZ", None, "Timestamp", "TIMESTAMP_LTZ"),
        ("TIMESTAMP_TZ", None, "Timestamp", "TIMESTAMP_TZ"), ("BOOLEAN", None, "Boolean", "BOOLEAN"),
        ("VARIANT", None, "String", "VARIANT"), ("ARRAY", None, "String", "ARRAY"),
        ("TIME", None, "String", "TIME"), ("VECTOR", None, "String", "VECTOR"),
    ],
)  # fmt: skip
def test_snowflake_type_codes_are_not_read_as_postgresql_oids(name, scale, expected, described):
    """Snowflake's connector describes columns with its own small integer codes (0 = FIXED,
    13 = BOOLEAN, ...), which were read as PostgreSQL OIDs: every Snowflake column was a
    String attribute (NUMBER, TIMESTAMP and BOOLEAN alike; VECTOR, code 16, a Boolean), and
    ChartMogul locks an attribute's type at its first value. The codes come from the
    installed connector, so a change there fails here."""
    constants = pytest.importorskip("snowflake.connector.constants")
    code = next(key for key, value in constants.FIELD_ID_TO_NAME.items() if value == name)
    assert attribute_type_for(code, dialect="snowflake", scale=scale) == expected
    precision = 38 if name == "FIXED" else None
    assert describe_type(code, dialect="snowflake", precision=precision, scale=scale) == described
    # PostgreSQL's OIDs are still read as such (20 = bigint, 16 = boolean)
    assert attribute_type_for(20, dialect="postgresql") == "Integer"
    assert attribute_type_for(16) == "Boolean"


@pytest.mark.parametrize("code", ["BIGNUMERIC", "BIGDECIMAL"])
def test_bigquery_bignumeric_is_decimal(code):
    """BigQuery's BIGNUMERIC (alias BIGDECIMAL) was a String attribute: no pattern matched."""
    assert attribute_type_for(code, dialect="bigquery") == "Decimal"


def test_compiled_column_names_are_the_streamed_row_keys(tmp_path):
    """Dialects that normalise names (Snowflake: unquoted ``ID`` is ``id`` in SQLAlchemy's
    result keys) read the model's rows under the normalised names, but ``compile`` took the
    raw ``cursor.description`` names: ``primary_key: id`` was "not in the model's columns
    (ID, NAME)", and with ``primary_key: ID`` every streamed row's key was null. No
    Snowflake server is reachable here, so a real DuckDB engine is given Snowflake's
    ``requires_name_normalize``; SQLAlchemy's own normalisation does the rest."""
    db = duckdb.connect(str(tmp_path / "w.duckdb"))
    db.execute("""create table t as select 'a' as ID, 'N' as NAME, 1 as "MixedCase" """)
    db.close()
    warehouse = SqlAlchemySource("main", WarehouseConfig(url=f"duckdb:///{tmp_path / 'w.duckdb'}"))
    warehouse._engine.dialect.requires_name_normalize = True  # as Snowflake's dialect
    model = ModelConfig(warehouse="main", table="t", primary_key="id")
    try:
        schema = warehouse.compile(model)
        ((row,),) = list(warehouse.stream(model))
    finally:
        warehouse.close()
    assert [column.name for column in schema.columns] == list(row) == ["id", "name", "MixedCase"]
    assert [column.attribute_type for column in schema.columns] == ["String", "String", "Integer"]

"""Warehouse column types map to ChartMogul custom-attribute types; DuckDB compiles models."""

from __future__ import annotations

import datetime as dt
import decimal

import duckdb
import pytest

from mogulsync.config import ModelConfig, WarehouseConfig
from mogulsync.warehouse import ModelCompileError, SqlAlchemySource, attribute_type_for


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

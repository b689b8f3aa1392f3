"""`python -m mogulsync.sample_warehouse` replaces a file only when it is an earlier sample.

The sample's table names (accounts, contacts, plans, invoices, ...) are likely names in a
real warehouse too, and a real warehouse that was synced holds the `mogulsync` schema just
like a synced sample: the tables' columns must be the sample's as well.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from mogulsync import sample_warehouse


def _real_warehouse(path: Path) -> None:
    """A real warehouse with the sample's table names, synced (sync logs written)."""
    with duckdb.connect(str(path)) as db:
        for table in sorted(sample_warehouse.SAMPLE_TABLES):
            db.execute(f"CREATE TABLE {table} (id VARCHAR PRIMARY KEY, revenue BIGINT)")
            db.execute(f"INSERT INTO {table} VALUES ('{table}-1', 42)")
        db.execute("CREATE SCHEMA mogulsync")
        db.execute("CREATE TABLE mogulsync.sync_log (run_id VARCHAR)")


def test_a_synced_warehouse_with_the_sample_table_names_is_not_replaced(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    real = tmp_path / "warehouse.duckdb"
    _real_warehouse(real)
    assert not sample_warehouse.is_sample_warehouse(real)
    with pytest.raises(SystemExit) as refused:
        sample_warehouse.main([str(real)])
    assert refused.value.code == 2
    assert "is not a sample warehouse: nothing was changed" in capsys.readouterr().err
    with duckdb.connect(str(real), read_only=True) as db:
        assert db.execute("SELECT revenue FROM accounts").fetchall() == [(42,)]


def test_a_sample_with_a_column_added_is_not_a_sample(tmp_path: Path) -> None:
    path = tmp_path / "warehouse.duckdb"
    sample_warehouse.build_sample_warehouse(path)
    assert sample_warehouse.is_sample_warehouse(path)
    with duckdb.connect(str(path)) as db:
        db.execute("ALTER TABLE accounts ADD COLUMN notes VARCHAR")
    assert not sample_warehouse.is_sample_warehouse(path)


def test_a_synced_sample_is_still_a_sample(tmp_path: Path) -> None:
    path = tmp_path / "warehouse.duckdb"
    sample_warehouse.build_sample_warehouse(path)
    with duckdb.connect(str(path)) as db:
        db.execute("CREATE SCHEMA mogulsync")
        db.execute("CREATE TABLE mogulsync.sync_log (run_id VARCHAR)")
    assert sample_warehouse.is_sample_warehouse(path)
    sample_warehouse.main([str(path)])  # rebuilt without --force
    with duckdb.connect(str(path), read_only=True) as db:
        schemas = db.execute("SELECT DISTINCT table_schema FROM information_schema.tables")
        assert schemas.fetchall() == [("main",)]

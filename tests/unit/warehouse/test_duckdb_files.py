"""DuckDB warehouse files: never created by a typo, read-only when only read, named in errors."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
import sqlalchemy as sa
from pydantic import SecretStr

from mogulsync.config import ModelConfig, WarehouseConfig, parse_config
from mogulsync.sync.connect import open_source
from mogulsync.warehouse import ModelCompileError, SqlAlchemySource, WarehouseError
from mogulsync.warehouse.sqlalchemy_source import duckdb_file_of


def _warehouse(path: Path) -> WarehouseConfig:
    return WarehouseConfig(url=SecretStr(f"duckdb:///{path}"))


def _model(table: str = "accounts") -> ModelConfig:
    return ModelConfig(warehouse="main", table=table, primary_key="id")


@pytest.fixture
def existing(tmp_path: Path) -> Path:
    path = tmp_path / "w.duckdb"
    with duckdb.connect(str(path)) as db:
        db.execute("create table accounts(id varchar, name varchar)")
    return path


def test_a_missing_file_is_an_error_naming_it_and_is_not_created(tmp_path: Path) -> None:
    """duckdb:///typo.duckdb says the file does not exist instead of making an empty one."""
    typo = tmp_path / "typo.duckdb"
    with pytest.raises(WarehouseError) as caught:
        SqlAlchemySource("main", _warehouse(typo))
    assert f"the DuckDB file {typo} does not exist" in caught.value.message
    assert not typo.exists()
    # the warehouse may be written as the URL alone: the hint names no `.url` key
    assert caught.value.hint.startswith("Check the URL of warehouses.main;")


def test_a_read_only_source_reads_but_cannot_write(existing: Path) -> None:
    """Models are read through a read-only connection: a stray write fails."""
    source = SqlAlchemySource("main", _warehouse(existing), read_only=True)
    try:
        assert [c.name for c in source.compile(_model()).columns] == ["id", "name"]
        with (
            pytest.raises(Exception, match="read-only"),
            source._engine.connect() as connection,
        ):
            connection.exec_driver_sql("create table intruder(a int)")
    finally:
        source.close()


def test_a_compile_error_names_the_resolved_file(existing: Path) -> None:
    """ "table does not exist" says which file was looked in."""
    source = SqlAlchemySource("main", _warehouse(existing), read_only=True)
    try:
        with pytest.raises(ModelCompileError) as caught:
            source.compile(_model("acounts"))
    finally:
        source.close()
    assert f"(DuckDB file {existing})" in caught.value.message


def test_only_warehouses_no_sync_writes_into_open_read_only(existing: Path) -> None:
    """Sync logs or `state: warehouse` need writes; otherwise the file is opened read-only."""
    base = {
        "chartmogul": {"api_key": "${K}"},
        "warehouses": {"main": f"duckdb:///{existing}"},
        "models": {"accounts": {"warehouse": "main", "table": "accounts", "primary_key": "id"}},
        "syncs": {"customers": {"model": "accounts", "object": "customer"}},
    }
    read = parse_config(base, env={"K": "key-1"})
    assert read.written_warehouses() == frozenset()
    logs = parse_config({**base, "sync_logs": True}, env={"K": "key-1"})
    assert logs.written_warehouses() == {"main"}
    source = open_source(read, read.models["accounts"])
    try:
        with (
            pytest.raises(Exception, match="read-only"),
            source._engine.connect() as connection,
        ):
            connection.exec_driver_sql("create table intruder(a int)")
    finally:
        source.close()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("duckdb:////data/w.duckdb", Path("/data/w.duckdb")),
        ("duckdb:///:memory:", None),
        ("duckdb:///md:analytics", None),
        ("postgresql://u@h/db", None),
    ],
)
def test_which_urls_name_a_local_file(url: str, expected: Path | None) -> None:
    """Only local DuckDB files are checked for existence."""
    assert duckdb_file_of(url) == expected


def test_a_failed_login_is_not_a_sql_problem(
    existing: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Snowflake reports a failed login as DatabaseError when connecting; `check` said
    "model does not compile ... Run its SQL in the warehouse and fix it". No Snowflake here:
    the connect of a real DuckDB source raises what snowflake-sqlalchemy raises."""
    source = SqlAlchemySource("main", _warehouse(existing))
    login = sa.exc.DatabaseError("connect", None, Exception("250001 (08001): Failed to login"))

    def refuse() -> None:
        raise login

    monkeypatch.setattr(source._engine, "connect", refuse)
    try:
        with pytest.raises(WarehouseError) as caught:
            source.compile(ModelConfig(warehouse="main", table="accounts", primary_key="id"))
    finally:
        source.close()
    assert "is not reachable: " in caught.value.message
    assert "Failed to login" in caught.value.message
    assert not isinstance(caught.value, ModelCompileError)
    assert "fix it" not in caught.value.hint


def test_a_file_that_is_no_duckdb_database_gets_a_hint_about_the_file(tmp_path: Path) -> None:
    broken = tmp_path / "w.duckdb"
    broken.write_bytes(b"not a database" * 500)
    source = SqlAlchemySource("main", _warehouse(broken))
    try:
        with pytest.raises(WarehouseError) as caught:
            source.compile(ModelConfig(warehouse="main", table="accounts", primary_key="id"))
    finally:
        source.close()
    assert "not a valid DuckDB database file" in caught.value.message
    assert caught.value.hint.startswith("Check the file of warehouses.main: a DuckDB database")

"""Rows with a null or repeated primary key are named by their row number, in every output.

The model's rows are read in insertion order (no ORDER BY, a fresh table): rows 1..5 are
a1, a2, (null key), a1 again, a3. ``state: embedded`` keeps the first row of a key (row 1);
``state: warehouse`` keeps the row of the lowest SQL row hash, checked against what landed.
"""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml
from tests.integration.sync._support import all_pages, api, make_warehouse
from typer.testing import CliRunner

from mogulsync.cli import app

ROWS = "('a1','Acme','a@acme.io'),('a2','Beta','b@beta.io'),(NULL,'Nokey','n@x.io'),"
ROWS += "('a1','Again','again@acme.io'),('a3','Gamma','c@gamma.io')"
NULL_KEY = "row 3 (primary key is null)"
NULL_MESSAGE = "primary key id is null or blank (the row with name='Nokey', email='n@x.io')"
WIDE = {"COLUMNS": "250"}


def _write_project(folder: Path, server: Any, url: str, state: dict[str, str]) -> None:
    config = {
        "chartmogul": {"api_key": "${CHARTMOGUL_API_KEY}", "base_url": server.base_url},
        "warehouses": {"main": url},
        "models": {"accounts": {"warehouse": "main", "table": "accounts", "primary_key": "id"}},
        "syncs": {"customers": {"model": "accounts", "object": "customer", "bulk": "off",
                                "data_source": "Rows", "custom_attributes": "none",
                                "mapping": {"external_id": "id", "name": "name"}, **state}},
    }  # fmt: skip
    (folder / "mogulsync.yml").write_text(yaml.safe_dump(config), encoding="utf-8")


def _duckdb(folder: Path, server: Any, state: dict[str, str]) -> None:
    url = make_warehouse(
        folder / "w.duckdb",
        ["create table accounts(id varchar, name varchar, email varchar)",
         f"insert into accounts values {ROWS}"],
    )  # fmt: skip
    _write_project(folder, server, url, state)


def _duplicate_message(kept: int, skipped: int) -> str:
    return (
        f"duplicate primary key 'a1' (rows 1 and 4): row {kept} was kept and synced,"
        f" row {skipped} skipped"
    )


def _kept_row(server: Any) -> int:
    """Which row of key a1 landed in ChartMogul: 1 (Acme) or 4 (Again)."""
    with api(server) as client:
        names = [c["name"] for c in all_pages(client, "/customers", "entries")]
    return 1 if "Acme" in names else 4


def _check_every_output(server: Any, *, kept: int | None = None) -> None:
    """sync plan (table and --json), sync run, runs show (text and --json) name the rows."""
    runner = CliRunner()
    plan = runner.invoke(app, ["sync", "plan", "customers", "--json"])
    assert plan.exit_code == 0, plan.output
    invalid = json.loads(plan.output)["samples"]["invalid"]
    shown = runner.invoke(app, ["sync", "plan", "customers"], env=WIDE)
    assert shown.exit_code == 0, shown.output
    run = runner.invoke(app, ["sync", "run", "customers", "--json"])
    run_id = json.loads(run.output.strip().splitlines()[0])["run_id"]
    kept = kept or _kept_row(server)
    skipped = 5 - kept
    duplicate = _duplicate_message(kept, skipped)
    # the plan saw the same rows as the run: the same names
    assert [(item["key"], item["message"]) for item in invalid] == [
        (NULL_KEY, NULL_MESSAGE),
        ("a1", duplicate),
    ]
    text = " ".join(shown.output.split())
    assert f"invalid {NULL_KEY} · id: {NULL_MESSAGE}" in text
    assert f"invalid a1 · id: {duplicate}" in text
    # outside a terminal the table is plain columns (no box-drawing characters)
    assert re.search(r"invalid\s+2\s+row 3 \(primary key is null\), a1(\s|$)", text)
    errors = runner.invoke(app, ["runs", "show", run_id, "--errors"], env=WIDE)
    lines = errors.output.splitlines()
    assert f"{NULL_KEY} · invalid · id: {NULL_MESSAGE} → " in "\n".join(lines)
    assert f"a1 · invalid · id: {duplicate} → " in "\n".join(lines)
    as_json = json.loads(runner.invoke(app, ["runs", "show", run_id, "--errors", "--json"]).output)
    found = {(e["key"], e["message"]) for e in as_json["errors"]}
    assert found == {(NULL_KEY, NULL_MESSAGE), ("a1", duplicate)}


@pytest.fixture
def project_dir(tmp_path, monkeypatch, emulator_server):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CHARTMOGUL_API_KEY", emulator_server.api_key)
    return tmp_path


def test_embedded_state_names_rows_by_number(project_dir, emulator_server):
    """The first row of a key is kept (row 1); the null key is row 3."""
    _duckdb(project_dir, emulator_server, {})
    _check_every_output(emulator_server, kept=1)
    assert _kept_row(emulator_server) == 1


def test_warehouse_state_on_duckdb_names_rows_by_number(project_dir, emulator_server):
    _duckdb(project_dir, emulator_server, {"state": "warehouse"})
    _check_every_output(emulator_server)


@pytest.mark.postgres
def test_warehouse_state_on_postgres_names_rows_by_number(
    project_dir, emulator_server, postgres_server
):
    table = f"rows_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(postgres_server.dsn, autocommit=True) as db:
        db.execute(f"create table {table} (id text, name text, email text)")
        db.execute(f"insert into {table} values {ROWS}")
    state = {"state": "warehouse", "state_schema": f"s_{uuid.uuid4().hex[:8]}"}
    _write_project(project_dir, emulator_server, postgres_server.url, state)
    config = yaml.safe_load((project_dir / "mogulsync.yml").read_text(encoding="utf-8"))
    config["models"]["accounts"]["table"] = table
    (project_dir / "mogulsync.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
    _check_every_output(emulator_server)

"""The CLIs read only the sections they need and find files relative to the project file."""

from __future__ import annotations

import json

import pytest
import yaml
from tests.integration.sync._support import make_warehouse
from typer.testing import CliRunner

from mogulsync.cli import app


@pytest.fixture
def project(tmp_path, monkeypatch, emulator_server):
    """A sync project in project/, whose events: section needs an unset SEGMENT_WRITE_KEY."""
    root = tmp_path / "project"
    root.mkdir()
    make_warehouse(
        root / "warehouse.duckdb",
        ["create table accounts(id varchar, name varchar)",
         "insert into accounts values ('a1','Acme')"],
    )  # fmt: skip
    config = {
        "chartmogul": {"api_key": "${CHARTMOGUL_API_KEY}", "base_url": emulator_server.base_url},
        "warehouses": {"main": "duckdb:///warehouse.duckdb"},
        "models": {"accounts": {"warehouse": "main", "table": "accounts", "primary_key": "id"}},
        "syncs": {"customers": {"model": "accounts", "object": "customer",
                                "data_source": "Warehouse", "mapping": {"external_id": "id"}}},
        "events": {"write_keys": ["${SEGMENT_WRITE_KEY}"]},
    }  # fmt: skip
    (root / "mogulsync.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
    monkeypatch.setenv("CHARTMOGUL_API_KEY", emulator_server.api_key)
    monkeypatch.delenv("SEGMENT_WRITE_KEY", raising=False)
    return root


def test_sync_plan_runs_without_the_events_write_key(project, monkeypatch):
    """`sync plan` works although SEGMENT_WRITE_KEY (events: only) is unset."""
    monkeypatch.chdir(project)
    result = CliRunner().invoke(app, ["sync", "plan", "customers", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["counts"]["creates"] == 1


def test_events_status_still_requires_the_write_key(project, monkeypatch):
    """`events status` reads events:, so the unset write key is still reported."""
    monkeypatch.chdir(project)
    result = CliRunner().invoke(app, ["events", "status"])
    assert result.exit_code != 0
    assert "SEGMENT_WRITE_KEY is not set" in result.output


def test_sync_from_another_directory_uses_the_project_directory(project, tmp_path, monkeypatch):
    """With -c from elsewhere, the DuckDB file and the state dir are found next to the file."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    config = str(project / "mogulsync.yml")
    runner = CliRunner()
    run = runner.invoke(app, ["sync", "run", "customers", "-c", config, "--json"])
    assert run.exit_code == 0, run.output
    assert (project / ".mogulsync").is_dir()
    assert list(elsewhere.iterdir()) == []
    monkeypatch.delenv("CHARTMOGUL_API_KEY")
    runs = runner.invoke(app, ["runs", "list", "-c", config, "--json"])
    assert runs.exit_code == 0, runs.output
    assert json.loads(runs.output.splitlines()[0])["sync"] == "customers"

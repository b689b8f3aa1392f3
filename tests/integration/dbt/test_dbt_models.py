"""dbt models as sources: the relation and primary key come from a real dbt manifest."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.integration.sync._support import all_pages, api, engine

from mogulsync.config import ConfigValidationError, load_config
from mogulsync.emulator.server import EmulatorServer

CUSTOMERS = {
    "model": "accounts",
    "object": "customer",
    "data_source": "Warehouse",
    "mapping": {
        "external_id": "id",
        "name": "company_name",
        "email": "billing_email",
        "country": "country_code",
    },
}


def _write_project(
    tmp_path: Path, dbt_dir: Path, warehouse: Path, models: dict[str, Any], base_url: str
) -> Path:
    path = tmp_path / "mogulsync.yml"
    raw = {
        "chartmogul": {"api_key": "${CM_KEY}", "base_url": base_url},
        "dbt": {"project_dir": os.path.relpath(dbt_dir, tmp_path)},
        "warehouses": {"main": f"duckdb:///{warehouse}"},
        "models": models,
        "syncs": {"customers": CUSTOMERS},
    }
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


def _problems(path: Path) -> list[str]:
    with pytest.raises(ConfigValidationError) as caught:
        load_config(path, env={"CM_KEY": "k"})
    return caught.value.problems


@pytest.mark.anyio
async def test_relation_and_key_from_manifest_then_sync(
    built_project, emulator_server: EmulatorServer, tmp_path
):
    """`+schema: marts` puts the model in main_marts; `id`'s unique test gives the key."""
    dbt_dir, warehouse = built_project
    path = _write_project(
        tmp_path,
        dbt_dir,
        warehouse,
        {"accounts": {"warehouse": "main", "dbt": "accounts"}},
        emulator_server.base_url,
    )
    config = load_config(path, env={"CM_KEY": emulator_server.api_key})
    model = config.models["accounts"]
    assert model.table == "main_marts.accounts"
    assert model.primary_key_columns == ("id",)
    record = await engine(config).run("customers")
    assert record.status.value == "success", record.message
    assert record.rows.added == 4
    with api(emulator_server) as client:
        landed = {c["external_id"]: c["name"] for c in all_pages(client, "/customers", "entries")}
    assert landed == {"a1": "Acme", "a2": "Beta", "a3": "Gamma", "a4": "Delta"}


def test_package_qualified_reference_and_explicit_key(built_project, tmp_path, dead_url):
    """`package.model` resolves too, and an explicit primary_key wins over the test."""
    dbt_dir, warehouse = built_project
    models = {
        "accounts": {"warehouse": "main", "dbt": "analytics.contacts", "primary_key": "email"}
    }
    config = load_config(
        _write_project(tmp_path, dbt_dir, warehouse, models, dead_url),
        env={"CM_KEY": "k"},
    )
    assert config.models["accounts"].table == "main_marts.contacts"
    assert config.models["accounts"].primary_key_columns == ("email",)


def test_errors_name_the_model_and_the_fix(built_project, tmp_path, dead_url):
    """Unknown, ephemeral and key-less models: one problem each, with what to do."""
    dbt_dir, warehouse = built_project
    models = {
        "accounts": {"warehouse": "main", "dbt": "acounts"},
        "staging": {"warehouse": "main", "dbt": "stg_accounts", "primary_key": "id"},
        "contacts": {"warehouse": "main", "dbt": "contacts"},
    }
    problems = _problems(_write_project(tmp_path, dbt_dir, warehouse, models, dead_url))
    assert len(problems) == 3, problems
    unknown, contacts, staging = sorted(problems)
    assert unknown.startswith("models.accounts.dbt: no dbt model `acounts`")
    assert "known: accounts, contacts, stg_accounts" in unknown
    assert "models.contacts.primary_key" in contacts
    assert "found: customer_id, email" in contacts
    assert "set `primary_key`" in contacts
    assert staging.startswith("models.staging.dbt:")
    assert "ephemeral" in staging


def test_missing_manifest(built_project, tmp_path, dead_url):
    dbt_dir, warehouse = built_project
    bare = tmp_path / "bare"
    shutil.copytree(dbt_dir, bare, ignore=shutil.ignore_patterns("target"))
    models = {"accounts": {"warehouse": "main", "dbt": "accounts"}}
    (problem,) = _problems(_write_project(tmp_path, bare, warehouse, models, dead_url))
    assert "target/manifest.json not found" in problem
    assert f"run `dbt parse --project-dir {bare}`" in problem


def test_manifest_older_than_the_model_sql(built_project, tmp_path, dead_url):
    """Editing a model's SQL after the manifest was written asks for `dbt parse`."""
    dbt_dir, warehouse = built_project
    stale = tmp_path / "stale"
    shutil.copytree(dbt_dir, stale)
    manifest = stale / "target" / "manifest.json"
    sql = stale / "models" / "marts" / "accounts.sql"
    written = manifest.stat().st_mtime
    os.utime(sql, (written + 60, written + 60))  # explicit times: no dependence on the clock
    models = {"accounts": {"warehouse": "main", "dbt": "accounts"}}
    path = _write_project(tmp_path, stale, warehouse, models, dead_url)
    (problem,) = _problems(path)
    assert "is older than" in problem
    assert "accounts.sql" in problem
    assert "dbt parse" in problem
    os.utime(sql, (written - 60, written - 60))
    assert load_config(path, env={"CM_KEY": "k"}).models["accounts"].table == "main_marts.accounts"


def test_dbt_model_needs_the_dbt_section(tmp_path):
    path = tmp_path / "mogulsync.yml"
    raw = {
        "chartmogul": {"api_key": "${CM_KEY}"},
        "warehouses": {"main": "duckdb:///w.duckdb"},
        "models": {"accounts": {"warehouse": "main", "dbt": "accounts"}},
    }
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    (problem,) = _problems(path)
    assert "models.accounts.dbt: needs a top-level `dbt:` section" in problem


def test_sql_or_table_models_still_need_a_primary_key(tmp_path):
    path = tmp_path / "mogulsync.yml"
    raw = {
        "chartmogul": {"api_key": "${CM_KEY}"},
        "warehouses": {"main": "duckdb:///w.duckdb"},
        "models": {"accounts": {"warehouse": "main", "table": "accounts"}},
    }
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    (problem,) = _problems(path)
    assert "primary_key" in problem
    assert "required" in problem


def test_unique_test_detection_reads_attached_node(built_project):
    """The manifest really carries what the key default relies on (guards dbt upgrades)."""
    dbt_dir, _ = built_project
    manifest = json.loads((dbt_dir / "target" / "manifest.json").read_text())
    tests = [n for n in manifest["nodes"].values() if n["resource_type"] == "test"]
    assert {
        (t["attached_node"], t["column_name"])
        for t in tests
        if t["test_metadata"]["name"] == "unique"
    } == {
        ("model.analytics.accounts", "id"),
        ("model.analytics.contacts", "customer_id"),
        ("model.analytics.contacts", "email"),
    }


def test_check_command_reports_the_missing_manifest(tmp_path, monkeypatch, dead_url):
    """`mogulsync check` fails with the model, the manifest path and `dbt parse`."""
    from typer.testing import CliRunner

    from mogulsync.cli import app

    (tmp_path / "analytics").mkdir()
    models = {"accounts": {"warehouse": "main", "dbt": "accounts"}}
    path = _write_project(tmp_path, tmp_path / "analytics", tmp_path / "w.duckdb", models, dead_url)
    monkeypatch.setenv("CM_KEY", "k")
    result = CliRunner().invoke(app, ["check", "-c", str(path)])
    assert result.exit_code != 0
    text = "".join(result.output.split())  # the console wraps long paths anywhere
    assert "dbt.project_dir:" in text
    assert "target/manifest.jsonnotfound" in text
    assert "run`dbtparse--project-dir" in text

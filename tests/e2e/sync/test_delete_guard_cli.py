"""The mass-delete safeguard as a user meets it: plan warns, run exits 1, --allow-deletes."""

from __future__ import annotations

import json

import duckdb
import httpx
import pytest
import yaml
from tests.integration.sync._support import make_warehouse
from typer.testing import CliRunner

from mogulsync import exit_codes
from mogulsync.cli import app

ROWS = 12


@pytest.fixture
def workdir(tmp_path, monkeypatch, emulator_server):
    make_warehouse(
        tmp_path / "warehouse.duckdb",
        [
            (
                "create table accounts as select 'a' || i as id, 'Company ' || i as name"
                f" from range(1, {ROWS + 1}) t(i)"
            )
        ],
    )
    config = {
        "chartmogul": {"api_key": "${CHARTMOGUL_API_KEY}", "base_url": emulator_server.base_url},
        "warehouses": {"main": "duckdb:///warehouse.duckdb"},
        "models": {"accounts": {"warehouse": "main", "table": "accounts", "primary_key": "id"}},
        "syncs": {"customers": {"model": "accounts", "object": "customer", "bulk": "off",
                                "data_source": "Warehouse", "on_delete": "delete",
                                "mapping": {"external_id": "id"}, "custom_attributes": "none"}},
    }  # fmt: skip
    (tmp_path / "mogulsync.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CHARTMOGUL_API_KEY", emulator_server.api_key)
    return tmp_path


def _customers(server) -> int:
    response = httpx.get(
        f"{server.base_url}/v1/customers",
        params={"per_page": 200},
        auth=(server.api_key, ""),
        timeout=30,
    )
    return len(response.raise_for_status().json()["entries"])


def test_emptied_model_exits_1_until_allowed(workdir, emulator_server):
    """plan says the run would be refused; run exits 1 with the fix; --allow-deletes deletes."""
    runner = CliRunner()
    assert runner.invoke(app, ["sync", "run", "customers"]).exit_code == exit_codes.SUCCESS
    db = duckdb.connect(str(workdir / "warehouse.duckdb"))
    db.execute("delete from accounts")
    db.close()

    plan = runner.invoke(app, ["sync", "plan", "customers"], terminal_width=200)
    assert plan.exit_code == 0, plan.output
    assert "The run would be refused: it would delete 12 of its 12 records" in plan.output
    as_json = json.loads(runner.invoke(app, ["sync", "plan", "customers", "--json"]).stdout)
    assert (as_json["counts"]["deletes"], as_json["managed"]) == (ROWS, ROWS)
    assert as_json["max_deletes"] == "50%"
    assert "--allow-deletes" in as_json["deletes_refused"]

    refused = runner.invoke(app, ["sync", "run", "customers", "--json"])
    assert refused.exit_code == exit_codes.FAILED, refused.output
    assert json.loads(refused.stdout.strip().splitlines()[-1])["status"] == "failed"
    stderr = " ".join(refused.stderr.split())  # the console wraps long lines
    assert "would delete 12 of its 12 records" in stderr
    assert "mogulsync sync run customers --allow-deletes" in stderr
    assert emulator_server.api_key not in refused.stderr + refused.output
    assert _customers(emulator_server) == ROWS

    listed = runner.invoke(app, ["runs", "list", "--json"])
    statuses = [json.loads(line)["status"] for line in listed.stdout.splitlines()]
    assert statuses[0] == "failed"

    allowed = runner.invoke(app, ["sync", "run", "customers", "--allow-deletes"])
    assert allowed.exit_code == exit_codes.SUCCESS, allowed.output
    assert _customers(emulator_server) == 0

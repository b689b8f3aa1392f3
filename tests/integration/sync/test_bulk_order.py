"""``sync run --all`` runs parents first whatever the file's order; a failed parent is safe."""

from __future__ import annotations

import json

import yaml
from tests.integration.sync._bulk_support import billing_warehouse, syncs
from tests.integration.sync._support import all_pages, api
from typer.testing import CliRunner

from mogulsync.cli import app

CUSTOMERS = 60


def _write_project(tmp_path, server, accounts_table: str) -> None:
    every = syncs()
    config = {
        "chartmogul": {"api_key": "${CHARTMOGUL_API_KEY}", "base_url": server.base_url},
        "warehouses": {"main": "duckdb:///w.duckdb"},
        "models": {
            "accounts": {"warehouse": "main", "table": accounts_table, "primary_key": "id"},
            "plans": {"warehouse": "main", "table": "plans", "primary_key": "id"},
            "invoices": {"warehouse": "main", "table": "invoices", "primary_key": "id"},
        },
        # children listed before their parents on purpose
        "syncs": {name: every[name] for name in ("invoices", "customers", "plans")},
    }
    (tmp_path / "mogulsync.yml").write_text(yaml.safe_dump(config), encoding="utf-8")


def _run_all() -> list[dict]:
    result = CliRunner().invoke(app, ["sync", "run", "--all", "--json"])
    return [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]


def test_run_all_orders_parents_first_and_survives_a_failed_parent(
    tmp_path, monkeypatch, emulator_server
):
    """Plans, customers, invoices in that order; with customers broken, invoices fail safely."""
    billing_warehouse(tmp_path, CUSTOMERS, 1)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CHARTMOGUL_API_KEY", emulator_server.api_key)
    _write_project(tmp_path, emulator_server, "no_such_table")

    broken = _run_all()
    assert [s["sync"] for s in broken] == ["plans", "customers", "invoices"]
    # invoices has no depends_on, so it runs; it completes with every row rejected: partial
    assert [s["status"] for s in broken] == ["success", "failed", "partial"]
    assert broken[2]["rows"]["failed"] == CUSTOMERS  # every invoice names a missing customer
    with api(emulator_server) as client:
        assert all_pages(client, "/invoices", "invoices") == []

    _write_project(tmp_path, emulator_server, "accounts")
    fixed = _run_all()
    assert [(s["sync"], s["status"]) for s in fixed] == [
        ("plans", "success"),
        ("customers", "success"),
        ("invoices", "success"),
    ]
    assert fixed[2]["rows"]["succeeded"] == CUSTOMERS  # the failed rows were retried
    with api(emulator_server) as client:
        assert len(all_pages(client, "/invoices", "invoices")) == CUSTOMERS

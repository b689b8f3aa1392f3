"""A real Dagster materialize(): dbt builds the model, our assets sync it to the emulator."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg
import duckdb
import pytest
import yaml
from tests.integration.dbt._project import copy_project, run_dbt
from tests.integration.sync._support import all_pages, api

from mogulsync.emulator.server import EmulatorServer
from mogulsync.integrations.dagster import (
    MogulsyncResource,
    mogulsync_assets,
    mogulsync_extract_assets,
)
from mogulsync.testing.ports import refused_port

MARTS_ACCOUNTS = dg.AssetKey(["marts", "accounts"])
MARTS_CONTACTS = dg.AssetKey(["marts", "contacts"])


def _project_file(root: Path, dbt_dir: Path, warehouse: Path, base_url: str) -> Path:
    """The project file in ``root``, the test's own folder: its run history, sync state and
    extract stay the test's (only the module's dbt project and warehouse are shared)."""
    raw = {
        "chartmogul": {"api_key": "${CM_KEY}", "base_url": base_url},
        "dbt": {"project_dir": os.path.relpath(dbt_dir, root)},
        "warehouses": {"main": f"duckdb:///{warehouse}"},
        "extract": {"destination": f"duckdb:///{root / 'extract.duckdb'}", "streams": ["customers"]},
        "models": {
            "accounts": {"warehouse": "main", "dbt": "accounts"},
            "contacts": {"warehouse": "main", "dbt": "contacts", "primary_key": "email"},
        },
        "syncs": {
            "customers": {
                "model": "accounts", "object": "customer", "data_source": "Warehouse",
                "mapping": {"external_id": "id", "name": "company_name", "email": "billing_email",
                            "country": "country_code"},
            },
            "contacts": {
                "model": "contacts", "object": "contact", "data_source": "Warehouse",
                "match": "email", "custom_attributes": "none", "depends_on": ["customers"],
                "mapping": {"customer_external_id": "customer_id", "email": "email",
                            "first_name": "first_name"},
            },
        },
    }  # fmt: skip
    path = root / "mogulsync.yml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def dbt_project(tmp_path_factory) -> tuple[Path, Path, Path]:
    """(root, dbt project, warehouse file) with a manifest from `dbt parse`, no data yet."""
    root = tmp_path_factory.mktemp("dagster")
    dbt_dir = copy_project(root)
    warehouse = root / "warehouse.duckdb"
    run_dbt(dbt_dir, warehouse, "parse")
    return root, dbt_dir, warehouse


def _dbt_build_asset(dbt_dir: Path, warehouse: Path) -> dg.AssetsDefinition:
    """Stands in for dagster-dbt's assets: the same keys, built by the real dbt CLI."""

    @dg.multi_asset(specs=[dg.AssetSpec(MARTS_ACCOUNTS), dg.AssetSpec(MARTS_CONTACTS)])
    def marts():
        run_dbt(dbt_dir, warehouse, "build")

    return marts


def test_graph_keys_and_deps(dbt_project, tmp_path, dead_url):
    """Keys ["chartmogul", sync]; deps are dagster-dbt's default keys and parent syncs."""
    _, dbt_dir, warehouse = dbt_project
    path = _project_file(tmp_path, dbt_dir, warehouse, dead_url)
    assets = mogulsync_assets(path)
    by_key = {a.key: a for a in assets}
    customers = by_key[dg.AssetKey(["chartmogul", "customers"])]
    contacts = by_key[dg.AssetKey(["chartmogul", "contacts"])]
    assert set(customers.dependency_keys) == {MARTS_ACCOUNTS}
    assert set(contacts.dependency_keys) == {MARTS_CONTACTS, customers.key}
    assert customers.group_names_by_key[customers.key] == "mogulsync"


def test_materialize_dbt_then_syncs(dbt_project, tmp_path, monkeypatch, emulator_server):
    """dbt builds main_marts.*, customers sync, then contacts (partial: one ghost row)."""
    _, dbt_dir, warehouse = dbt_project
    server: EmulatorServer = emulator_server  # the suite's: no wall-clock rate limits
    monkeypatch.setenv("CM_KEY", server.api_key)
    path = _project_file(tmp_path, dbt_dir, warehouse, server.base_url)
    assets = [_dbt_build_asset(dbt_dir, warehouse), *mogulsync_assets(path)]
    with dg.instance_for_test() as instance:
        result = dg.materialize(assets, instance=instance)
    assert result.success
    order = [e.asset_key for e in result.get_asset_materialization_events() if e.asset_key]
    assert order.index(dg.AssetKey(["chartmogul", "customers"])) < order.index(
        dg.AssetKey(["chartmogul", "contacts"])
    )
    customers = result.asset_materializations_for_node("chartmogul__customers")[0].metadata
    assert customers["status"].value == "success"
    assert customers["rows_added"].value == 4
    assert customers["rows_failed"].value == 0
    assert customers["api_calls"].value > 0
    assert customers["run_id"].value
    contacts = result.asset_materializations_for_node("chartmogul__contacts")[0].metadata
    assert contacts["status"].value == "partial"
    assert contacts["rows_failed"].value == 1
    checks = {(c.asset_key.path[-1], c.check_name): c for c in result.get_asset_check_evaluations()}
    assert checks[("customers", "no_failed_rows")].passed
    failing = checks[("contacts", "no_failed_rows")]
    assert not failing.passed
    assert failing.severity == dg.AssetCheckSeverity.WARN
    assert failing.metadata["failed_rows"].value == 1
    assert "nobody@example.com" in failing.metadata["sample"].value
    with api(server) as client:
        landed = sorted(c["external_id"] for c in all_pages(client, "/customers", "entries"))
        people = sorted(c["email"] for c in all_pages(client, "/contacts", "entries"))
    assert landed == ["a1", "a2", "a3", "a4"]
    assert people == [f"owner+a{i}@example.com" for i in range(1, 5)]

    # The extract's customers table, twice (the second run picks up its state).
    (extract,) = mogulsync_extract_assets(path)
    for _ in range(2):
        with dg.instance_for_test() as instance:
            outcome = dg.materialize([extract], instance=instance)
        assert outcome.success
    (event,) = outcome.get_asset_materialization_events()
    assert event.asset_key == dg.AssetKey(["dlt_chartmogul_customers"])
    assert event.materialization.metadata["dagster/row_count"].value == 4
    db = duckdb.connect(str(tmp_path / "extract.duckdb"), read_only=True)
    try:
        extracted = db.execute("select external_id from chartmogul.customers order by 1")
        assert [row[0] for row in extracted.fetchall()] == ["a1", "a2", "a3", "a4"]
    finally:
        db.close()


def test_failed_run_raises(dbt_project, tmp_path, monkeypatch, dead_url):
    """A failed run fails the step; the resource's base_url overrides the project's."""
    _, dbt_dir, warehouse = dbt_project
    monkeypatch.setenv("CM_KEY", "some-key")
    with refused_port() as project_port:  # a second dead address: the one overridden
        path = _project_file(tmp_path, dbt_dir, warehouse, f"http://127.0.0.1:{project_port}")
        down = MogulsyncResource(project_file=str(path), base_url=dead_url)
        assets = mogulsync_assets(path, resource=down)
        with dg.instance_for_test() as instance:
            result = dg.materialize(
                assets,
                selection=[dg.AssetKey(["chartmogul", "customers"])],
                instance=instance,
                raise_on_error=False,
            )
    assert not result.success
    (failure,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    text = str(failure.step_failure_data.error)
    assert "sync `customers` failed" in text
    assert down.load().chartmogul.base_url == dead_url
    assert "some-key" not in text

"""Dagster and the mass-delete safeguard: a refused run fails the step with its message and
is not retried (it would be refused again); the resource's ``allow_deletes`` lifts it."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import duckdb
import pytest
import yaml
from tests.integration.sync._support import all_pages, api

from mogulsync.emulator.server import EmulatorServer
from mogulsync.integrations.dagster import MogulsyncResource, mogulsync_assets


@pytest.fixture
def project(tmp_path, monkeypatch, emulator_server) -> Path:
    server: EmulatorServer = emulator_server
    monkeypatch.setenv("CM_KEY", server.api_key)
    db = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    db.execute("create table accounts as select * from (values ('a1'), ('a2'), ('a3')) t(id)")
    db.close()
    raw = {
        "chartmogul": {"api_key": "${CM_KEY}", "base_url": server.base_url},
        "state_dir": str(tmp_path / "state"),
        "warehouses": {"main": f"duckdb:///{tmp_path / 'warehouse.duckdb'}"},
        "models": {"accounts": {"warehouse": "main", "table": "accounts", "primary_key": "id"}},
        "syncs": {"customers": {"model": "accounts", "object": "customer", "data_source": "D",
                                "mapping": {"external_id": "id"}, "on_delete": "delete",
                                "max_deletes": 1, "bulk": "off"}},
    }  # fmt: skip
    path = tmp_path / "mogulsync.yml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


def _customers(server: EmulatorServer) -> int:
    with api(server) as client:
        return len(all_pages(client, "/customers", "entries"))


def test_refused_deletes_fail_the_step_without_retries(project, emulator_server, tmp_path):
    """Emptied model: STEP_FAILURE with the message, no retry, nothing deleted."""
    (asset,) = mogulsync_assets(project, retry_policy=dg.RetryPolicy(max_retries=2))
    with dg.instance_for_test() as instance:
        assert dg.materialize([asset], instance=instance).success
    db = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    db.execute("delete from accounts")
    db.close()
    with dg.instance_for_test() as instance:
        result = dg.materialize([asset], instance=instance, raise_on_error=False)
    assert not result.success
    kinds = [e.event_type_value for e in result.all_events if e.step_key]
    assert kinds.count("STEP_UP_FOR_RETRY") == 0
    (failure,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    user = failure.step_failure_data.user_failure_data
    assert "would delete 3 of its 3 records" in user.description
    assert user.metadata["status"].value == "failed"
    assert _customers(emulator_server) == 3

    record = MogulsyncResource(project_file=str(project)).run_sync("customers", allow_deletes=True)
    assert (record.status.value, record.rows.removed) == ("success", 3)
    assert _customers(emulator_server) == 0

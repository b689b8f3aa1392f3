"""Deployment options on the sync assets: a failed-row threshold, automation, retries, pools."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import duckdb
import pytest
import yaml

from mogulsync.emulator.server import EmulatorServer
from mogulsync.integrations.dagster import (
    MogulsyncResource,
    mogulsync_assets,
    sync_asset_key,
)

UPSTREAM = dg.AssetKey(["analytics", "accounts"])
CUSTOMERS = sync_asset_key("customers")


def project_file(root: Path, base_url: str) -> Path:
    """Three accounts in a DuckDB table, one with a malformed e-mail: its runs are ``partial``."""
    db = duckdb.connect(str(root / "warehouse.duckdb"))
    db.execute("create schema analytics")
    db.execute(
        "create table analytics.accounts as select * from (values"
        " ('a1', 'Acme', 'ap@acme.test'), ('a2', 'Globex', 'ap@globex.test'),"
        " ('a3', 'Initech', 'not an e-mail')) t(id, name, email)"
    )
    db.close()
    raw = {
        "chartmogul": {"api_key": "${CM_KEY}", "base_url": base_url},
        "state_dir": str(root / "state"),
        "warehouses": {"main": f"duckdb:///{root / 'warehouse.duckdb'}"},
        "models": {
            "accounts": {"warehouse": "main", "table": "analytics.accounts", "primary_key": "id"}
        },
        "syncs": {
            "customers": {
                "model": "accounts", "object": "customer", "data_source": "Warehouse",
                "mapping": {"external_id": "id", "name": "name", "email": "email"},
            },
        },
    }  # fmt: skip
    path = root / "mogulsync.yml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


def _downstream() -> dg.AssetsDefinition:
    @dg.asset(deps=[CUSTOMERS])
    def after_customers() -> None:
        """Stands for whatever reads ChartMogul after the sync (a report, an extract)."""

    return after_customers


@pytest.fixture
def project(tmp_path, monkeypatch, emulator_server) -> Path:
    server: EmulatorServer = emulator_server
    monkeypatch.setenv("CM_KEY", server.api_key)
    return project_file(tmp_path, server.base_url)


def _materialize(assets: list[dg.AssetsDefinition]) -> dg.ExecuteInProcessResult:
    with dg.instance_for_test() as instance:
        return dg.materialize(assets, instance=instance, raise_on_error=False)


def test_past_max_failed_rows_the_check_is_an_error_and_blocks(project):
    """One failed row with max_failed_rows=0: ERROR check, downstream skipped."""
    result = _materialize([*mogulsync_assets(project, max_failed_rows=0), _downstream()])
    (check,) = result.get_asset_check_evaluations()
    assert not check.passed
    assert check.severity == dg.AssetCheckSeverity.ERROR
    assert check.metadata["failed_rows"].value == 1
    assert check.metadata["max_failed_rows"].value == 0
    materialized = {e.asset_key for e in result.get_asset_materialization_events()}
    # the rows that landed are materialized; what reads them waits for a clean run
    assert materialized == {CUSTOMERS}


def test_within_max_failed_rows_the_check_warns_and_downstream_runs(project):
    result = _materialize([*mogulsync_assets(project, max_failed_rows=1), _downstream()])
    (check,) = result.get_asset_check_evaluations()
    assert not check.passed
    assert check.severity == dg.AssetCheckSeverity.WARN
    materialized = {e.asset_key for e in result.get_asset_materialization_events()}
    assert materialized == {CUSTOMERS, dg.AssetKey("after_customers")}
    assert result.success


def test_a_materialization_reads_the_project_file_once(project, monkeypatch):
    """The run and the sample of its failed rows (a partial run) share one load."""
    from mogulsync.config import loader

    assets = mogulsync_assets(project)  # the graph's own read, at definition time
    reads: list[Path] = []
    read_yaml = loader.read_yaml

    def counting(path: Path) -> object:
        reads.append(Path(path))
        return read_yaml(path)

    monkeypatch.setattr(loader, "read_yaml", counting)
    result = _materialize(assets)
    (check,) = result.get_asset_check_evaluations()
    assert "a3" in check.metadata["sample"].value  # the failed rows were read
    assert reads == [project]


def test_negative_max_failed_rows_is_refused(project):
    with pytest.raises(ValueError, match="max_failed_rows must be 0 or more, not -1"):
        mogulsync_assets(project, max_failed_rows=-1)


# Dagster's own evaluation helper passes a beta parameter
@pytest.mark.filterwarnings("ignore::dagster_shared.utils.warnings.BetaWarning")
def test_eager_automation_requests_the_sync_once_its_model_is_materialized(project):
    """automation_condition reaches the asset: the sync is requested after its model runs."""
    upstream = dg.AssetSpec(UPSTREAM)
    assets = mogulsync_assets(project, automation_condition=dg.AutomationCondition.eager())
    with dg.instance_for_test() as instance:
        quiet = dg.evaluate_automation_conditions(defs=[upstream, *assets], instance=instance)
        assert quiet.total_requested == 0
        instance.report_runless_asset_event(dg.AssetMaterialization(UPSTREAM))
        after = dg.evaluate_automation_conditions(
            defs=[upstream, *assets], instance=instance, cursor=quiet.cursor
        )
    assert after.total_requested == 1
    assert after.get_requested_partitions(CUSTOMERS) == {None}


def test_retry_policy_and_pool_reach_the_asset(project, dead_url):
    """A failed run is retried by Dagster as the policy says; the pool is the asset's."""
    down = MogulsyncResource(project_file=str(project), base_url=dead_url)
    (asset,) = mogulsync_assets(
        project, resource=down, retry_policy=dg.RetryPolicy(max_retries=1), pool="cm"
    )
    assert asset.op.pool == "cm"
    result = _materialize([asset])
    assert not result.success
    kinds = [e.event_type_value for e in result.all_events if e.step_key]
    assert kinds.count("STEP_START") == 1
    assert kinds.count("STEP_UP_FOR_RETRY") == 1
    assert kinds.count("STEP_RESTARTED") == 1
    assert kinds.count("STEP_FAILURE") == 1
    (failure,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    metadata = failure.step_failure_data.user_failure_data.metadata
    assert metadata["status"].value == "failed"
    assert metadata["message"].value  # why, as the run history has it
    assert "runs show" in metadata["run_details"].value


def test_materialization_links_to_its_run(project):
    """ui_url: the run's page in the mogulsync UI; always: the command that shows the run."""
    linked = MogulsyncResource(project_file=str(project), ui_url="https://mogulsync.internal/")
    result = _materialize([*mogulsync_assets(project, resource=linked)])
    (event,) = result.get_asset_materialization_events()
    metadata = event.materialization.metadata
    run_id = metadata["run_id"].value
    assert metadata["run_page"] == dg.MetadataValue.url(f"https://mogulsync.internal/runs/{run_id}")
    assert metadata["run_details"].value == f"mogulsync -c {project} runs show {run_id} --errors"
    assert metadata["status"].value == "partial"
    (check,) = result.get_asset_check_evaluations()
    assert "a3" in check.metadata["sample"].value


def test_api_key_from_a_dagster_env_var_never_reaches_the_event_log(
    tmp_path, monkeypatch, emulator_server
):
    """api_key=EnvVar(...) replaces the project's ${CM_KEY}, which need not be set."""
    server: EmulatorServer = emulator_server
    path = project_file(tmp_path, server.base_url)
    monkeypatch.delenv("CM_KEY", raising=False)
    monkeypatch.setenv("DAGSTER_CM_KEY", server.api_key)
    keyed = MogulsyncResource(project_file=str(path), api_key=dg.EnvVar("DAGSTER_CM_KEY"))
    result = _materialize(mogulsync_assets(path, resource=keyed))
    assert result.success
    (event,) = result.get_asset_materialization_events()
    assert event.materialization.metadata["rows_added"].value == 2  # and a3 refused
    assert server.api_key not in str(result.all_events)


def test_an_empty_api_key_is_named(tmp_path, monkeypatch, dead_url):
    path = project_file(tmp_path, dead_url)
    monkeypatch.setenv("DAGSTER_CM_KEY", "")
    keyed = MogulsyncResource(project_file=str(path), api_key=dg.EnvVar("DAGSTER_CM_KEY"))
    result = _materialize(mogulsync_assets(path, resource=keyed))
    assert not result.success
    (failure,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert "MogulsyncResource.api_key is empty" in str(failure.step_failure_data.error)


def test_two_projects_in_one_job_each_with_its_own_resource(
    tmp_path, monkeypatch, emulator_server, dead_url
):
    """Two accounts' projects under two key prefixes load together (each resource under its
    own key) and each asset runs with its own: one reaches the emulator, one a closed port."""
    server: EmulatorServer = emulator_server
    monkeypatch.setenv("CM_KEY", server.api_key)
    (tmp_path / "eu").mkdir()
    (tmp_path / "us").mkdir()
    eu = project_file(tmp_path / "eu", server.base_url)
    us = project_file(tmp_path / "us", server.base_url)
    down = MogulsyncResource(project_file=str(us), base_url=dead_url)
    assets = [
        *mogulsync_assets(eu, key_prefix="chartmogul_eu"),
        *mogulsync_assets(us, key_prefix="chartmogul_us", resource=down),
    ]
    result = _materialize(assets)
    (landed,) = result.get_asset_materialization_events()
    assert landed.asset_key == dg.AssetKey(["chartmogul_eu", "customers"])
    (failure,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert failure.step_key == "chartmogul_us__customers"
    assert "sync `customers` failed" in str(failure.step_failure_data.error)


def test_a_sync_locked_by_another_run_is_a_retryable_failure_with_its_message(project):
    """The sync's lock held elsewhere (a CLI run, `serve`): the step fails with mogulsync's
    message, not a raw exception, and the retry policy applies (that run may be over)."""
    from mogulsync.config import load_config
    from mogulsync.sync.state_open import open_lock

    (asset,) = mogulsync_assets(project, retry_policy=dg.RetryPolicy(max_retries=1))
    conf = load_config(project)
    lock = open_lock(conf, Path(conf.state_dir), "customers")
    lock.acquire()
    try:
        result = _materialize([asset])
    finally:
        lock.release()
    assert not result.success
    kinds = [e.event_type_value for e in result.all_events if e.step_key]
    assert kinds.count("STEP_UP_FOR_RETRY") == 1
    (failure,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    user = failure.step_failure_data.user_failure_data
    assert user.description.startswith("sync `customers` did not run: ")
    assert "customers" in user.description
    assert user.metadata["error"].value == "SyncLockedError"


def test_a_project_problem_fails_without_retries(project, monkeypatch):
    """A configuration problem fails the same way on every attempt: no retry."""
    (asset,) = mogulsync_assets(project, retry_policy=dg.RetryPolicy(max_retries=2))
    monkeypatch.delenv("CM_KEY")  # the project's ${CM_KEY} is now unset
    result = _materialize([asset])
    assert not result.success
    kinds = [e.event_type_value for e in result.all_events if e.step_key]
    assert kinds.count("STEP_UP_FOR_RETRY") == 0
    (failure,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert "CM_KEY" in failure.step_failure_data.user_failure_data.description

"""The ``reconciled`` asset check: a recorded reconcile of each sync, run by Dagster."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from tests.integration.dagster.test_options import CUSTOMERS, project_file

from mogulsync.config import load_config
from mogulsync.emulator.server import EmulatorServer
from mogulsync.integrations.dagster import mogulsync_assets, mogulsync_reconcile_checks
from mogulsync.runs import RunStore


def _warehouse(project: Path, statement: str) -> None:
    db = duckdb.connect(str(project.parent / "warehouse.duckdb"))
    try:
        db.execute(statement)
    finally:
        db.close()


def test_reconciled_passes_after_a_clean_sync_and_fails_on_drift(
    tmp_path, monkeypatch, emulator_server
):
    server: EmulatorServer = emulator_server
    monkeypatch.setenv("CM_KEY", server.api_key)
    project = project_file(tmp_path, server.base_url)
    _warehouse(project, "update analytics.accounts set email = 'ap@initech.test' where id = 'a3'")
    assets = mogulsync_assets(project)
    checks = mogulsync_reconcile_checks(project)
    reconciled = dg.AssetCheckKey(CUSTOMERS, "reconciled")
    with dg.instance_for_test() as instance:
        # the sync, then its checks: the sync's own and the reconcile
        synced = dg.materialize([*assets, *checks], instance=instance)
        after_sync = {e.asset_check_key: e for e in synced.get_asset_check_evaluations()}
        assert after_sync[reconciled].passed
        assert after_sync[reconciled].metadata["in_both"].value == 3

        # the model moves on, ChartMogul does not: the check alone, later
        _warehouse(project, "update analytics.accounts set name = 'Globex Corp' where id = 'a2'")
        later = dg.materialize(
            [*assets, *checks],
            instance=instance,
            selection=dg.AssetSelection.checks(reconciled),
        )
    assert later.get_asset_materialization_events() == []  # no sync ran
    (drift,) = later.get_asset_check_evaluations()
    assert not drift.passed
    assert drift.severity == dg.AssetCheckSeverity.WARN
    meta = {name: value.value for name, value in drift.metadata.items()}
    assert (meta["in_both"], meta["drifted"], meta["missing"], meta["extra"]) == (2, 1, 0, 0)
    assert meta["drifted_fields"] == {"name": 1}
    (sample,) = meta["samples"]["drifted"]
    assert sample["changes"] == {"name": {"before": "Globex", "after": "Globex Corp"}}
    # recorded as the drift watch records it, under reconcile:<sync>
    store = RunStore(Path(load_config(project).state_dir))
    try:
        record = store.get(meta["run_id"])
    finally:
        store.close()
    assert record.sync == "reconcile:customers"
    assert meta["run_details"] == f"mogulsync -c {project} runs show {record.run_id} --errors"
    assert server.api_key not in str(drift.metadata)


def test_the_documented_jobs_keep_reconciles_apart(tmp_path, monkeypatch, dead_url):
    """docs/dagster.md's definitions: a `syncs` job without the reconciles, a `drift` job of
    them alone on a schedule, a freshness policy; all load without the API key in the
    environment."""
    monkeypatch.delenv("CM_KEY", raising=False)
    path = project_file(tmp_path, dead_url)
    drift = mogulsync_reconcile_checks(path)
    window = dg.FreshnessPolicy.time_window(fail_window=dt.timedelta(hours=26))
    syncs = mogulsync_assets(path, freshness_policy=window)
    defs = dg.Definitions(
        assets=syncs,
        asset_checks=drift,
        jobs=[
            dg.define_asset_job(
                "syncs", dg.AssetSelection.assets(*syncs) - dg.AssetSelection.checks(*drift)
            ),
            dg.define_asset_job("drift", dg.AssetSelection.checks(*drift)),
        ],
        schedules=[dg.ScheduleDefinition(job_name="drift", cron_schedule="0 6 * * *")],
    )
    dg.Definitions.validate_loadable(defs)
    checks = {
        name: {
            key.name for key in defs.resolve_job_def(name).asset_layer.asset_graph.asset_check_keys
        }
        for name in ("syncs", "drift")
    }
    assert checks == {"syncs": {"no_failed_rows"}, "drift": {"reconciled"}}
    (spec,) = syncs[0].specs
    assert spec.freshness_policy == window


DAILY = dg.AutomationCondition.cron_tick_passed("0 6 * * *")
HOUR = dt.timedelta(hours=1)


def test_the_checks_take_the_policies_of_the_sync_assets(tmp_path, dead_url):
    """automation_condition, retry_policy and pool reach every check, as on the sync assets;
    blocking is the check's own; without them, Dagster's defaults."""
    path = project_file(tmp_path, dead_url)
    retry = dg.RetryPolicy(max_retries=2, delay=60)
    (check,) = mogulsync_reconcile_checks(
        path,
        severity=dg.AssetCheckSeverity.ERROR,
        blocking=True,
        automation_condition=DAILY,
        retry_policy=retry,
        pool="cm",
    )
    (spec,) = check.check_specs
    assert (spec.blocking, spec.automation_condition) == (True, DAILY)
    assert (check.op.pool, check.op.retry_policy) == ("cm", retry)
    (plain,) = mogulsync_reconcile_checks(path)
    (spec,) = plain.check_specs
    assert (spec.blocking, spec.automation_condition) == (False, None)
    assert (plain.op.pool, plain.op.retry_policy) == (None, None)
    # beside the sync assets given the same policies, in one code location
    assets = mogulsync_assets(path, retry_policy=retry, pool="cm")
    dg.Definitions.validate_loadable(dg.Definitions(assets=assets, asset_checks=[check]))


# Dagster's own evaluation helper passes a beta parameter
@pytest.mark.filterwarnings("ignore::dagster_shared.utils.warnings.BetaWarning")
def test_a_cron_condition_requests_the_check_alone_once_its_tick_has_passed(tmp_path, dead_url):
    """The check's own cadence: with the clock driven, nothing before the 06:00 tick, the
    check (not the sync) after it, nothing again the same day."""
    path = project_file(tmp_path, dead_url)
    defs = [*mogulsync_assets(path), *mogulsync_reconcile_checks(path, automation_condition=DAILY)]
    start = dt.datetime(2024, 3, 4, 5, 30, tzinfo=dt.UTC)
    with dg.instance_for_test() as instance:
        first = dg.evaluate_automation_conditions(
            defs=defs, instance=instance, evaluation_time=start
        )
        after_tick = dg.evaluate_automation_conditions(
            defs=defs, instance=instance, cursor=first.cursor, evaluation_time=start + HOUR
        )
        same_day = dg.evaluate_automation_conditions(
            defs=defs, instance=instance, cursor=after_tick.cursor, evaluation_time=start + 2 * HOUR
        )
    assert first.total_requested == 0
    assert after_tick.total_requested == 1
    requested = {result.key for result in after_tick.results if result.true_subset.size}
    assert requested == {dg.AssetCheckKey(CUSTOMERS, "reconciled")}
    assert same_day.total_requested == 0


def test_a_failed_reconcile_is_retried_as_the_policy_says(tmp_path, monkeypatch, dead_url):
    """ChartMogul unreachable: the check's step is retried once, then fails."""
    monkeypatch.setenv("CM_KEY", "secret-key-for-this-test")
    path = project_file(tmp_path, dead_url)
    checks = mogulsync_reconcile_checks(path, retry_policy=dg.RetryPolicy(max_retries=1))
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [*mogulsync_assets(path), *checks],
            instance=instance,
            selection=dg.AssetSelection.checks(*checks),
            raise_on_error=False,
        )
    assert not result.success
    kinds = [e.event_type_value for e in result.all_events if e.step_key]
    assert (kinds.count("STEP_UP_FOR_RETRY"), kinds.count("STEP_FAILURE")) == (1, 1)
    assert "secret-key-for-this-test" not in str(result.all_events)

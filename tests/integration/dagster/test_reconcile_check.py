"""The ``reconciled`` asset check: a recorded reconcile of each sync, run by Dagster."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg
import duckdb
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

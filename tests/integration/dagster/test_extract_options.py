"""Deployment options on the extract's assets: automation, freshness, retries, pools.

The same options as the sync assets take (tests/integration/dagster/test_options.py), given
through the same code: per table for automation and freshness, per step for retries and
the pool.
"""

from __future__ import annotations

import datetime as dt

import dagster as dg
import pytest
import yaml
from tests.integration.dagster.test_extract_assets import KEYS, _project
from tests.integration.dagster.test_options import project_file

from mogulsync.integrations.dagster import (
    mogulsync_assets,
    mogulsync_extract_assets,
    sync_asset_key,
)

HOURLY = dg.AutomationCondition.on_cron("0 * * * *")
WINDOW = dg.FreshnessPolicy.time_window(fail_window=dt.timedelta(hours=26))


def _step_events(result: dg.ExecuteInProcessResult) -> list[str]:
    return [e.event_type_value for e in result.all_events if e.step_key]


def _materialize(assets: list[dg.AssetsDefinition]) -> dg.ExecuteInProcessResult:
    with dg.instance_for_test() as instance:
        return dg.materialize(assets, instance=instance, raise_on_error=False)


def test_each_table_gets_the_policies_and_the_step_its_pool_and_retries(tmp_path):
    """automation_condition and freshness_policy on every table's spec, retry_policy and
    pool on the one step; loadable beside the syncs given the same options."""
    path = _project(tmp_path, "http://chartmogul.invalid")
    retry = dg.RetryPolicy(max_retries=2, delay=60)
    (extract,) = mogulsync_extract_assets(
        path, automation_condition=HOURLY, retry_policy=retry, pool="cm", freshness_policy=WINDOW
    )
    specs = {spec.key: spec for spec in extract.specs}
    assert set(specs) == set(KEYS.values())
    assert {spec.automation_condition for spec in specs.values()} == {HOURLY}
    assert {spec.freshness_policy for spec in specs.values()} == {WINDOW}
    assert extract.op.pool == "cm"
    assert extract.op.retry_policy == retry

    (plain,) = mogulsync_extract_assets(path)
    assert {spec.automation_condition for spec in plain.specs} == {None}
    assert {spec.freshness_policy for spec in plain.specs} == {None}
    assert plain.op.pool is None
    assert plain.op.retry_policy is None

    # a project with syncs and an extract, both given the options, in one code location
    (tmp_path / "both").mkdir()
    both = project_file(tmp_path / "both", "http://chartmogul.invalid")
    raw = yaml.safe_load(both.read_text(encoding="utf-8"))
    raw["extract"] = {"destination": f"duckdb:///{tmp_path / 'cm.duckdb'}", "streams": ["plans"]}
    both.write_text(yaml.safe_dump(raw), encoding="utf-8")
    options = {"retry_policy": retry, "pool": "cm", "freshness_policy": WINDOW}
    defs = dg.Definitions(
        assets=[
            *mogulsync_assets(both, automation_condition=dg.AutomationCondition.eager(), **options),
            *mogulsync_extract_assets(both, automation_condition=HOURLY, **options),
        ]
    )
    dg.Definitions.validate_loadable(defs)
    graph = defs.resolve_asset_graph()
    assert graph.get(dg.AssetKey("dlt_chartmogul_plans")).freshness_policy == WINDOW
    assert graph.get(sync_asset_key("customers")).freshness_policy == WINDOW


# Dagster's own evaluation helper passes a beta parameter
@pytest.mark.filterwarnings("ignore::dagster_shared.utils.warnings.BetaWarning")
def test_on_cron_requests_every_table_once_its_tick_has_passed(tmp_path):
    """The extract's tables have no upstream: a cron condition is what runs them. With the
    clock driven, nothing is requested before the hour's tick, every table after it (one
    subsettable step, so one run), and nothing again within the same hour."""
    path = _project(tmp_path, "http://chartmogul.invalid")
    (extract,) = mogulsync_extract_assets(path, automation_condition=HOURLY)
    start = dt.datetime(2024, 3, 4, 10, 20, tzinfo=dt.UTC)
    with dg.instance_for_test() as instance:
        first = dg.evaluate_automation_conditions(
            defs=[extract], instance=instance, evaluation_time=start
        )
        after_tick = dg.evaluate_automation_conditions(
            defs=[extract],
            instance=instance,
            cursor=first.cursor,
            evaluation_time=start + dt.timedelta(hours=1),
        )
        same_hour = dg.evaluate_automation_conditions(
            defs=[extract],
            instance=instance,
            cursor=after_tick.cursor,
            evaluation_time=start + dt.timedelta(hours=1, minutes=10),
        )
    assert first.total_requested == 0
    assert after_tick.total_requested == len(KEYS)
    assert all(after_tick.get_requested_partitions(key) == {None} for key in KEYS.values())
    assert same_hour.total_requested == 0


def test_a_failed_extract_is_retried_as_the_policy_says(tmp_path, monkeypatch, dead_url):
    """ChartMogul unreachable: the step is retried once under RetryPolicy(max_retries=1) (a
    retry first finishes what the failed run left, as every run does), then fails with
    mogulsync's message."""
    monkeypatch.setenv("CM_KEY", "secret-key-for-this-test")
    path = _project(tmp_path, dead_url, ["plans"])
    (extract,) = mogulsync_extract_assets(path, retry_policy=dg.RetryPolicy(max_retries=1))
    result = _materialize([extract])
    assert not result.success
    kinds = _step_events(result)
    assert kinds.count("STEP_START") == 1
    assert kinds.count("STEP_UP_FOR_RETRY") == 1
    assert kinds.count("STEP_RESTARTED") == 1
    assert kinds.count("STEP_FAILURE") == 1
    (failure,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    user = failure.step_failure_data.user_failure_data
    assert user.description.startswith("the extract did not complete: ")
    assert "secret-key-for-this-test" not in str(result.all_events)


def test_a_project_problem_fails_the_extract_without_retries(tmp_path, monkeypatch, dead_url):
    """An unset ${CM_KEY} fails the same way on every attempt: the policy does not retry it."""
    monkeypatch.delenv("CM_KEY", raising=False)
    path = _project(tmp_path, dead_url, ["plans"])
    (extract,) = mogulsync_extract_assets(path, retry_policy=dg.RetryPolicy(max_retries=2))
    result = _materialize([extract])
    assert not result.success
    assert _step_events(result).count("STEP_UP_FOR_RETRY") == 0
    (failure,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert "CM_KEY" in failure.step_failure_data.user_failure_data.description

"""Which syncs are in alert now: the latest finished run under the alert rules, by channel."""

from __future__ import annotations

from mogulsync.config.alerts import AlertsConfig
from mogulsync.runs.models import RowCounts, RunRecord, RunStatus
from mogulsync.serve.alerting import alerting

HOOK = {"type": "webhook", "url": "https://hooks.example.invalid/ops"}  # never called


def _config(**alerts: object) -> AlertsConfig:
    return AlertsConfig.model_validate({"channels": {"ops": HOOK, "team": HOOK}, **alerts})


def _run(run_id: str, status: RunStatus, *, sync: str = "customers", **rows: int) -> RunRecord:
    return RunRecord(run_id, sync, status, "2026-03-02T09:30:00+00:00", rows=RowCounts(**rows))


def test_the_latest_finished_run_decides_and_interrupted_ones_are_passed_over():
    config = _config()  # the default rule: every sync, every channel, on failure
    failed = _run("r1", RunStatus.FAILED)
    history = [_run("r3", RunStatus.INTERRUPTED), _run("r2", RunStatus.SKIPPED), failed]
    assert alerting(config, history) == [
        {"channel": "ops", "trigger": "failed", "run_id": "r1"},
        {"channel": "team", "trigger": "failed", "run_id": "r1"},
    ]
    assert alerting(config, [_run("r4", RunStatus.SUCCESS), failed]) == []  # recovered
    assert alerting(config, []) == []
    assert alerting(AlertsConfig(), [failed]) == []  # no channels: nothing to be in alert on


def test_each_rule_alerts_its_own_channels_and_a_drift_watch_counts_too():
    config = _config(rules=[
        {"channels": ["ops"], "failed_rows": {"count": 2}},
        {"channels": ["team"], "drift": {"count": 1}, "on_failure": False},
    ])  # fmt: skip
    partial = _run("r1", RunStatus.PARTIAL, succeeded=5, failed=2)
    assert alerting(config, [partial]) == [
        {"channel": "ops", "trigger": "failed_rows", "run_id": "r1"}
    ]
    below = _run("r2", RunStatus.PARTIAL, succeeded=5, failed=1)
    drifted = _run("w1", RunStatus.PARTIAL, sync="reconcile:customers", changed=1, unchanged=9)
    assert alerting(config, [below], [drifted]) == [
        {"channel": "team", "trigger": "drift", "run_id": "w1"}
    ]

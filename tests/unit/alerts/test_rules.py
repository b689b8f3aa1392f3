"""Which finished runs alert, and when a recovery is announced."""

from __future__ import annotations

import pytest

from mogulsync._redact import Redactor
from mogulsync.alerts import AlertDispatcher, Trigger, evaluate
from mogulsync.alerts.rules import previous_run
from mogulsync.config.alerts import AlertRule, AlertsConfig
from mogulsync.runs.models import RowCounts, RunRecord, RunStatus


def _run(status="success", *, succeeded=0, failed=0, sync="customers", run_id="r2"):
    return RunRecord(
        run_id=run_id,
        sync=sync,
        status=RunStatus(status),
        started_at="2025-01-01T00:00:00+00:00",
        rows=RowCounts(succeeded=succeeded, failed=failed),
    )


@pytest.mark.parametrize(
    ("threshold", "succeeded", "failed", "expected"),
    [
        ({"count": 5}, 100, 4, None),
        ({"count": 5}, 100, 5, Trigger.FAILED_ROWS),
        ({"percent": 10}, 91, 9, None),
        ({"percent": 10}, 90, 10, Trigger.FAILED_ROWS),
        ({"count": 50, "percent": 10}, 10, 2, Trigger.FAILED_ROWS),
        ({"count": 1}, 10, 0, None),
    ],
)
def test_failed_rows_threshold(threshold, succeeded, failed, expected):
    """Failed rows alert at the count or at the percentage of rows acted on, whichever first."""
    rule = AlertRule(failed_rows=threshold)
    record = _run("partial" if failed else "success", succeeded=succeeded, failed=failed)
    assert evaluate(rule, record, None) is expected


def test_failed_run_alerts_unless_turned_off():
    """A failed run alerts by default and stays quiet with on_failure false."""
    assert evaluate(AlertRule(), _run("failed"), None) is Trigger.FAILED
    assert evaluate(AlertRule(on_failure=False), _run("failed"), None) is None


def test_recovery_only_after_a_run_that_alerted():
    """A healthy run after an alerting run is a recovery; after a healthy one it is quiet."""
    rule = AlertRule(failed_rows={"count": 3})
    assert evaluate(rule, _run(), _run("failed", run_id="r1")) is Trigger.RECOVERED
    assert evaluate(rule, _run(), _run("partial", failed=3, run_id="r1")) is Trigger.RECOVERED
    assert evaluate(rule, _run(), _run("partial", failed=2, run_id="r1")) is None
    assert evaluate(rule, _run(), _run(run_id="r1")) is None
    assert evaluate(AlertRule(on_recovery=False), _run(), _run("failed", run_id="r1")) is None


def test_rules_cover_only_their_syncs():
    """A rule naming syncs ignores the others."""
    rule = AlertRule(syncs=["plans"])
    assert evaluate(rule, _run("failed"), None) is None
    assert evaluate(rule, _run("failed", sync="plans"), None) is Trigger.FAILED


def test_previous_run_skips_the_current_and_interrupted_runs():
    """The previous run is the latest finished one other than the current run."""
    history = [
        _run("running", run_id="r3"),
        _run("interrupted", run_id="r2"),
        _run("failed", run_id="r1"),
    ]
    assert previous_run(history, "r3").run_id == "r1"
    assert previous_run(history[:2], "r3") is None


def test_a_problem_outranks_a_recovery_for_the_same_channel():
    """When one rule sees a recovery and another a problem, the channel hears the problem."""
    config = AlertsConfig(
        channels={"pd": {"type": "webhook", "format": "pagerduty", "routing_key": "rk-1234"}},
        rules=[{"failed_rows": {"count": 100}}, {"failed_rows": {"count": 10}}],
    )
    dispatcher = AlertDispatcher(config, Redactor())
    current = _run("partial", succeeded=100, failed=50)
    previous = _run("partial", succeeded=100, failed=150, run_id="r1")
    assert dispatcher.decide(current, previous) == {Trigger.FAILED_ROWS: ["pd"]}
    reordered = config.model_copy(update={"rules": list(reversed(config.rules))})
    assert AlertDispatcher(reordered, Redactor()).decide(current, previous) == {
        Trigger.FAILED_ROWS: ["pd"]
    }

"""`on_success`: a message after every successful run, never to PagerDuty, never "in alert"."""

from __future__ import annotations

import pytest

from mogulsync._redact import Redactor
from mogulsync.alerts import AlertDispatcher, Trigger, build_message, evaluate
from mogulsync.alerts.extract import ExtractOutcome, extract_message, extract_trigger
from mogulsync.alerts.slack import slack_body
from mogulsync.alerts.webhook import pagerduty_events
from mogulsync.config.alerts import AlertRule, AlertsConfig
from mogulsync.runs.models import RowCounts, RunRecord, RunStatus
from mogulsync.serve.alerting import alerting

HOOK = {"type": "webhook", "url": "https://hooks.example.invalid/ops"}  # never called
PAGER = {"type": "webhook", "format": "pagerduty", "routing_key": "rk-1234"}


def _run(
    status: RunStatus = RunStatus.SUCCESS,
    *,
    sync: str = "customers",
    run_id: str = "r2",
    **rows: int,
) -> RunRecord:
    counts = RowCounts(**rows)
    return RunRecord(run_id, sync, status, "2026-03-02T09:30:00+00:00", rows=counts)


def test_on_success_is_off_by_default() -> None:
    assert AlertRule().on_success is False
    assert evaluate(AlertRule(), _run(), None) is None


def test_a_successful_run_is_announced_and_a_partial_one_is_not() -> None:
    rule = AlertRule(on_success=True)
    assert evaluate(rule, _run(succeeded=3), None) is Trigger.SUCCEEDED
    assert evaluate(rule, _run(RunStatus.PARTIAL, succeeded=3, failed=1), None) is None
    assert evaluate(rule, _run(RunStatus.FAILED), None) is Trigger.FAILED
    assert evaluate(rule, _run(RunStatus.SKIPPED), None) is None
    assert evaluate(AlertRule(on_success=True, syncs=["plans"]), _run(), None) is None


def test_a_success_after_an_alerted_run_is_told_as_the_recovery() -> None:
    failed = _run(RunStatus.FAILED, run_id="r1")
    assert evaluate(AlertRule(on_success=True), _run(), failed) is Trigger.RECOVERED
    quiet = AlertRule(on_success=True, on_recovery=False)
    assert evaluate(quiet, _run(), failed) is Trigger.SUCCEEDED


def test_a_recorded_reconcile_is_not_a_successful_sync_run() -> None:
    rule = AlertRule(on_success=True)
    assert evaluate(rule, _run(sync="reconcile:customers", unchanged=9), None) is None


def test_pagerduty_channels_never_hear_of_a_success() -> None:
    config = AlertsConfig.model_validate(
        {"channels": {"hook": HOOK, "pd": PAGER}, "rules": [{"on_success": True}]}
    )
    dispatcher = AlertDispatcher(config, Redactor())
    assert dispatcher.decide(_run(), None) == {Trigger.SUCCEEDED: ["hook"]}
    # the recovery still resolves the incident the failure opened
    failed = _run(RunStatus.FAILED, run_id="r1")
    assert dispatcher.decide(_run(), failed) == {Trigger.RECOVERED: ["hook", "pd"]}
    message = build_message(Trigger.SUCCEEDED, _run(), [], Redactor())
    assert pagerduty_events(message, "rk-1234", "error") == []


def test_a_recovery_outranks_a_success_for_the_same_channel() -> None:
    config = AlertsConfig.model_validate(
        {
            "channels": {"hook": HOOK},
            "rules": [{"on_success": True, "on_recovery": False}, {}],
        }
    )
    failed = _run(RunStatus.FAILED, run_id="r1")
    assert AlertDispatcher(config, Redactor()).decide(_run(), failed) == {
        Trigger.RECOVERED: ["hook"]
    }


def test_a_success_never_puts_a_sync_in_alert() -> None:
    config = AlertsConfig.model_validate(
        {"channels": {"hook": HOOK}, "rules": [{"on_success": True}]}
    )
    assert alerting(config, [_run(succeeded=3)]) == []


def test_the_success_message_reads_well() -> None:
    message = build_message(Trigger.SUCCEEDED, _run(added=2, succeeded=2), [], Redactor())
    assert message.title == "mogulsync: sync customers succeeded (run r2)"
    assert message.as_dict()["event"] == "succeeded"
    assert not message.trigger.is_problem
    assert slack_body(message)["text"] == message.title


@pytest.mark.parametrize(
    ("keys", "status", "previous", "expected"),
    [
        ({"on_success": True}, "success", None, Trigger.SUCCEEDED),
        ({"on_success": True}, "success", "success", Trigger.SUCCEEDED),
        ({"on_success": True}, "success", "failed", Trigger.RECOVERED),
        ({"on_success": True, "on_failure": False}, "success", "failed", Trigger.SUCCEEDED),
        ({"on_success": True}, "failed", None, Trigger.FAILED),
        ({"on_success": True}, "cancelled", None, None),
        ({"on_success": True, "extract": False}, "success", None, None),
        ({}, "success", None, None),
    ],
)
def test_extract_success(
    keys: dict[str, object], status: str, previous: str | None, expected: Trigger | None
) -> None:
    assert extract_trigger(AlertRule.model_validate(keys), status, previous) is expected


def test_the_extract_success_message_says_succeeded() -> None:
    outcome = ExtractOutcome(
        run_id="extract-1",
        status="success",
        started_at="2026-03-02T09:30:00+00:00",
        finished_at="2026-03-02T09:30:04+00:00",
        duration_s=4.0,
        records={"plans": 3},
    )
    message = extract_message(Trigger.SUCCEEDED, outcome, Redactor())
    assert message.title == "mogulsync: extract succeeded (run extract-1)"
    assert message.as_dict()["event"] == "succeeded"
    assert "3 records loaded" in message.counts_line


def test_turning_on_success_on_keeps_the_events_episodes() -> None:
    """The forwarder's episode state is keyed by the rule's events watch and channels: a
    rule edited for the syncs (`on_success`, `failed_rows`) continues its open episodes."""
    from mogulsync.alerts.events_dispatch import state_key

    before = AlertRule()
    assert state_key(AlertRule(on_success=True)) == state_key(before)
    assert state_key(AlertRule(failed_rows={"count": 1})) == state_key(before)
    assert state_key(AlertRule(channels=["hook"])) != state_key(before)
    assert state_key(AlertRule(events={"dead_letters": 5})) != state_key(before)

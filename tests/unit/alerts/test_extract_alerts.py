"""Extract alerts: which rules cover the extract, when they fire, what the message says."""

from __future__ import annotations

import pytest

from mogulsync._redact import Redactor
from mogulsync.alerts import Trigger
from mogulsync.alerts.extract import HINT, ExtractOutcome, extract_message, extract_trigger
from mogulsync.alerts.slack import slack_body
from mogulsync.alerts.sms import sms_body
from mogulsync.alerts.webhook import pagerduty_events
from mogulsync.config import ConfigValidationError, parse_config
from mogulsync.config.alerts import AlertRule
from mogulsync.extract import history
from mogulsync.extract.history import ExtractHistory, ExtractRun
from mogulsync.extract.recording import ExtractWatch, extract_redactor
from mogulsync.extract.runner import ExtractError
from mogulsync.runs import RunStore
from mogulsync.runs.deliveries import AlertDelivery
from mogulsync.serve.scheduler import SCHEDULE_FILE

SECRET = "sk-live-secret-123"


def _rule(**keys: object) -> AlertRule:
    return AlertRule.model_validate(keys)


@pytest.mark.parametrize(
    ("keys", "covered"),
    [
        ({}, True),  # the default rule covers the extract
        ({"syncs": ["customers"]}, False),  # a rule of listed syncs does not, unless told
        ({"syncs": ["customers"], "extract": True}, True),
        ({"extract": False}, False),
    ],
)
def test_which_rules_cover_the_extract(keys: dict[str, object], covered: bool) -> None:
    assert _rule(**keys).covers_extract is covered


@pytest.mark.parametrize(
    ("status", "previous", "expected"),
    [
        ("failed", None, Trigger.FAILED),
        ("failed", "failed", Trigger.FAILED),  # every failed run alerts, as a sync's does
        ("success", "failed", Trigger.RECOVERED),
        ("success", "success", None),
        ("success", None, None),
        ("cancelled", "failed", None),  # a cancelled run neither fails nor recovers
    ],
)
def test_failure_and_recovery(status: str, previous: str | None, expected: Trigger) -> None:
    assert extract_trigger(_rule(), status, previous) is expected


def test_a_rule_without_on_failure_or_recovery_says_less() -> None:
    assert extract_trigger(_rule(on_failure=False), "failed", None) is None
    assert extract_trigger(_rule(on_failure=False), "success", "failed") is None
    assert extract_trigger(_rule(on_recovery=False), "success", "failed") is None
    assert extract_trigger(_rule(extract=False), "failed", None) is None


def test_an_unknown_rule_key_names_the_close_one() -> None:
    raw = {"chartmogul": {"api_key": "${KEY}"}, "alerts": {"rules": [{"extrcat": True}]}}
    with pytest.raises(ConfigValidationError) as caught:
        parse_config(raw, env={"KEY": "k"})
    assert caught.value.problems == ["alerts.rules.0.extrcat: unknown key; did you mean `extract`?"]


def _outcome(**changes: object) -> ExtractOutcome:
    values: dict[str, object] = {
        "run_id": "extract-20260302T093000000000",
        "status": "failed",
        "started_at": "2026-03-02T09:30:00+00:00",
        "finished_at": "2026-03-02T09:30:04+00:00",
        "duration_s": 4.25,
        "records": {"plans": 0, "customers": 120},
        "stage": "fetch",
        "failed_streams": ("plans",),
        "message": f"ChartMogul answered 401 for key {SECRET}",
    }
    return ExtractOutcome(**(values | changes))  # type: ignore[arg-type]


def test_the_failure_message_names_stage_streams_counts_and_where_to_read_more() -> None:
    message = extract_message(Trigger.FAILED, _outcome(), Redactor([SECRET]))
    assert message.title == (
        "mogulsync: extract failed in stage fetch, stream plans (run extract-20260302T093000000000)"
    )
    assert message.counts_line == (
        "status failed: 120 records read (customers 120, plans 0) in 4.2s"
    )
    text = message.text()
    assert HINT in text
    assert SECRET not in text
    assert SECRET not in str(message.as_dict())
    assert SECRET not in str(slack_body(message))
    assert SECRET not in sms_body(message)
    summary = message.as_dict()
    assert (summary["job"], summary["stage"], summary["failed_streams"]) == (
        "extract",
        "fetch",
        ["plans"],
    )
    assert summary["streams"] == {"customers": 120, "plans": 0}


def test_several_failed_streams_and_a_load_failure_read_well() -> None:
    redactor = Redactor()
    two = extract_message(Trigger.FAILED, _outcome(failed_streams=("a", "b")), redactor)
    assert "extract failed in stage fetch, streams a, b (run" in two.title
    load = extract_message(Trigger.FAILED, _outcome(stage="load", failed_streams=()), redactor)
    assert "extract failed in stage load (run" in load.title
    recovered = _outcome(status="success", stage=None, failed_streams=(), message=None)
    message = extract_message(Trigger.RECOVERED, recovered, redactor)
    assert message.title == "mogulsync: extract recovered (run extract-20260302T093000000000)"
    assert "120 records loaded" in message.counts_line


def test_pagerduty_opens_and_resolves_the_extract_incident() -> None:
    redactor = Redactor()
    [trigger] = pagerduty_events(
        extract_message(Trigger.FAILED, _outcome(), redactor), "rk", "error"
    )
    assert (trigger["dedup_key"], trigger["event_action"]) == ("mogulsync/extract", "trigger")
    payload = trigger["payload"]
    assert isinstance(payload, dict)
    assert (payload["group"], payload["component"]) == ("extract", "extract")
    recovered = extract_message(Trigger.RECOVERED, _outcome(status="success"), redactor)
    [resolve] = pagerduty_events(recovered, "rk", "error")
    assert resolve == {
        "routing_key": "rk",
        "event_action": "resolve",
        "dedup_key": "mogulsync/extract",
    }


def test_the_stage_a_failed_run_stopped_in() -> None:
    error = RuntimeError("boom")
    assert ExtractWatch().stage_of(error) == "set-up"  # before dlt took a page
    watch = ExtractWatch()
    watch.on_set_up()
    assert watch.stage_of(error) == "fetch"  # ChartMogul's error, pages flowing
    assert watch.stage_of(ExtractError("extracting into x failed")) == "extract"
    watch.on_stage("fetched")
    assert watch.stage_of(error) == "extract"
    watch.on_stage("extracted")
    assert watch.stage_of(error) == "load"
    streams = ExtractWatch()
    streams.on_records("customers", 5)
    streams.on_failed_streams(["plans"])
    assert (streams.stage_of(error), streams.records) == ("fetch", {"customers": 5, "plans": 0})


def test_the_history_is_the_servers_schedule_file() -> None:
    assert history.HISTORY_FILE == SCHEDULE_FILE


def test_the_previous_finished_run_passes_over_cancelled_and_interrupted_ones(tmp_path) -> None:
    runs = ExtractHistory(tmp_path)
    try:
        for run_id, status in [("r1", "failed"), ("r2", "cancelled"), ("r3", "interrupted")]:
            runs.save(ExtractRun(run_id, status, "2026-03-02T09:30:00+00:00"))
        runs.save(ExtractRun("r4", "running", "2026-03-02T09:31:00+00:00"))
        previous = runs.previous_finished("r4")
        assert previous is not None
        assert previous.run_id == "r1"
        assert runs.previous_finished("r1") is None
    finally:
        runs.close()


def test_deliveries_of_runs_the_extract_history_dropped_are_deleted(tmp_path) -> None:
    def delivery(sync: str, run_id: str) -> AlertDelivery:
        return AlertDelivery("2026-03-02T09:30:00+00:00", sync, run_id, "c", "t", "failed", True)

    store = RunStore(tmp_path)
    try:
        store.add_deliveries([delivery("extract", "e1"), delivery("extract", "e2")])
        store.add_deliveries([delivery("customers", "e1")])  # another job's: untouched
        assert store.keep_deliveries("extract", ["e2"]) == 1
        assert [d.run_id for d in store.deliveries(["extract"])] == ["e2"]
        assert [d.run_id for d in store.deliveries(["customers"])] == ["e1"]
    finally:
        store.close()


def test_the_destinations_passwords_never_reach_a_message() -> None:
    """The project's destination and the one `--destination` gave are both masked."""
    raw = {
        "chartmogul": {"api_key": "${KEY}"},
        "extract": {"destination": "postgresql://etl:${PGPW}@db/analytics"},
    }
    config = parse_config(raw, env={"KEY": SECRET, "PGPW": "pg-secret-pw"})
    redactor = extract_redactor(config, "postgresql://cli:other-secret-pw@db/y")
    reason = f"loading failed: pg-secret-pw, other-secret-pw, key {SECRET}"
    text = extract_message(Trigger.FAILED, _outcome(message=reason), redactor).text()
    for secret in ("pg-secret-pw", "other-secret-pw", SECRET):
        assert secret not in text

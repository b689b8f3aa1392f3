"""Alert messages: redacted, with the hint; each channel's payload shape."""

from __future__ import annotations

from dataclasses import replace

from mogulsync._redact import Redactor
from mogulsync.alerts import Trigger, build_message
from mogulsync.alerts.slack import slack_body
from mogulsync.alerts.webhook import PAGERDUTY_SUMMARY_LIMIT, pagerduty_events
from mogulsync.runs.models import RowCounts, RowError, RunRecord, RunStatus

SECRET = "sk-live-secret-123"


def _message(trigger=Trigger.FAILED_ROWS):
    record = RunRecord(
        run_id="20250101T000000-abcd",
        sync="customers",
        status=RunStatus.PARTIAL,
        started_at="2025-01-01T00:00:00+00:00",
        finished_at="2025-01-01T00:05:00+00:00",
        rows=RowCounts(added=3, succeeded=2, failed=8),
        message=f"failed with key {SECRET}",
    )
    errors = [RowError(f"k{i}", "email", f"'{SECRET}<b>' is bad", "Fix it.") for i in range(8)]
    return build_message(trigger, record, errors, Redactor([SECRET]))


def test_message_is_redacted_and_quotes_the_first_errors():
    """Secrets are masked everywhere; at most five row errors are quoted; the hint is there."""
    message = _message()
    text = message.text()
    assert SECRET not in text
    assert SECRET not in str(message.as_dict())
    assert len(message.errors) == 5
    assert "8 of 10 rows failed (80.0%" in message.title
    assert "mogulsync runs show 20250101T000000-abcd --errors" in text


def test_slack_escapes_control_characters():
    """Slack's <, > and & are escaped so row values cannot inject links or mentions."""
    body = slack_body(_message())
    assert body["text"] == _message().title
    blocks = str(body["blocks"])
    assert "&lt;b&gt;" in blocks
    assert "<b>" not in blocks


def test_pagerduty_trigger_and_resolve_share_the_sync_dedup_key():
    """A problem triggers and a recovery resolves the same incident."""
    [trigger] = pagerduty_events(_message(), "rk", "critical")
    [resolve] = pagerduty_events(_message(Trigger.RECOVERED), "rk", "critical")
    assert (trigger["event_action"], resolve["event_action"]) == ("trigger", "resolve")
    assert trigger["dedup_key"] == resolve["dedup_key"] == "mogulsync/customers"
    assert trigger["payload"]["severity"] == "critical"
    assert trigger["payload"]["component"] == "customers"
    assert trigger["payload"]["source"].startswith("mogulsync@")
    assert trigger["payload"]["timestamp"] == "2025-01-01T00:05:00+00:00"
    assert set(resolve) == {"routing_key", "event_action", "dedup_key"}


def test_pagerduty_summary_fits_the_events_api_limit():
    """payload.summary never exceeds PagerDuty's 1024 characters, however long the sync name."""
    long_sync = replace(_message(), sync="s" * 2000)
    [trigger] = pagerduty_events(long_sync, "rk", "error")
    assert len(trigger["payload"]["summary"]) == PAGERDUTY_SUMMARY_LIMIT

"""The record of alert deliveries: bounded per sync, gone with its run, never a secret."""

from __future__ import annotations

import datetime as dt
import sqlite3

from mogulsync.alerts.targets import describe_target
from mogulsync.config.alerts import AlertsConfig
from mogulsync.runs import RunStore
from mogulsync.runs.deliveries import KEEP_DELIVERIES, AlertDelivery

SECRET = "s3cret-token-0123456789"


def _delivery(sync: str, run_id: str, number: int) -> AlertDelivery:
    return AlertDelivery(
        at=f"2026-03-02T09:30:{number % 60:02d}+00:00",
        sync=sync,
        run_id=run_id,
        channel=f"c{number}",
        target="webhook (json) https://hooks.example.com",
        trigger="failed",
        delivered=number % 2 == 0,
        error=None if number % 2 == 0 else "the receiver answered HTTP 500",
    )


def test_each_sync_keeps_its_latest_deliveries_and_no_more(tmp_path):
    store = RunStore(tmp_path)
    try:
        store.add_deliveries([_delivery("quiet", "r0", 0)])
        for number in range(KEEP_DELIVERIES + 5):
            store.add_deliveries([_delivery("busy", "r1", number)])
        busy = store.deliveries(["busy"], limit=1000)
        assert len(busy) == KEEP_DELIVERIES
        # newest first; the five oldest went
        assert [d.channel for d in busy[:2]] == [
            f"c{KEEP_DELIVERIES + 4}",
            f"c{KEEP_DELIVERIES + 3}",
        ]
        assert busy[-1].channel == "c5"
        assert [d.channel for d in store.deliveries(["quiet"])] == ["c0"]
        both = store.deliveries(["quiet", "busy"], limit=3)
        assert [d.sync for d in both] == ["busy", "busy", "busy"]
    finally:
        store.close()


def test_a_pruned_run_takes_its_deliveries_along(tmp_path):
    store = RunStore(tmp_path)
    try:
        old = store.start("customers", full=False)
        store.finish(old)
        new = store.start("customers", full=False)
        store.finish(new)
        store.add_deliveries([_delivery("customers", old.run_id, 1)])
        store.add_deliveries([_delivery("customers", new.run_id, 2)])
        later = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
        store.prune(runs_before=later, requests_before=None, keep_last=1)
        assert [d.run_id for d in store.deliveries(["customers"])] == [new.run_id]
    finally:
        store.close()


def test_targets_name_where_an_alert_went_without_its_secrets():
    config = AlertsConfig.model_validate(
        {
            "channels": {
                "slack": {"type": "slack", "url": f"https://hooks.slack.com/services/T0/B0/{SECRET}"},
                "hook": {"type": "webhook", "url": f"https://user:{SECRET}@example.com:8443/h?k={SECRET}"},
                "pager": {"type": "webhook", "format": "pagerduty", "routing_key": SECRET},
                "mail": {"type": "email", "host": "smtp.example.com", "port": 587,
                         "username": "u", "password": SECRET, "from": "m@example.com",
                         "to": ["ops@example.com"]},
                "sms": {"type": "sms", "account_sid": "AC" + "0" * 32, "auth_token": SECRET,
                        "from": "+15550000000", "to": ["+15551111111"]},
            }
        }
    )  # fmt: skip
    targets = {name: describe_target(channel) for name, channel in config.channels.items()}
    assert targets == {
        "slack": "slack https://hooks.slack.com",
        "hook": "webhook (json) https://example.com:8443",
        "pager": "webhook (pagerduty) https://events.pagerduty.com",
        "mail": "email to ops@example.com via smtp.example.com:587",
        "sms": "sms to +15551111111 via https://api.twilio.com",
    }


def test_pruning_a_run_finds_its_deliveries_by_index(tmp_path):
    """A retention prune deletes each pruned run's deliveries: by an index, not a full scan
    of the table per run while it holds the history's write lock."""
    RunStore(tmp_path).close()
    db = sqlite3.connect(tmp_path / "runs.sqlite")
    try:
        plan = db.execute(
            "EXPLAIN QUERY PLAN DELETE FROM alert_deliveries WHERE run_id = ?", ("r1",)
        ).fetchall()
    finally:
        db.close()
    (step,) = [str(row[-1]) for row in plan]
    assert step.startswith("SEARCH alert_deliveries USING ")
    assert "INDEX alert_deliveries_by_run (run_id=?)" in step

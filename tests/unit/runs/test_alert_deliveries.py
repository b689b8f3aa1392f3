"""The record of alert deliveries: bounded per sync, gone with its run, never a secret."""

from __future__ import annotations

import datetime as dt
import sqlite3
from dataclasses import replace

from mogulsync.alerts.message import Trigger
from mogulsync.alerts.targets import describe_target
from mogulsync.config.alerts import AlertsConfig
from mogulsync.runs import RunStore
from mogulsync.runs.deliveries import (
    KEEP_DELIVERIES,
    PRUNE,
    SUCCESS_TRIGGER,
    AlertDelivery,
)

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


def _sent(sync: str, number: int, trigger: str) -> AlertDelivery:
    return replace(_delivery(sync, f"r{number}", number), channel=f"c{number}", trigger=trigger)


def test_success_notices_do_not_push_out_the_failures(tmp_path):
    """With `on_success`, a sync that runs every few minutes sends a `succeeded` after
    each run: the failures and recoveries among them are kept apart, the latest
    KEEP_DELIVERIES of each, for every history name (a sync, the extract, events)."""
    store = RunStore(tmp_path)
    try:
        for sync in ("customers", "extract", "events"):
            problems = ["failed", "recovered", "failed_rows", "dead_letters"]
            for number, trigger in enumerate(problems):
                store.add_deliveries([_sent(sync, number, trigger)])
            for number in range(10, 10 + 3 * KEEP_DELIVERIES):  # a day of success notices
                store.add_deliveries([_sent(sync, number, "succeeded")])
            kept = store.deliveries([sync], limit=1000)
            assert [d.trigger for d in kept if not d.is_success] == problems[::-1]
            successes = [d.channel for d in kept if d.is_success]
            last = 10 + 3 * KEEP_DELIVERIES - 1
            assert successes == [f"c{n}" for n in range(last, last - KEEP_DELIVERIES, -1)]
        # and the problems have their own bound, whatever the successes
        for number in range(1000, 1000 + KEEP_DELIVERIES + 3):
            store.add_deliveries([_sent("customers", number, "failed")])
        kept = store.deliveries(["customers"], limit=1000)
        assert sum(not d.is_success for d in kept) == KEEP_DELIVERIES
        assert sum(d.is_success for d in kept) == KEEP_DELIVERIES
    finally:
        store.close()


def test_the_success_trigger_is_the_alerts_one():
    assert Trigger.SUCCEEDED.value == SUCCESS_TRIGGER


def test_the_prune_of_each_kind_walks_one_syncs_rows_by_index(tmp_path):
    """Each kind's prune finds the sync's rows through (sync, id), newest first: no scan
    of the table and no sort, under the history's write lock after every alert."""
    RunStore(tmp_path).close()
    db = sqlite3.connect(tmp_path / "runs.sqlite")
    try:
        for success in (0, 1):
            args = ("s", SUCCESS_TRIGGER, success, "s", SUCCESS_TRIGGER, success, KEEP_DELIVERIES)
            plan = [str(row[-1]) for row in db.execute(f"EXPLAIN QUERY PLAN {PRUNE}", args)]
            searches = [step for step in plan if step.startswith(("SEARCH", "SCAN"))]
            assert searches == [
                "SEARCH alert_deliveries USING INDEX alert_deliveries_by_sync (sync=? AND id<?)",
                "SEARCH alert_deliveries USING INDEX alert_deliveries_by_sync (sync=?)",
            ]
            assert not any("TEMP B-TREE" in step for step in plan)
    finally:
        db.close()


#: the table and its indexes as the release before kept-apart successes made them
_OLD_SCHEMA = """
CREATE TABLE alert_deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, sync TEXT NOT NULL,
    run_id TEXT NOT NULL, channel TEXT NOT NULL, target TEXT NOT NULL, trigger TEXT NOT NULL,
    delivered INTEGER NOT NULL, error TEXT
);
CREATE INDEX alert_deliveries_by_sync ON alert_deliveries (sync, id);
CREATE INDEX alert_deliveries_by_run ON alert_deliveries (run_id);
"""


def test_a_history_from_before_keeps_its_failures_from_now_on(tmp_path):
    """An existing runs.sqlite (its 100 rows mostly success notices, the old bound) opens
    as it is, and the failures still in it are not pushed out by the next successes."""
    db = sqlite3.connect(tmp_path / "runs.sqlite")
    try:
        db.executescript(_OLD_SCHEMA)
        old = [_sent("customers", 0, "failed"), _sent("customers", 1, "recovered")]
        old += [_sent("customers", n, "succeeded") for n in range(2, KEEP_DELIVERIES)]
        db.executemany(
            "INSERT INTO alert_deliveries (at, sync, run_id, channel, target, trigger,"
            " delivered, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [(d.at, d.sync, d.run_id, d.channel, d.target, d.trigger, d.delivered, d.error)
             for d in old],
        )  # fmt: skip
        db.commit()
    finally:
        db.close()
    store = RunStore(tmp_path)
    try:
        for number in range(KEEP_DELIVERIES, 2 * KEEP_DELIVERIES):
            store.add_deliveries([_sent("customers", number, "succeeded")])
        kept = store.deliveries(["customers"], limit=1000)
        assert [d.trigger for d in kept if not d.is_success] == ["recovered", "failed"]
        assert sum(d.is_success for d in kept) == KEEP_DELIVERIES
    finally:
        store.close()


def test_a_listing_with_successes_keeps_the_failures_in_view(tmp_path):
    """Serve's pages list 20 deliveries: a sync announcing every success every few minutes
    would fill them with `succeeded`, hiding the failure an operator came to see."""
    store = RunStore(tmp_path)
    try:
        store.add_deliveries([_delivery("busy", "r0", 0)])  # the failure, before them
        for number in range(1, 31):
            store.add_deliveries(
                [replace(_delivery("busy", "r1", number), trigger=SUCCESS_TRIGGER)]
            )
        assert SUCCESS_TRIGGER not in {
            d.trigger for d in store.deliveries(["busy"], limit=20, successes=0)
        }
        shown = store.deliveries(["busy"], limit=20, successes=5)
        assert [d.channel for d in shown] == ["c30", "c29", "c28", "c27", "c26", "c0"]
        assert [d.trigger for d in store.deliveries(["busy"], limit=20)] == [SUCCESS_TRIGGER] * 20
    finally:
        store.close()

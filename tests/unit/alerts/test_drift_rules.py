"""Drift alerts: recorded reconciles (``reconcile:<sync>``) against ``rules[].drift``."""

from __future__ import annotations

import pytest

from mogulsync._redact import Redactor
from mogulsync.alerts import Trigger, evaluate
from mogulsync.alerts.message import build_message
from mogulsync.config.alerts import AlertRule
from mogulsync.runs.models import RowCounts, RunRecord, RunStatus


def _reconcile(*, in_both=0, drifted=0, missing=0, extra=0, sync="reconcile:customers"):
    apart = drifted or missing or extra
    return RunRecord(
        run_id="r1",
        sync=sync,
        status=RunStatus.PARTIAL if apart else RunStatus.SUCCESS,
        started_at="2025-01-01T00:00:00+00:00",
        rows=RowCounts(unchanged=in_both, changed=drifted, added=missing, removed=extra),
    )


@pytest.mark.parametrize(
    ("threshold", "counts", "expected"),
    [
        ({"count": 10}, {"in_both": 990, "drifted": 9}, None),
        ({"count": 10}, {"in_both": 990, "drifted": 5, "missing": 3, "extra": 2}, Trigger.DRIFT),
        ({"percent": 1}, {"in_both": 991, "drifted": 9}, None),
        ({"percent": 1}, {"in_both": 990, "missing": 10}, Trigger.DRIFT),
        ({"count": 1}, {"in_both": 1000}, None),
    ],
)
def test_drift_threshold_counts_missing_drifted_and_extra(threshold, counts, expected):
    """Missing, drifted and extra records all count, by number or share of those compared."""
    assert evaluate(AlertRule(drift=threshold), _reconcile(**counts), None) is expected


def test_no_drift_rule_no_drift_alert():
    """Without a ``drift`` threshold a drifted account alerts nobody."""
    assert evaluate(AlertRule(), _reconcile(in_both=1, drifted=50), None) is None


def test_drift_is_not_read_from_sync_runs():
    """A sync run's counts never trip the drift rule (only recorded reconciles do)."""
    run = _reconcile(in_both=10, drifted=10, sync="customers")
    assert evaluate(AlertRule(drift={"count": 1}), run, None) is None


def test_recovery_after_drift():
    """The next reconcile that finds everything in place announces the recovery."""
    rule = AlertRule(drift={"count": 1})
    before = _reconcile(in_both=9, drifted=1)
    assert evaluate(rule, _reconcile(in_both=10), before) is Trigger.RECOVERED


def test_rule_syncs_cover_their_reconciles():
    """``syncs: [customers]`` watches `reconcile:customers`, not `reconcile:plans`."""
    rule = AlertRule(syncs=["customers"], drift={"count": 1})
    assert evaluate(rule, _reconcile(drifted=1), None) is Trigger.DRIFT
    assert evaluate(rule, _reconcile(drifted=1, sync="reconcile:plans"), None) is None


def test_drift_message_names_the_sync_and_the_counts():
    """The alert says how many records differ, and how to see them."""
    record = _reconcile(in_both=96, drifted=2, missing=1, extra=1)
    message = build_message(Trigger.DRIFT, record, [], Redactor([]))
    assert message.title == (
        "mogulsync: customers drifted from the warehouse: 4 of 100 records differ (run r1)"
    )
    assert message.counts_line.startswith("96 in both, 2 drifted, 1 missing, 1 extra")
    assert message.hint == "mogulsync reconcile customers"
    assert message.trigger.is_problem


def test_drift_recovery_title_reads_as_a_sentence():
    """The recovery names what recovered once ("...again for customers", not "...customers
    recovered"); a sync's recovery keeps its own wording."""
    recovered = build_message(Trigger.RECOVERED, _reconcile(in_both=10), [], Redactor([]))
    assert (
        recovered.title
        == "mogulsync: ChartMogul matches the warehouse again for customers (run r1)"
    )
    sync = build_message(Trigger.RECOVERED, _reconcile(in_both=10, sync="plans"), [], Redactor([]))
    assert sync.title == "mogulsync: sync plans recovered (run r1)"

"""When a finished run alerts: failure, too many failed rows, drift, recovery, or success.

Whether the previous run "alerted" is decided by applying the same rule to the previous
run's record from the run history, so nothing extra has to be stored and a recovery is
announced exactly when the last finished run would have alerted under this rule.
"""

from __future__ import annotations

from mogulsync.alerts.message import PERCENT, Trigger
from mogulsync.config.alerts import RECONCILE_PREFIX, AlertRule
from mogulsync.runs.models import RunRecord, RunStatus

#: statuses of runs that ended on their own (an interrupted run never alerted)
FINISHED = frozenset({RunStatus.SUCCESS, RunStatus.PARTIAL, RunStatus.FAILED})


def problem(rule: AlertRule, record: RunRecord) -> Trigger | None:
    """The problem ``record`` shows under ``rule`` (None when the run is healthy)."""
    if record.status is RunStatus.FAILED and rule.on_failure:
        return Trigger.FAILED
    if record.sync.startswith(RECONCILE_PREFIX):
        return _drift(rule, record)
    threshold = rule.failed_rows
    failed = record.rows.failed
    if threshold is None or failed == 0:
        return None
    acted = record.rows.succeeded + failed
    if threshold.count is not None and failed >= threshold.count:
        return Trigger.FAILED_ROWS
    if threshold.percent is not None and PERCENT * failed / acted >= threshold.percent:
        return Trigger.FAILED_ROWS
    return None


def _drift(rule: AlertRule, record: RunRecord) -> Trigger | None:
    """A recorded reconcile: added = missing, changed = drifted, removed = extra records."""
    threshold = rule.drift
    rows = record.rows
    differing = rows.added + rows.changed + rows.removed
    if threshold is None or differing == 0:
        return None
    compared = differing + rows.unchanged
    if threshold.count is not None and differing >= threshold.count:
        return Trigger.DRIFT
    if threshold.percent is not None and PERCENT * differing / compared >= threshold.percent:
        return Trigger.DRIFT
    return None


def evaluate(rule: AlertRule, record: RunRecord, previous: RunRecord | None) -> Trigger | None:
    """What ``rule`` says about the run that just ended (None: stay quiet)."""
    if not rule.covers(record.sync):
        return None
    found = problem(rule, record)
    if found is not None:
        return found
    if rule.on_recovery and previous is not None and problem(rule, previous) is not None:
        return Trigger.RECOVERED
    if rule.on_success and succeeded(record):
        return Trigger.SUCCEEDED
    return None


def succeeded(record: RunRecord) -> bool:
    """Whether ``record`` is a sync run that ended ``success`` (a partial run is not; a
    recorded reconcile is a check, not a run of the sync, and its drift rules speak for it)."""
    return record.status is RunStatus.SUCCESS and not record.sync.startswith(RECONCILE_PREFIX)


def previous_run(history: list[RunRecord], run_id: str) -> RunRecord | None:
    """The latest finished run in ``history`` (newest first) other than ``run_id``."""
    for record in history:
        if record.run_id != run_id and record.status in FINISHED:
            return record
    return None

"""Alerts after an extract run: it failed (in which stage, which streams), it recovered, or
(``on_success``) it succeeded.

An extract succeeds or fails as a whole (a failed stream aborts the load), so a rule looks
only at ``on_failure``, ``on_recovery`` and ``on_success``, and only when it covers the extract (its
``extract`` key; by default a rule of ``syncs: all`` does). Whether the previous finished
extract alerted is read from the extract history, as sync alerts read the run history.
Deliveries are recorded under the job name ``extract``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from mogulsync._redact import Redactor
from mogulsync.alerts.dispatch import AlertDispatcher
from mogulsync.alerts.message import MAX_QUOTE, AlertMessage, Trigger
from mogulsync.config.alerts import AlertRule
from mogulsync.runs.models import RowCounts
from mogulsync.runs.store import RunStore

#: the extract's name in the alert deliveries, the schedule and PagerDuty's dedup_key
EXTRACT_JOB = "extract"
#: where an extract run is read in full (no command shows one)
HINT = "the Extract page of mogulsync serve (/extract), or GET /api/v1/extract/runs"
FAILED = "failed"
SUCCESS = "success"


@dataclass(frozen=True, slots=True)
class ExtractOutcome:
    """How one extract run ended, as the alerts tell it."""

    run_id: str
    #: ``success``, ``failed`` or ``cancelled`` (a cancelled run alerts nobody)
    status: str
    started_at: str
    finished_at: str | None
    duration_s: float
    #: records read (or loaded, on success) per stream
    records: Mapping[str, int]
    #: where a failed run stopped: ``set-up``, ``fetch``, ``extract`` or ``load``
    stage: str | None = None
    #: the streams whose fetch failed (none when the run failed elsewhere)
    failed_streams: tuple[str, ...] = ()
    #: why it failed (redacted again when a message is built)
    message: str | None = None


def extract_trigger(rule: AlertRule, status: str, previous: str | None) -> Trigger | None:
    """What ``rule`` says about an extract that ended ``status`` after one that ended
    ``previous`` (None: no earlier finished extract)."""
    if not rule.covers_extract:
        return None
    # without on_failure the rule never alerted, so nothing recovers either
    if rule.on_failure and status == FAILED:
        return Trigger.FAILED
    if rule.on_failure and rule.on_recovery and status == SUCCESS and previous == FAILED:
        return Trigger.RECOVERED
    if rule.on_success and status == SUCCESS:
        return Trigger.SUCCEEDED
    return None


@dataclass(frozen=True, slots=True)
class ExtractAlertMessage(AlertMessage):
    """An alert about an extract run: records per stream instead of row counts."""

    records: tuple[tuple[str, int], ...] = ()
    stage: str | None = None
    failed_streams: tuple[str, ...] = ()

    @property
    def hint(self) -> str:
        """Where the run is shown in full."""
        return HINT

    @property
    def group(self) -> str:
        """PagerDuty's ``group``."""
        return EXTRACT_JOB

    @property
    def title(self) -> str:
        """A one-line summary (Slack fallback text, e-mail subject, PagerDuty summary)."""
        if self.trigger is Trigger.RECOVERED:
            return f"mogulsync: extract recovered (run {self.run_id})"
        if self.trigger is Trigger.SUCCEEDED:
            return f"mogulsync: extract succeeded (run {self.run_id})"
        streams = ", ".join(self.failed_streams)
        where = f" in stage {self.stage}" if self.stage else ""
        which = f", stream {streams}" if len(self.failed_streams) == 1 else ""
        which = f", streams {streams}" if len(self.failed_streams) > 1 else which
        return f"mogulsync: extract failed{where}{which} (run {self.run_id})"

    @property
    def counts_line(self) -> str:
        """Records per stream and the duration in one line."""
        total = sum(count for _name, count in self.records)
        verb = "loaded" if self.status == SUCCESS else "read"
        per_stream = ", ".join(f"{name} {count}" for name, count in self.records)
        detail = f" ({per_stream})" if per_stream else ""
        return f"status {self.status}: {total} records {verb}{detail} in {self.duration_s:.1f}s"

    def as_dict(self) -> dict[str, object]:
        """The run summary for JSON channels."""
        return {
            "event": self.trigger.value,
            "title": self.title,
            "job": EXTRACT_JOB,
            "run_id": self.run_id,
            "status": self.status,
            "stage": self.stage,
            "failed_streams": list(self.failed_streams),
            "streams": dict(self.records),
            "records": sum(count for _name, count in self.records),
            "duration_s": round(self.duration_s, 3),
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "message": self.reason,
            "hint": self.hint,
        }


def extract_message(
    trigger: Trigger, outcome: ExtractOutcome, redactor: Redactor
) -> ExtractAlertMessage:
    """The alert about ``outcome``, every text redacted."""
    reason = redactor.text(outcome.message) if outcome.message else None
    if reason is not None and len(reason) > MAX_QUOTE:
        reason = f"{reason[: MAX_QUOTE - 1]}…"
    return ExtractAlertMessage(
        trigger=trigger,
        sync=EXTRACT_JOB,
        run_id=outcome.run_id,
        status=outcome.status,
        rows=RowCounts(),
        api_calls=0,
        duration_s=outcome.duration_s,
        started_at=outcome.started_at,
        finished_at=outcome.finished_at,
        reason=reason,
        errors=(),
        records=tuple(sorted(outcome.records.items())),
        stage=outcome.stage,
        failed_streams=outcome.failed_streams,
    )


async def after_extract(
    dispatcher: AlertDispatcher, outcome: ExtractOutcome, previous: str | None, runs: RunStore
) -> list[str]:
    """Send (and record) the alerts ``outcome`` calls for, given the status the previous
    finished extract ended with; warnings about deliveries that failed."""
    if not dispatcher.enabled:
        return []
    plan = dispatcher.plan(
        (rule, extract_trigger(rule, outcome.status, previous)) for rule in dispatcher.config.rules
    )
    deliveries = [
        (name, extract_message(trigger, outcome, dispatcher.redactor))
        for trigger, names in plan.items()
        for name in names
    ]
    if not deliveries:
        return []
    return await dispatcher.deliver(EXTRACT_JOB, outcome.run_id, deliveries, runs)

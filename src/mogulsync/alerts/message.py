"""What an alert says, independent of the channel that carries it.

Every text here comes from the run record and the run history, and goes through the
engine's :class:`~mogulsync._redact.Redactor` (which also knows every channel secret), so
no channel can leak the API key, a warehouse password, a webhook URL or a routing key.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from mogulsync._redact import Redactor
from mogulsync.config.alerts import RECONCILE_PREFIX
from mogulsync.messages import api_calls_phrase
from mogulsync.output import key_label
from mogulsync.runs.models import RowCounts, RowError, RunRecord

#: row errors quoted in an alert (all of them: ``mogulsync runs show RUN_ID --errors``)
ERRORS_IN_ALERT = 5
#: longest text quoted from one error or run message
MAX_QUOTE = 300
PERCENT = 100.0


class Trigger(enum.Enum):
    """Why an alert is sent."""

    FAILED = "failed"
    FAILED_ROWS = "failed_rows"
    #: a recorded reconcile found ChartMogul and the warehouse apart
    DRIFT = "drift"
    RECOVERED = "recovered"
    #: a run ended ``success`` under a rule with ``on_success`` (never opens an incident)
    SUCCEEDED = "succeeded"
    TEST = "test"
    #: the events forwarder dead-lettered events / holds events it cannot deliver
    DEAD_LETTERS = "dead_letters"
    BACKLOG = "backlog"

    @property
    def is_problem(self) -> bool:
        """Whether this opens (rather than closes) an incident."""
        return self in {
            Trigger.FAILED,
            Trigger.FAILED_ROWS,
            Trigger.DRIFT,
            Trigger.DEAD_LETTERS,
            Trigger.BACKLOG,
        }


@dataclass(frozen=True, slots=True)
class AlertMessage:
    """One alert about one run, already redacted."""

    trigger: Trigger
    sync: str
    run_id: str
    status: str
    rows: RowCounts
    api_calls: int
    duration_s: float
    started_at: str
    finished_at: str | None
    #: why the run failed, or its warnings
    reason: str | None
    errors: tuple[RowError, ...]

    @property
    def hint(self) -> str:
        """The command that shows everything about the run."""
        if self.is_reconcile:
            return f"mogulsync reconcile {self.sync.removeprefix(RECONCILE_PREFIX)}"
        return f"mogulsync runs show {self.run_id} --errors"

    @property
    def group(self) -> str:
        """What kind of job this is about (PagerDuty's ``group``)."""
        return "reverse-etl"

    @property
    def is_reconcile(self) -> bool:
        """Whether this is about a recorded reconcile (drift watch), not a sync run."""
        return self.sync.startswith(RECONCILE_PREFIX)

    @property
    def differing(self) -> int:
        """A reconcile's records that differ: missing, drifted and extra."""
        rows = self.rows
        return rows.added + rows.changed + rows.removed

    @property
    def failed_percent(self) -> float:
        """Failed rows as a percentage of the rows the run acted on."""
        acted = self.rows.succeeded + self.rows.failed
        return PERCENT * self.rows.failed / acted if acted else 0.0

    @property
    def title(self) -> str:
        """A one-line summary (Slack fallback text, e-mail subject, PagerDuty summary)."""
        rows = self.rows
        if self.trigger is Trigger.FAILED:
            return f"mogulsync: sync {self.sync} failed (run {self.run_id})"
        if self.trigger is Trigger.FAILED_ROWS:
            return (
                f"mogulsync: sync {self.sync}: {rows.failed} of {rows.succeeded + rows.failed}"
                f" rows failed ({self.failed_percent:.1f}%, run {self.run_id})"
            )
        if self.trigger is Trigger.DRIFT:
            compared = self.differing + rows.unchanged
            return (
                f"mogulsync: {self.sync.removeprefix(RECONCILE_PREFIX)} drifted from the"
                f" warehouse: {self.differing} of {compared} records differ (run {self.run_id})"
            )
        if self.trigger is Trigger.RECOVERED:
            if self.is_reconcile:
                name = self.sync.removeprefix(RECONCILE_PREFIX)
                return (
                    f"mogulsync: ChartMogul matches the warehouse again for {name}"
                    f" (run {self.run_id})"
                )
            return f"mogulsync: sync {self.sync} recovered (run {self.run_id})"
        if self.trigger is Trigger.SUCCEEDED:
            return f"mogulsync: sync {self.sync} succeeded (run {self.run_id})"
        return "mogulsync: test alert (this channel works)"

    @property
    def counts_line(self) -> str:
        """Row counts, API calls and duration in one line."""
        rows = self.rows
        if self.is_reconcile:
            return (
                f"{rows.unchanged} in both, {rows.changed} drifted, {rows.added} missing,"
                f" {rows.removed} extra; {api_calls_phrase(self.api_calls)}"
                f" in {self.duration_s:.1f}s"
            )
        return (
            f"status {self.status}: {rows.added} added, {rows.changed} changed,"
            f" {rows.removed} removed, {rows.unchanged} unchanged → {rows.succeeded} succeeded,"
            f" {rows.failed} failed ({rows.invalid} invalid); {api_calls_phrase(self.api_calls)}"
            f" in {self.duration_s:.1f}s"
        )

    def error_lines(self) -> list[str]:
        """The quoted row errors, one line each."""
        return [
            f"{key_label(error.key)} · {error.field}: {error.message} → {error.action}"
            for error in self.errors
        ]

    def text(self) -> str:
        """The whole message as plain text (e-mail body, generic webhook ``text``)."""
        lines = [self.title, "", self.counts_line]
        if self.reason:
            lines += ["", self.reason]
        if self.errors:
            lines += ["", f"First failed rows ({len(self.errors)} of {self.rows.failed}):"]
            lines += [f"  {line}" for line in self.error_lines()]
        if self.trigger is not Trigger.TEST:
            lines += ["", f"Details: {self.hint}"]
        return "\n".join(lines)

    def as_dict(self) -> dict[str, object]:
        """The run summary for JSON channels."""
        return {
            "event": self.trigger.value,
            "title": self.title,
            "sync": self.sync,
            "run_id": self.run_id,
            "status": self.status,
            "rows": {**self.rows.as_dict(), "invalid": self.rows.invalid},
            "failed_percent": round(self.failed_percent, 2),
            "api_calls": self.api_calls,
            "duration_s": round(self.duration_s, 3),
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "message": self.reason,
            "errors": [
                {"key": e.key, "field": e.field, "message": e.message, "action": e.action}
                for e in self.errors
            ],
            "hint": self.hint,
        }


def build_message(
    trigger: Trigger, record: RunRecord, errors: Sequence[RowError], redactor: Redactor
) -> AlertMessage:
    """An alert about ``record`` quoting the first ``errors``, every text redacted."""

    def clean(text: str) -> str:
        return _shorten(redactor.text(text))

    return AlertMessage(
        trigger=trigger,
        sync=record.sync,
        run_id=record.run_id,
        status=record.status.value,
        rows=record.rows,
        api_calls=record.api_calls,
        duration_s=record.duration_s,
        started_at=record.started_at,
        finished_at=record.finished_at,
        reason=clean(record.message) if record.message else None,
        errors=tuple(
            RowError(clean(e.key), clean(e.field), clean(e.message), clean(e.action), e.kind)
            for e in errors[:ERRORS_IN_ALERT]
        ),
    )


def _shorten(text: str) -> str:
    return text if len(text) <= MAX_QUOTE else f"{text[: MAX_QUOTE - 1]}…"

"""What an events-forwarder alert says: counts, the commonest reasons, and the fix.

An :class:`EventsAlertMessage` is an :class:`~mogulsync.alerts.message.AlertMessage`, so
every channel (Slack, webhook, PagerDuty, e-mail, SMS) carries it unchanged; it only
words the title, the counts line and the hint for the forwarder. Every quoted reason goes
through the redactor, which knows the API key, the write keys and each channel's secrets.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from mogulsync._redact import Redactor
from mogulsync.alerts.events_rules import Condition, Notice, Snapshot
from mogulsync.alerts.message import MAX_QUOTE, AlertMessage, Trigger
from mogulsync.config.alerts_events import EventsAlertRule
from mogulsync.runs.models import RowCounts

#: the run-history name events alerts are recorded under (and PagerDuty's ``mogulsync/events``)
EVENTS_JOB = "events"
#: reasons quoted in an alert (all of them: ``mogulsync events dead-letter list``)
REASONS_IN_ALERT = 3
_TRIGGERS = {Condition.DEAD_LETTERS: Trigger.DEAD_LETTERS, Condition.BACKLOG: Trigger.BACKLOG}
_HINTS = {
    Condition.DEAD_LETTERS: (
        "mogulsync events dead-letter list, fix the cause, then mogulsync events dead-letter replay"
    ),
    Condition.BACKLOG: (
        "mogulsync events status (is ChartMogul reachable, is the API key still valid?)"
    ),
}


@dataclass(frozen=True, slots=True)
class EventsAlertMessage(AlertMessage):
    """One alert about the events forwarder, already redacted."""

    condition: Condition
    kind: str
    headline: str
    details: str

    @property
    def title(self) -> str:
        """A one-line summary (Slack fallback, e-mail subject, PagerDuty summary)."""
        return self.headline

    @property
    def counts_line(self) -> str:
        """Queue counts in one line."""
        return self.details

    @property
    def hint(self) -> str:
        """The commands that show and fix it."""
        return _HINTS[self.condition]

    def as_dict(self) -> dict[str, object]:
        """The alert for JSON channels."""
        return {
            "event": self.trigger.value,
            "job": self.sync,
            "condition": self.condition.value,
            "episode": self.run_id,
            "state": self.kind,
            "title": self.title,
            "details": self.details,
            "since": self.started_at,
            "at": self.finished_at,
            "message": self.reason,
            "hint": self.hint,
        }


def build_events_message(
    notice: Notice, rule: EventsAlertRule, snap: Snapshot, redactor: Redactor
) -> EventsAlertMessage:
    """The alert for ``notice``, every quoted text redacted."""
    recovered = notice.kind == "recovered"
    return EventsAlertMessage(
        trigger=Trigger.RECOVERED if recovered else _TRIGGERS[notice.condition],
        sync=EVENTS_JOB,
        run_id=episode_id(notice),
        status=notice.kind,
        rows=RowCounts(),
        api_calls=0,
        duration_s=0.0,
        started_at=_iso(notice.since),
        finished_at=_iso(snap.now),
        reason=None if recovered else _reasons(notice.condition, snap, redactor),
        errors=(),
        condition=notice.condition,
        kind=notice.kind,
        headline=_headline(notice, rule),
        details=(
            f"{snap.pending} pending (oldest {_age(snap.backlog_age_s)}),"
            f" {snap.dead_waiting} dead letters waiting for a replay"
        ),
    )


def stored(message: EventsAlertMessage) -> dict[str, str | None]:
    """``message`` as plain JSON, to be sent again later (it is already redacted)."""
    return {
        "trigger": message.trigger.value,
        "episode": message.run_id,
        "condition": message.condition.value,
        "kind": message.kind,
        "since": message.started_at,
        "at": message.finished_at,
        "reason": message.reason,
        "headline": message.headline,
        "details": message.details,
    }


def from_stored(raw: dict[str, Any]) -> EventsAlertMessage:
    """The message :func:`stored` kept (KeyError or ValueError when it is not one)."""
    return EventsAlertMessage(
        trigger=Trigger(raw["trigger"]),
        sync=EVENTS_JOB,
        run_id=str(raw["episode"]),
        status=str(raw["kind"]),
        rows=RowCounts(),
        api_calls=0,
        duration_s=0.0,
        started_at=str(raw["since"]),
        finished_at=None if raw["at"] is None else str(raw["at"]),
        reason=None if raw["reason"] is None else str(raw["reason"]),
        errors=(),
        condition=Condition(raw["condition"]),
        kind=str(raw["kind"]),
        headline=str(raw["headline"]),
        details=str(raw["details"]),
    )


def episode_id(notice: Notice) -> str:
    """The id of the episode a notice belongs to (its alerts share it)."""
    return f"events-{notice.condition.value}-{_iso(notice.since)}"


def _headline(notice: Notice, rule: EventsAlertRule) -> str:
    count = int(notice.amount)
    events = "event" if count == 1 else "events"
    if notice.condition is Condition.DEAD_LETTERS:
        if notice.kind == "recovered":
            return (
                f"mogulsync: events recovered: fewer than {rule.dead_letters} new dead"
                f" letters in the last {rule.window}"
            )
        still = "still dead-lettering: " if notice.kind == "reminder" else ""
        return (
            f"mogulsync: events: {still}{count} {events} dead-lettered in the last"
            f" {rule.window} (not delivered to ChartMogul)"
        )
    if notice.kind == "recovered":
        return f"mogulsync: events recovered: no pending event older than {rule.backlog_age}"
    still = "still " if notice.kind == "reminder" else ""
    return (
        f"mogulsync: events delivery {still}stuck: the oldest pending event is"
        f" {_age(notice.amount)} old"
    )


def _reasons(condition: Condition, snap: Snapshot, redactor: Redactor) -> str | None:
    if condition is Condition.BACKLOG:
        if not snap.oldest_reason:
            return None
        return f"Last failure of the oldest pending event: {_clean(snap.oldest_reason, redactor)}"
    if not snap.dead_reasons:
        return None
    lines = ["Most common reasons among dead letters:"]
    lines += [
        f"  [{count}] {_clean(reason, redactor) or '(no reason recorded)'}"
        for reason, count in snap.dead_reasons[:REASONS_IN_ALERT]
    ]
    return "\n".join(lines)


def _clean(text: str, redactor: Redactor) -> str:
    text = redactor.text(text)
    return text if len(text) <= MAX_QUOTE else f"{text[: MAX_QUOTE - 1]}…"


def _iso(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).isoformat(timespec="seconds")


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "none"
    total = int(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"

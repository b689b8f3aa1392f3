"""After a run: decide which alerts to send, send them, and report what could not be sent.

Nothing here raises into the engine: a channel that is down, slow or misconfigured costs
at most :attr:`Delivery.longest_s` and ends up as a warning on the run record.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable, Iterable, Sequence

from mogulsync._redact import Redactor, endpoint_secrets
from mogulsync.alerts._delivery import Delivery, Sender
from mogulsync.alerts.email import EmailSender
from mogulsync.alerts.events_retry import Outbox, Undelivered
from mogulsync.alerts.message import ERRORS_IN_ALERT, AlertMessage, Trigger, build_message
from mogulsync.alerts.rules import evaluate, previous_run
from mogulsync.alerts.slack import SlackSender
from mogulsync.alerts.sms import SmsSender
from mogulsync.alerts.targets import describe_target
from mogulsync.alerts.webhook import WebhookSender
from mogulsync.config.alerts import (
    AlertChannel,
    AlertRule,
    AlertsConfig,
    SlackChannel,
    SmsChannel,
    WebhookChannel,
)
from mogulsync.errors import ConfigError, MogulsyncError
from mogulsync.runs.deliveries import AlertDelivery
from mogulsync.runs.models import RowCounts, RunRecord, RunStatus
from mogulsync.runs.store import RunStore

logger = logging.getLogger(__name__)
#: runs of the sync read from the history to find the previous finished one
HISTORY_LOOKBACK = 20
#: extra seconds allowed on top of the slowest channel's retries
_GRACE_S = 1.0
#: which trigger a channel hears when several rules match one run (lowest first)
_RANK = {
    Trigger.FAILED: 0,
    Trigger.FAILED_ROWS: 1,
    Trigger.DRIFT: 1,
    Trigger.RECOVERED: 2,
    Trigger.SUCCEEDED: 3,
    Trigger.TEST: 4,
    Trigger.DEAD_LETTERS: 1,
    Trigger.BACKLOG: 1,
}


def channel_secrets(channel: AlertChannel) -> list[str]:
    """Every secret value of a channel (registered with the redactor)."""
    if isinstance(channel, SlackChannel):
        return endpoint_secrets(channel.url.get_secret_value())
    if isinstance(channel, WebhookChannel):
        found = endpoint_secrets(channel.url.get_secret_value()) if channel.url else []
        key = channel.routing_key
        return found + ([key.get_secret_value()] if key is not None else [])
    if isinstance(channel, SmsChannel):
        return [channel.auth_token.get_secret_value()]
    return [channel.password.get_secret_value()] if channel.password is not None else []


def opens_incidents(channel: AlertChannel) -> bool:
    """Whether every message to ``channel`` opens or resolves an incident (PagerDuty)."""
    return isinstance(channel, WebhookChannel) and channel.format == "pagerduty"


def _sender(name: str, channel: AlertChannel, delivery: Delivery) -> Sender:
    if isinstance(channel, SlackChannel):
        return SlackSender(name, channel, delivery)
    if isinstance(channel, WebhookChannel):
        return WebhookSender(name, channel, delivery)
    if isinstance(channel, SmsChannel):
        return SmsSender(name, channel, delivery)
    return EmailSender(name, channel, delivery)


class AlertDispatcher:
    """The alert channels and rules of a project."""

    def __init__(self, config: AlertsConfig, redactor: Redactor) -> None:
        self.config = config
        self.redactor = redactor
        for channel in config.channels.values():
            for secret in channel_secrets(channel):
                redactor.add(secret)
        self.delivery = Delivery(timeout_s=config.timeout_s, attempts=config.attempts)
        self.senders = {
            name: _sender(name, channel, self.delivery) for name, channel in config.channels.items()
        }
        #: where each channel sends, without secrets (recorded with each delivery)
        self.targets = {name: describe_target(channel) for name, channel in config.channels.items()}
        #: when a delivery ended (tests and ``serve`` may drive it)
        self.now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)

    @property
    def enabled(self) -> bool:
        """Whether any channel is configured."""
        return bool(self.senders)

    def decide(self, record: RunRecord, previous: RunRecord | None) -> dict[Trigger, list[str]]:
        """Channels to alert per trigger (a channel hears about a run at most once)."""
        return self.plan((rule, evaluate(rule, record, previous)) for rule in self.config.rules)

    def plan(self, found: Iterable[tuple[AlertRule, Trigger | None]]) -> dict[Trigger, list[str]]:
        """Channels per trigger from what each rule found (a channel hears at most once)."""
        chosen: dict[str, Trigger] = {}
        for rule, trigger in found:
            if trigger is None:
                continue
            for name in self.config.channels_of(rule):
                # a problem outranks a recovery: never resolve what another rule still reports
                if name not in chosen or _RANK[trigger] < _RANK[chosen[name]]:
                    chosen[name] = trigger
        plan: dict[Trigger, list[str]] = {}
        for name, trigger in chosen.items():
            if trigger is Trigger.SUCCEEDED and opens_incidents(self.config.channels[name]):
                continue  # a success is news, not an incident: PagerDuty never hears of it
            plan.setdefault(trigger, []).append(name)
        return plan

    async def after_run(self, record: RunRecord, runs: RunStore) -> list[str]:
        """Send the alerts ``record`` calls for; warnings about deliveries that failed."""
        if not self.enabled:
            return []
        try:
            previous = previous_run(
                runs.latest(sync=record.sync, limit=HISTORY_LOOKBACK), record.run_id
            )
            plan = self.decide(record, previous)
            if not plan:
                return []
            errors = runs.errors(record.run_id, limit=ERRORS_IN_ALERT) if record.rows.failed else []
            deliveries = [
                (name, build_message(trigger, record, errors, self.redactor))
                for trigger, names in plan.items()
                for name in names
            ]
        except Exception as exc:  # the history is unreadable: say so, never fail the run
            return [self._warning("alerts", exc)]
        return await self.deliver(record.sync, record.run_id, deliveries, runs)

    async def deliver(
        self, job: str, run_id: str, deliveries: Sequence[tuple[str, AlertMessage]], runs: RunStore
    ) -> list[str]:
        """Send each (channel, message) about run ``run_id`` of ``job`` (a sync, a drift
        watch, the extract) and record every delivery; warnings about the failed ones.

        A problem or recovery a channel does not take waits in runs.sqlite to be sent again
        (:meth:`retry_due`); what already waited for that channel is sent first (a recovery
        behind the problem the channel never got) or replaced (by a newer problem)."""
        from mogulsync.alerts.resend import kind_of, stored

        del run_id  # each message names its run (a retried one an older run)
        now = self.now().timestamp()
        once = [(name, m) for name, m in deliveries if kind_of(m.trigger) is None]
        kept = [(name, m) for name, m in deliveries if kind_of(m.trigger) is not None]
        warnings: list[str] = []
        waiting: list[Undelivered] = []
        try:
            # none kept: no channel filter would take every line of the job, before its back-off
            if kept:
                waiting = runs.take_alert_retries(
                    now, job=job, channels=[name for name, _m in kept], due_only=False
                )
        except Exception as exc:  # unreadable: the new alerts still go out, once
            warnings.append(self._warning("alerts waiting to be retried", exc))
        outbox = Outbox(list(waiting))
        for name, message in kept:
            kind = kind_of(message.trigger)
            assert kind is not None
            outbox.add(
                Undelivered(name, job, kind, stored(message), now, kind == "problem", 0, now)
            )
        (outcomes, sent_once) = await asyncio.gather(
            self._send_lines(outbox.items, now, runs), self._deliver_each(once)
        )
        records, failed = outcomes
        records += [
            self._record(job, name, message, reason, at)
            for (name, message), (reason, at) in zip(once, sent_once, strict=True)
        ]
        warnings += _failures(once, [reason for reason, _at in sent_once])
        warnings += [
            f"alert to channel `{item.channel}` not delivered (tried again later): {reason}"
            for item, reason in failed
        ]
        self._add_deliveries(runs, records, warnings)
        return warnings

    async def retry_due(
        self, runs: RunStore, now: dt.datetime, job: str | None = None
    ) -> list[AlertDelivery]:
        """Send again the alerts that wait in runs.sqlite and are due at ``now`` (those of
        ``job`` only, when given); record every attempt, keep those refused again. Never
        raises (except cancellation): a warning is logged instead."""
        if not self.enabled:
            return []
        at = now.timestamp()
        try:
            taken = runs.take_alert_retries(at, job=job)
        except Exception as exc:
            logger.warning("%s", self._warning("alerts waiting to be retried", exc))
            return []
        known = [item for item in taken if item.channel in self.senders]
        for item in taken:
            if item.channel not in self.senders:  # removed from the configuration
                logger.info("alert to channel %s dropped: no such channel now", item.channel)
        if not known:
            return []
        records, failed = await self._send_lines(known, at, runs)
        warnings: list[str] = []
        self._add_deliveries(runs, records, warnings)
        for item, reason in failed:
            logger.warning(
                "alert about %s to channel %s not delivered again: %s",
                item.condition,
                item.channel,
                reason,
            )
        for warning in warnings:
            logger.warning("%s", warning)
        return records

    async def _send_lines(
        self, items: Sequence[Undelivered], now: float, runs: RunStore
    ) -> tuple[list[AlertDelivery], list[tuple[Undelivered, str]]]:
        """Send each line (a job's alerts to one channel, in order); keep in runs.sqlite
        those refused. Every attempt's record, and each refused alert with why."""
        from mogulsync.alerts.lines import Lines

        lines = Lines(self._deliver, self._record, now)
        try:
            await lines.send(items)
        finally:
            # noted first: a line another process claimed and puts back later is stale
            if lines.delivered:
                try:
                    runs.note_alerts_delivered(lines.delivered)
                except Exception as exc:
                    logger.warning("%s", self._warning("alerts delivered not noted", exc))
            # even when cancelled: what no channel took waits for the next attempt
            if lines.keep:
                try:
                    runs.put_back_alert_retries(lines.keep)
                except Exception as exc:
                    logger.warning("%s", self._warning("alerts to retry not kept", exc))
        return lines.records, lines.refused

    def _record(
        self, job: str, name: str, message: AlertMessage, reason: str | None, at: str
    ) -> AlertDelivery:
        return AlertDelivery(
            at=at,
            sync=job,
            run_id=message.run_id,
            channel=name,
            target=self.redactor.text(self.targets[name]),
            trigger=message.trigger.value,
            delivered=reason is None,
            error=reason,
        )

    def _add_deliveries(
        self, runs: RunStore, records: Sequence[AlertDelivery], warnings: list[str]
    ) -> None:
        try:
            runs.add_deliveries(records)
        except Exception as exc:  # shown nowhere then, but the run and its alerts stand
            warnings.append(self._warning("alert deliveries not recorded", exc))

    async def send_test(self, names: Iterable[str] | None = None) -> dict[str, str | None]:
        """Send a test message through each channel (or ``names``); channel → error or None."""
        wanted = list(self.senders) if names is None else list(names)
        unknown = [name for name in wanted if name not in self.senders]
        if unknown:
            known = ", ".join(sorted(self.senders)) or "none"
            raise ConfigError(f"no alert channel named {', '.join(unknown)} (known: {known})")
        message = probe_message(self.redactor)
        warnings = await self._deliver_all([(name, message) for name in wanted], prefix=False)
        failed = dict(zip(wanted, warnings, strict=True))
        return {name: failed[name] or None for name in wanted}

    async def _deliver_all(
        self, deliveries: Sequence[tuple[str, AlertMessage]], *, prefix: bool = True
    ) -> list[str]:
        """Send concurrently; one warning per failed delivery ("" per success if not prefix)."""
        results = [reason for reason, _at in await self._deliver_each(deliveries)]
        if not prefix:
            return [result or "" for result in results]
        return _failures(deliveries, results)

    async def deliver_each(
        self, deliveries: Sequence[tuple[str, AlertMessage]]
    ) -> list[tuple[str | None, str]]:
        """Send concurrently, with the channels' retries; per delivery, why it failed (None:
        delivered) and when it ended. Never raises."""
        return await self._deliver_each(deliveries)

    async def _deliver_each(
        self, deliveries: Sequence[tuple[str, AlertMessage]]
    ) -> list[tuple[str | None, str]]:
        """Send concurrently; per delivery, why it failed (None: delivered) and when it ended."""
        return list(
            await asyncio.gather(*(self._deliver(name, message) for name, message in deliveries))
        )

    async def _deliver(self, name: str, message: AlertMessage) -> tuple[str | None, str]:
        try:
            async with asyncio.timeout(self.delivery.longest_s + _GRACE_S):
                await self.senders[name].send(message)
        except TimeoutError:
            reason = f"no answer within {self.delivery.longest_s:.0f}s"
        except MogulsyncError as exc:
            reason = exc.user_message
        except Exception as exc:
            reason = f"{type(exc).__name__}: {exc}"
        else:
            return None, self.now().isoformat()
        reason = self.redactor.text(reason)
        logger.debug("alert to channel %s about run %s failed: %s", name, message.run_id, reason)
        return reason, self.now().isoformat()

    def _warning(self, what: str, exc: Exception) -> str:
        text = exc.user_message if isinstance(exc, MogulsyncError) else f"{exc}"
        return self.redactor.text(f"{what}: {type(exc).__name__}: {text}")


def _failures(
    deliveries: Sequence[tuple[str, AlertMessage]], reasons: Sequence[str | None]
) -> list[str]:
    """One warning per delivery that failed."""
    return [
        f"alert to channel `{name}` not delivered: {reason}"
        for (name, _message), reason in zip(deliveries, reasons, strict=True)
        if reason is not None
    ]


def probe_message(redactor: Redactor) -> AlertMessage:
    """The message ``mogulsync alerts test`` sends."""
    record = RunRecord(
        run_id="test",
        sync="(test)",
        status=RunStatus.SUCCESS,
        started_at="",
        rows=RowCounts(),
        message="This is a test alert from `mogulsync alerts test`: the channel works.",
    )
    return build_message(Trigger.TEST, record, [], redactor)

"""Events-forwarder alerts: evaluate the rules on each look at the queue, send, record.

One :class:`EventsAlerter` serves every rule with an ``events`` key. Each rule keeps its
own episode state in the queue file (under a key derived from the rule, so an edited rule
starts afresh and an unchanged one continues across restarts). The state is saved before
anything is sent: a crash in between loses that alert rather than repeating it.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from mogulsync._redact import Redactor
from mogulsync.alerts.dispatch import AlertDispatcher
from mogulsync.alerts.events_message import EventsAlertMessage, build_events_message
from mogulsync.alerts.events_rules import Snapshot, WatchState, step
from mogulsync.config.alerts import AlertRule, AlertsConfig, WebhookChannel
from mogulsync.runs.deliveries import AlertDelivery

logger = logging.getLogger(__name__)
#: prefix of the queue-file keys holding each rule's episode state
STATE_KEY_PREFIX = "alerts.events."

#: records deliveries (in the run history)
Record = Callable[[Sequence[AlertDelivery]], Awaitable[None]]


class StateStore(Protocol):
    """Where episode state is kept (the event queue's file)."""

    def meta(self, key: str) -> str | None:
        """The value under ``key``, or None."""
        ...

    def set_meta(self, key: str, value: str) -> None:
        """Keep ``value`` under ``key`` durably."""
        ...

    def replace_meta(self, key: str, expected: str | None, value: str) -> bool:
        """Keep ``value`` under ``key`` only if it still holds ``expected``; whether it did."""
        ...


def state_key(rule: AlertRule) -> str:
    """Where a rule's episode state is kept: it changes when the rule's forwarder
    thresholds or channels do, and only then (not with its sync triggers, nor when a
    version adds a rule key or a threshold with a default: an open episode, PagerDuty's
    incident among them, would be left open under the old key)."""
    watch = rule.events_watch
    kept = {
        "events": None if watch is None else watch.model_dump(mode="json", exclude_defaults=True),
        "channels": rule.channels,
    }
    text = json.dumps(kept, sort_keys=True, separators=(",", ":"))
    return f"{STATE_KEY_PREFIX}{hashlib.sha256(text.encode()).hexdigest()[:12]}"


class EventsAlerter:
    """The events rules of a project and the channels they send to."""

    def __init__(self, config: AlertsConfig, redactor: Redactor) -> None:
        self.config = config
        self.redactor = redactor
        self.dispatcher = AlertDispatcher(config, redactor)
        self.rules = [rule for rule in config.rules if rule.events_watch is not None]

    @property
    def enabled(self) -> bool:
        """Whether any rule watches the forwarder and any channel could hear it."""
        return self.dispatcher.enabled and bool(self.rules)

    def open_conditions(self, store: StateStore) -> list[dict[str, object]]:
        """``[{condition, channel, since}]`` in an episode now (serve's Events page)."""
        found: dict[tuple[str, str], dict[str, object]] = {}
        for rule in self.rules:
            state = WatchState.from_json(store.meta(state_key(rule)))
            for name in state.open_conditions():
                for channel in self.config.channels_of(rule):
                    found.setdefault(
                        (name, channel),
                        {
                            "condition": name,
                            "channel": channel,
                            "since": state.episodes[name].since,
                        },
                    )
        return [found[key] for key in sorted(found)]

    def prime(self, snap: Snapshot, store: StateStore) -> None:
        """A rule seen for the first time counts dead letters from ``snap`` on (the
        forwarder's first round may dead-letter events before the first look)."""
        for rule in self.rules:
            key = state_key(rule)
            if store.meta(key) is None:  # another process may have just made it: kept then
                store.replace_meta(key, None, WatchState([[snap.now, snap.dead_total]]).to_json())

    async def look(
        self, snap: Snapshot, store: StateStore, record: Record | None = None
    ) -> list[AlertDelivery]:
        """Evaluate every rule against ``snap``; send and record what they call for."""
        found: list[tuple[AlertRule, EventsAlertMessage]] = []
        #: channels some rule still has a condition in an episode for, after this look
        still_open: set[str] = set()
        for rule in self.rules:
            watch = rule.events_watch
            assert watch is not None  # only such rules are kept
            key = state_key(rule)
            # the queue file's lock may be held by ingest's group commit: off the loop
            before = await asyncio.to_thread(store.meta, key)
            state = WatchState.from_json(before)
            notices = step(watch, state, snap)
            if state.open_conditions():
                still_open.update(self.config.channels_of(rule))
            after = state.to_json()
            # another process on this queue file (`events serve` beside `serve`) may have
            # looked meanwhile: its state stands and what it found is its to announce
            if after != before and not await asyncio.to_thread(
                store.replace_meta, key, before, after
            ):
                continue
            found.extend(
                (rule, build_events_message(notice, watch, snap, self.redactor))
                for notice in notices
            )
        deliveries = [
            (name, message)
            for rule, message in found
            for name in self.config.channels_of(rule)
            # PagerDuty has one incident for the forwarder (whichever rule paged it): it is
            # resolved only when no rule paging that service has a condition open any more
            if not (message.kind == "recovered" and self._paged(name) and name in still_open)
        ]
        deliveries = _once_per_channel(deliveries)
        if not deliveries:
            return []
        outcomes = await self.dispatcher.deliver_each(deliveries)
        done = [
            AlertDelivery(
                at=at,
                sync=message.sync,
                run_id=message.run_id,
                channel=name,
                target=self.redactor.text(self.dispatcher.targets[name]),
                trigger=message.trigger.value,
                delivered=reason is None,
                error=reason,
            )
            for (name, message), (reason, at) in zip(deliveries, outcomes, strict=True)
        ]
        for (_name, message), delivery in zip(deliveries, done, strict=True):
            if delivery.delivered:
                logger.info("events alert sent to %s: %s", delivery.channel, message.title)
            else:
                logger.warning(
                    "events alert to channel %s not delivered: %s", delivery.channel, delivery.error
                )
        if record is not None:
            try:
                await record(done)
            except Exception as exc:  # shown nowhere then; the alerts themselves went out
                logger.warning("events alert deliveries not recorded: %s", self._describe(exc))
        return done

    def _paged(self, name: str) -> bool:
        channel = self.config.channels[name]
        return isinstance(channel, WebhookChannel) and channel.format == "pagerduty"

    def _describe(self, exc: Exception) -> str:
        return self.redactor.text(f"{type(exc).__name__}: {exc}")


def _once_per_channel(
    deliveries: Sequence[tuple[str, EventsAlertMessage]],
) -> list[tuple[str, EventsAlertMessage]]:
    """Each channel hears a message once per look: two rules watching the forwarder with the
    same thresholds (``{}`` beside ``{channels: [team], on_success: true}``, both ``syncs:
    all``) find the same thing at the same look, as sync alerts reach a channel once."""
    seen: set[tuple[str, str, str]] = set()
    kept = []
    for name, message in deliveries:
        said = (name, message.trigger.value, message.title)
        if said not in seen:
            seen.add(said)
            kept.append((name, message))
    return kept

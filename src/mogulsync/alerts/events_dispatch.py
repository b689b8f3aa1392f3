"""Events-forwarder alerts: evaluate the rules on each look at the queue, send, record.

One :class:`EventsAlerter` serves every rule with an ``events`` key. Each rule keeps its
own episode state in the queue file (under a key derived from the rule, so an edited rule
starts afresh and an unchanged one continues across restarts). The state is saved before
anything is sent: a crash in between loses that alert rather than repeating it. An alert
a channel does not take is put back in the state and sent again at a later look, to that
channel only (:mod:`~mogulsync.alerts.events_retry` says when).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Protocol

from mogulsync._redact import Redactor
from mogulsync.alerts.dispatch import AlertDispatcher
from mogulsync.alerts.events_message import (
    EventsAlertMessage,
    build_events_message,
    from_stored,
    stored,
)
from mogulsync.alerts.events_retry import Undelivered, failed
from mogulsync.alerts.events_rules import Snapshot, WatchState, step
from mogulsync.config.alerts import AlertRule, AlertsConfig, WebhookChannel
from mogulsync.runs.deliveries import AlertDelivery

logger = logging.getLogger(__name__)
#: prefix of the queue-file keys holding each rule's episode state
STATE_KEY_PREFIX = "alerts.events."

#: compare-and-swap rounds to put undelivered alerts back before giving up on them
PUT_BACK_TRIES = 5

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
        """Evaluate every rule against ``snap``; send what they call for and what a channel
        did not take before (now due again); record every attempt."""
        sending = await self._take_due(snap, store)
        if not sending:
            return []
        done = await self._deliver_lines(sending, snap.now, store)
        if record is not None:
            try:
                await record(done)
            except Exception as exc:  # shown nowhere then; the alerts themselves went out
                logger.warning("events alert deliveries not recorded: %s", self._describe(exc))
        return done

    async def _take_due(self, snap: Snapshot, store: StateStore) -> list[tuple[str, Undelivered]]:
        """Step every rule's state; take out the alerts to send now, each with its rule's
        state key (new ones, and those a channel did not take whose back-off is over)."""
        taken: list[tuple[str, Undelivered]] = []
        #: channels some rule still has a condition in an episode for, after this look
        still_open: set[str] = set()
        for rule in self.rules:
            watch = rule.events_watch
            assert watch is not None  # only such rules are kept
            key = state_key(rule)
            # the queue file's lock may be held by ingest's group commit: off the loop
            before = await asyncio.to_thread(store.meta, key)
            state = WatchState.from_json(before)
            for notice in step(watch, state, snap):
                message = stored(build_events_message(notice, watch, snap, self.redactor))
                for name in self.config.channels_of(rule):
                    state.outbox.add(
                        Undelivered(
                            name,
                            notice.condition.value,
                            notice.kind,
                            message,
                            found_at=snap.now,
                            opens=notice.kind == "problem",
                            next_at=snap.now,
                        )
                    )
            if state.open_conditions():
                still_open.update(self.config.channels_of(rule))
            # taken out before sending: a crash while sending loses them rather than
            # repeating them; those that fail are put back below
            due = state.outbox.take_due(snap.now)
            after = state.to_json()
            # another process on this queue file (`events serve` beside `serve`) may have
            # looked meanwhile: its state stands and what it found is its to announce
            if after != before and not await asyncio.to_thread(
                store.replace_meta, key, before, after
            ):
                continue
            taken.extend((key, item) for item in due)
        # PagerDuty has one incident for the forwarder (whichever rule paged it): it is
        # resolved only when no rule paging that service has a condition open any more
        return [
            (key, item)
            for key, item in taken
            if item.channel in self.dispatcher.senders
            and not (
                item.kind == "recovered"
                and self._paged(item.channel)
                and item.channel in still_open
            )
        ]

    async def _deliver_lines(
        self, sending: Sequence[tuple[str, Undelivered]], now: float, store: StateStore
    ) -> list[AlertDelivery]:
        """Send each line (a channel's alerts about one condition, of one rule) in order;
        put back in their rule's state those not delivered; every attempt made."""
        lines: dict[tuple[str, str, str], list[Undelivered]] = {}
        for key, item in sending:
            lines.setdefault((key, item.channel, item.condition), []).append(item)
        #: what is not yet delivered nor given up, by id: put back in the end
        unsettled = {id(item): (key, item) for key, item in sending}
        done: list[AlertDelivery] = []
        try:
            # a line's second alert (a recovery behind an opening) goes once its first did
            heads = [line[0] for line in lines.values()]
            not_taken = await self._send(heads, done, unsettled)
            seconds: list[Undelivered] = []
            for head, *rest in lines.values():
                if id(head) not in not_taken:
                    seconds.extend(rest)
                elif (kept := self._failed(head, now)) is None:
                    unsettled.pop(id(head))
                else:
                    for item in rest:  # not tried: it waits as long as the alert before it
                        item.next_at = kept.next_at
            not_taken = await self._send(seconds, done, unsettled)
            for item in seconds:
                if id(item) in not_taken and self._failed(item, now) is None:
                    unsettled.pop(id(item))
        except asyncio.CancelledError:
            # the server is stopping mid-send: what no channel confirmed is kept for the
            # next start (one may then arrive twice); no await here, the task is cancelled
            _put_back_all(store, unsettled.values())
            raise
        await asyncio.to_thread(_put_back_all, store, unsettled.values())
        return done

    async def _send(
        self,
        items: Sequence[Undelivered],
        done: list[AlertDelivery],
        unsettled: dict[int, tuple[str, Undelivered]],
    ) -> set[int]:
        """Send ``items`` concurrently, each outcome added to ``done`` and each delivered
        item taken out of ``unsettled`` as soon as its channel took it (the others may still
        be waiting on a slow channel when the server stops); the ids of the items a channel
        did not take. A channel hears a message once: two rules with the same thresholds
        find the same thing at the same look, as sync alerts reach a channel once (``{}``
        beside ``{channels: [team], on_success: true}``, both ``syncs: all``)."""
        groups: dict[tuple[str, object, object], list[Undelivered]] = {}
        for item in items:
            said = (item.channel, item.message.get("trigger"), item.message.get("headline"))
            groups.setdefault(said, []).append(item)
        failed_ids: set[int] = set()

        async def deliver(group: list[Undelivered]) -> None:
            name = group[0].channel
            try:
                message = from_stored(group[0].message)
            except (KeyError, ValueError, TypeError):  # garbled in the queue file: dropped
                logger.warning("events alert to %s dropped: unreadable", name)
                reason: str | None = None
            else:
                [(reason, at)] = await self.dispatcher.deliver_each([(name, message)])
                done.append(self._delivery(name, message, reason, at))
                self._log(group, name, message, reason)
            if reason is None:
                for item in group:
                    unsettled.pop(id(item), None)
            else:
                failed_ids.update(id(item) for item in group)

        await asyncio.gather(*(deliver(group) for group in groups.values()))
        return failed_ids

    def _delivery(
        self, name: str, message: EventsAlertMessage, reason: str | None, at: str
    ) -> AlertDelivery:
        return AlertDelivery(
            at=at,
            sync=message.sync,
            run_id=message.run_id,
            channel=name,
            target=self.redactor.text(self.dispatcher.targets[name]),
            trigger=message.trigger.value,
            delivered=reason is None,
            error=reason,
        )

    @staticmethod
    def _log(
        group: list[Undelivered], name: str, message: EventsAlertMessage, reason: str | None
    ) -> None:
        if reason is None:
            tries = max(item.failures for item in group) + 1
            late = f" (attempt {tries})" if tries > 1 else ""
            logger.info("events alert sent to %s%s: %s", name, late, message.title)
        else:
            logger.warning("events alert to channel %s not delivered: %s", name, reason)

    def _failed(self, item: Undelivered, now: float) -> Undelivered | None:
        """``item`` due again after its back-off, or None (logged) when it is too old."""
        kept = failed(item, now)
        if kept is None:
            logger.warning(
                "events alert to channel %s dropped: still not delivered a day after %s (%s)",
                item.channel,
                item.message.get("at"),
                item.message.get("headline"),
            )
        else:
            logger.info(
                "events alert to channel %s tried again in %.0fs", item.channel, kept.next_at - now
            )
        return kept

    def _paged(self, name: str) -> bool:
        channel = self.config.channels[name]
        return isinstance(channel, WebhookChannel) and channel.format == "pagerduty"

    def _describe(self, exc: Exception) -> str:
        return self.redactor.text(f"{type(exc).__name__}: {exc}")


def _put_back_all(store: StateStore, unsettled: Iterable[tuple[str, Undelivered]]) -> None:
    """Put each undelivered alert back in its rule's state (found in the order given)."""
    by_key: dict[str, list[Undelivered]] = {}
    for key, item in unsettled:
        by_key.setdefault(key, []).append(item)
    for key, items in by_key.items():
        _put_back(store, key, items)


def _put_back(store: StateStore, key: str, items: list[Undelivered]) -> None:
    """Return ``items`` to the rule's state (kept since by a look of another process too)."""
    for _ in range(PUT_BACK_TRIES):
        before = store.meta(key)
        state = WatchState.from_json(before)
        state.outbox.put_back(items)
        if store.replace_meta(key, before, state.to_json()):
            return
    logger.warning("events alerts to retry not kept: the queue file's state kept changing")

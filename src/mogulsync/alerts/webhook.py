"""Generic JSON webhooks and PagerDuty Events API v2.

A generic webhook receives the run summary (:meth:`AlertMessage.as_dict`). With
``format: pagerduty`` a failure *triggers* and a recovery *resolves* the event whose
``dedup_key`` is the sync's, so one sync has at most one open incident; a success message
(``on_success``) is never sent to PagerDuty.
"""

from __future__ import annotations

import socket

from mogulsync.alerts._delivery import Delivery, post_json, require
from mogulsync.alerts.message import AlertMessage, Trigger
from mogulsync.config.alerts import WebhookChannel

#: PagerDuty truncates summaries longer than this
PAGERDUTY_SUMMARY_LIMIT = 1024
_TEST_DEDUP_KEY = "mogulsync/alerts-test"


def dedup_key(sync: str) -> str:
    """The PagerDuty incident key of a sync (failures and its recovery share it)."""
    return f"mogulsync/{sync}"


class WebhookSender:
    """Posts alerts to a JSON webhook or to PagerDuty."""

    def __init__(self, name: str, config: WebhookChannel, delivery: Delivery) -> None:
        self.name = name
        self._config = config
        self._delivery = delivery

    async def send(self, message: AlertMessage) -> None:
        """Post ``message``; a PagerDuty test opens and at once resolves a test incident."""
        url = require(self._config.endpoint, self.name, "url")
        if self._config.format == "json":
            await post_json(url, message.as_dict(), self._delivery)
            return
        assert self._config.routing_key is not None  # guaranteed by WebhookChannel
        key = require(self._config.routing_key.get_secret_value(), self.name, "routing_key")
        for body in pagerduty_events(message, key, self._config.severity):
            await post_json(url, body, self._delivery)


def pagerduty_events(
    message: AlertMessage, routing_key: str, severity: str
) -> list[dict[str, object]]:
    """The Events v2 bodies for ``message`` (a test is a trigger then its resolve)."""
    if message.trigger is Trigger.TEST:
        trigger = _event(message, routing_key, "info", "trigger", _TEST_DEDUP_KEY)
        return [trigger, _resolve(routing_key, _TEST_DEDUP_KEY)]
    if message.trigger is Trigger.SUCCEEDED:
        return []  # the dispatcher never sends one here: a success must not open an incident
    key = dedup_key(message.sync)
    if message.trigger is Trigger.RECOVERED:
        return [_resolve(routing_key, key)]
    return [_event(message, routing_key, severity, "trigger", key)]


def _event(
    message: AlertMessage, routing_key: str, severity: str, action: str, key: str
) -> dict[str, object]:
    payload: dict[str, object] = {
        "summary": message.title[:PAGERDUTY_SUMMARY_LIMIT],
        "severity": severity,
        "source": f"mogulsync@{socket.gethostname()}",
        "component": message.sync,
        "group": message.group,
        "class": message.trigger.value,
        "custom_details": message.as_dict(),
    }
    if message.finished_at:
        payload["timestamp"] = message.finished_at  # ISO 8601: when the run ended, not when sent
    return {
        "routing_key": routing_key,
        "event_action": action,
        "dedup_key": key,
        "payload": payload,
    }


def _resolve(routing_key: str, key: str) -> dict[str, object]:
    return {"routing_key": routing_key, "event_action": "resolve", "dedup_key": key}

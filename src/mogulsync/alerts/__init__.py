"""Alerts after sync runs: rules, messages and channels (Slack, webhook/PagerDuty, e-mail)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mogulsync._lazy import lazy_exports

if TYPE_CHECKING:
    from mogulsync.alerts._delivery import AlertDeliveryError
    from mogulsync.alerts.dispatch import AlertDispatcher
    from mogulsync.alerts.message import AlertMessage, Trigger, build_message
    from mogulsync.alerts.rules import evaluate

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "AlertDeliveryError": "mogulsync.alerts._delivery",
        "AlertDispatcher": "mogulsync.alerts.dispatch",
        "AlertMessage": "mogulsync.alerts.message",
        "Trigger": "mogulsync.alerts.message",
        "build_message": "mogulsync.alerts.message",
        "evaluate": "mogulsync.alerts.rules",
    },
)

__all__ = [
    "AlertDeliveryError",
    "AlertDispatcher",
    "AlertMessage",
    "Trigger",
    "build_message",
    "evaluate",
]

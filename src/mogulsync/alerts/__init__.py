"""Alerts after sync runs: rules, messages and channels (Slack, webhook/PagerDuty, e-mail)."""

from __future__ import annotations

from mogulsync.alerts._delivery import AlertDeliveryError
from mogulsync.alerts.dispatch import AlertDispatcher
from mogulsync.alerts.message import AlertMessage, Trigger, build_message
from mogulsync.alerts.rules import evaluate

__all__ = [
    "AlertDeliveryError",
    "AlertDispatcher",
    "AlertMessage",
    "Trigger",
    "build_message",
    "evaluate",
]

"""Segment-compatible events endpoint: durable ingest, mappings, ordered delivery."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mogulsync._lazy import lazy_exports

if TYPE_CHECKING:
    from mogulsync.events.app import IngestApp
    from mogulsync.events.delivery import Delivery, PlannedEvent, Verdict, WebhookDelivery
    from mogulsync.events.delivery_api import ApiDelivery
    from mogulsync.events.forwarder import Forwarder
    from mogulsync.events.hosting import GuardedServer, hardened_config, hardened_server
    from mogulsync.events.mappings import DEFAULT_MAPPINGS, Action, Plan, plan_event
    from mogulsync.events.queue import EventQueue, GroupCommitWriter, Outcome, QueuedEvent
    from mogulsync.events.schema import IngestError, StoredEvent, normalize
    from mogulsync.events.server import EventsService

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "IngestApp": "mogulsync.events.app",
        "Delivery": "mogulsync.events.delivery",
        "PlannedEvent": "mogulsync.events.delivery",
        "Verdict": "mogulsync.events.delivery",
        "WebhookDelivery": "mogulsync.events.delivery",
        "ApiDelivery": "mogulsync.events.delivery_api",
        "Forwarder": "mogulsync.events.forwarder",
        "GuardedServer": "mogulsync.events.hosting",
        "hardened_config": "mogulsync.events.hosting",
        "hardened_server": "mogulsync.events.hosting",
        "DEFAULT_MAPPINGS": "mogulsync.events.mappings",
        "Action": "mogulsync.events.mappings",
        "Plan": "mogulsync.events.mappings",
        "plan_event": "mogulsync.events.mappings",
        "EventQueue": "mogulsync.events.queue",
        "GroupCommitWriter": "mogulsync.events.queue",
        "Outcome": "mogulsync.events.queue",
        "QueuedEvent": "mogulsync.events.queue",
        "IngestError": "mogulsync.events.schema",
        "StoredEvent": "mogulsync.events.schema",
        "normalize": "mogulsync.events.schema",
        "EventsService": "mogulsync.events.server",
    },
)

__all__ = [
    "DEFAULT_MAPPINGS",
    "Action",
    "ApiDelivery",
    "Delivery",
    "EventQueue",
    "EventsService",
    "Forwarder",
    "GroupCommitWriter",
    "GuardedServer",
    "IngestApp",
    "IngestError",
    "Outcome",
    "Plan",
    "PlannedEvent",
    "QueuedEvent",
    "StoredEvent",
    "Verdict",
    "WebhookDelivery",
    "hardened_config",
    "hardened_server",
    "normalize",
    "plan_event",
]

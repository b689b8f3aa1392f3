"""Segment-compatible events endpoint: durable ingest, mappings, ordered delivery."""

from __future__ import annotations

from mogulsync.events.app import IngestApp
from mogulsync.events.delivery import Delivery, PlannedEvent, Verdict, WebhookDelivery
from mogulsync.events.delivery_api import ApiDelivery
from mogulsync.events.forwarder import Forwarder
from mogulsync.events.hosting import GuardedServer, hardened_config, hardened_server
from mogulsync.events.mappings import DEFAULT_MAPPINGS, Action, Plan, plan_event
from mogulsync.events.queue import EventQueue, GroupCommitWriter, Outcome, QueuedEvent
from mogulsync.events.schema import IngestError, StoredEvent, normalize
from mogulsync.events.server import EventsService

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

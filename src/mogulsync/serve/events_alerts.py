"""The events forwarder's alerts for the Events page and ``GET /api/v1/events/alerts``.

Read, never decided here: which conditions are in an episode comes from the state the
forwarder's alert watch keeps in the queue file, the deliveries from the run history
(job ``events``), as :mod:`mogulsync.alerts.events_dispatch` wrote them.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from mogulsync._redact import Redactor
from mogulsync.alerts.events_dispatch import EventsAlerter
from mogulsync.alerts.events_message import EVENTS_JOB
from mogulsync.config.alerts import AlertsConfig
from mogulsync.events.queue import EventQueue
from mogulsync.events.watch import LOOKED_AT_KEY
from mogulsync.runs import RunStore

#: deliveries listed on the Events page (the API takes ``?limit=``)
DELIVERIES_SHOWN = 20


def deliveries(store: RunStore, limit: int = DELIVERIES_SHOWN) -> list[dict[str, Any]]:
    """The latest events alerts sent, delivered or not, newest first."""
    return [delivery.as_dict() for delivery in store.deliveries([EVENTS_JOB], limit=limit)]


def alerts_status(
    config: AlertsConfig, queue: EventQueue, store: RunStore | None
) -> dict[str, Any]:
    """``{watching, looked_at, alerting: [{condition, channel, since}], deliveries}``
    (``store`` None: no run history yet, so no deliveries)."""
    alerter = EventsAlerter(config, Redactor())
    looked = queue.meta(LOOKED_AT_KEY)
    return {
        "watching": alerter.enabled,
        "looked_at": None if looked is None else _iso(float(looked)),
        "alerting": [
            {**found, "since": _iso(float(str(found["since"])))}
            for found in alerter.open_conditions(queue)
        ],
        "deliveries": [] if store is None else deliveries(store),
    }


def _iso(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).isoformat(timespec="seconds")

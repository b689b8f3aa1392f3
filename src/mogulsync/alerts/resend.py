"""An alert message kept to be sent again: to and from the JSON stored in runs.sqlite.

The message is kept as built (every text already redacted when it was made), so a retry
says exactly what the first attempt said and the file never holds a secret.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from mogulsync.alerts.extract import ExtractAlertMessage
from mogulsync.alerts.message import AlertMessage, Trigger
from mogulsync.runs.models import RowCounts, RowError

#: the kinds an alert waits as (the events forwarder's words: a problem opens an episode)
PROBLEM = "problem"
RECOVERED = "recovered"


def kind_of(trigger: Trigger) -> str | None:
    """How an alert about ``trigger`` waits when a channel refuses it; None: never retried
    (success notices are not worth a retry, tests are answered at once)."""
    if trigger.is_problem:
        return PROBLEM
    if trigger is Trigger.RECOVERED:
        return RECOVERED
    return None


def stored(message: AlertMessage) -> dict[str, Any]:
    """``message`` as JSON-ready values."""
    values = {f.name: getattr(message, f.name) for f in dataclasses.fields(message)}
    values["trigger"] = message.trigger.value
    values["rows"] = dataclasses.asdict(message.rows)
    values["errors"] = [dataclasses.asdict(error) for error in message.errors]
    if isinstance(message, ExtractAlertMessage):
        values["records"] = [list(pair) for pair in message.records]
        values["failed_streams"] = list(message.failed_streams)
        values["extract"] = True
    return values


def from_stored(raw: dict[str, Any]) -> AlertMessage:
    """The message kept by :func:`stored` (KeyError, TypeError or ValueError when it is
    not one)."""
    values = dict(raw)
    is_extract = bool(values.pop("extract", False))
    values["trigger"] = Trigger(values["trigger"])
    values["rows"] = RowCounts(**values["rows"])
    values["errors"] = tuple(RowError(**error) for error in values["errors"])
    if is_extract:
        values["records"] = tuple((str(name), int(count)) for name, count in values["records"])
        values["failed_streams"] = tuple(str(name) for name in values["failed_streams"])
        return ExtractAlertMessage(**values)
    return AlertMessage(**values)

"""Segment Tracking API messages: limits, normalisation and ingest-time validation.

Every accepted message is normalised the way Segment's own API does it before storing:
``messageId`` is a string (one is made up when missing), ids are strings, batch-level
``context``/``integrations``/``sentAt`` fill in what a message lacks, ``receivedAt`` is
stamped, and ``timestamp`` is corrected for the sender's clock skew
(``receivedAt - (sentAt - timestamp)``, the original kept as ``originalTimestamp``).
The write key never reaches storage.

As Segment documents, only malformed JSON and oversized payloads are refused with a 400;
a message that breaks the spec (no user or anonymous id, a track without ``event``, ...)
is acknowledged, stored as *rejected* with its reason, and counted.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mogulsync.errors import SkippableError

#: Segment's per-event limit (every route, and each event inside a batch).
MAX_EVENT_BYTES = 32 * 1024
#: Segment's limit for one ``/v1/batch`` request.
MAX_BATCH_BYTES = 500 * 1024
#: Segment's limit on events in one batch request.
MAX_BATCH_EVENTS = 2500
#: Segment deduplicates on ``messageId`` and wants it shorter than this.
MAX_MESSAGE_ID_CHARS = 100
EVENT_TYPES = ("identify", "group", "track", "page", "screen", "alias")
#: Keys copied from the batch envelope into messages that lack them.
BATCH_DEFAULTS = ("context", "integrations")
#: Secrets that may arrive in a body and must never be stored.
SECRET_BODY_KEYS = ("writeKey", "write_key")
_MILLIS = 1000
#: ``strftime("%Y")`` does not zero-pad years below this, ``isoformat`` does
_FOUR_DIGIT_YEAR = 1000
_UTC_SUFFIX = "+00:00"
#: one encoder for every message (``json.dumps`` with options builds a new one per call)
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=str)


class IngestError(SkippableError):
    """A request the Tracking API refuses, with Segment's ``code`` and HTTP status."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code

    def body(self) -> dict[str, Any]:
        """The JSON error body, shaped like Segment's (``code`` + ``message``)."""
        return {"success": False, "code": self.code, "message": self.message}


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """One normalised message, ready for the queue."""

    message_id: str
    type: str
    body: str
    received_at: float
    rejection: str | None = None


def format_time(value: dt.datetime) -> str:
    """ISO 8601 in UTC with milliseconds and ``Z``, as Segment's destinations send it."""
    utc = value.astimezone(dt.UTC)
    if utc.year >= _FOUR_DIGIT_YEAR:  # the fast path; same text as the strftime below
        return utc.isoformat(timespec="milliseconds").removesuffix(_UTC_SUFFIX) + "Z"
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // _MILLIS:03d}Z"


def parse_time(value: Any) -> dt.datetime | None:
    """An aware datetime from an ISO 8601 string (naive means UTC), else None."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.strip().replace("z", "Z"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _as_id(value: Any) -> str | None:
    if value is None or value == "" or isinstance(value, bool):
        return None
    if isinstance(value, int | float | str):
        return str(value)
    return None


def normalize(
    raw: Any,
    *,
    received_at: dt.datetime,
    type_hint: str | None = None,
    defaults: Mapping[str, Any] | None = None,
) -> StoredEvent:
    """Normalise one message; raise :class:`IngestError` only for what Segment refuses."""
    if not isinstance(raw, dict):
        raise IngestError(400, "invalid_request", "Each event must be a JSON object.")
    message = {key: value for key, value in raw.items() if key not in SECRET_BODY_KEYS}
    for key in (*BATCH_DEFAULTS, "sentAt"):
        if defaults and key in defaults and message.get(key) is None:
            message[key] = defaults[key]
    if type_hint is not None:
        message["type"] = type_hint
    message_id = _as_id(message.get("messageId")) or f"mogulsync-{uuid.uuid4()}"
    message["messageId"] = message_id
    for key in ("userId", "anonymousId", "groupId", "previousId"):
        if key in message:
            message[key] = _as_id(message[key])
    _fix_times(message, received_at)
    body = _ENCODER.encode(message)
    if len(body.encode()) > MAX_EVENT_BYTES:
        raise IngestError(
            400, "payload_too_large", f"An event must be at most {MAX_EVENT_BYTES} bytes."
        )
    return StoredEvent(
        message_id=message_id,
        type=str(message.get("type") or ""),
        body=body,
        received_at=received_at.timestamp(),
        rejection=_spec_problem(message, message_id),
    )


def _fix_times(message: dict[str, Any], received_at: dt.datetime) -> None:
    message["receivedAt"] = format_time(received_at)
    sent_at = parse_time(message.get("sentAt"))
    timestamp = parse_time(message.get("timestamp"))
    if timestamp is None:
        timestamp = received_at
    elif sent_at is not None:
        message["originalTimestamp"] = message["timestamp"]
        timestamp = received_at - (sent_at - timestamp)
    message["timestamp"] = format_time(timestamp)
    message["sentAt"] = format_time(sent_at or received_at)


def _spec_problem(message: dict[str, Any], message_id: str) -> str | None:
    """Why Segment would not accept this message (it still answers 200), or None."""
    kind = message.get("type")
    if kind not in EVENT_TYPES:
        return f"Unsupported event type {kind!r}; expected one of {', '.join(EVENT_TYPES)}."
    if len(message_id) >= MAX_MESSAGE_ID_CHARS:
        return f"messageId must have fewer than {MAX_MESSAGE_ID_CHARS} characters."
    if not message.get("userId") and not message.get("anonymousId"):
        return "no_user_anon_id: every event needs a userId and/or an anonymousId."
    if kind == "track" and not message.get("event"):
        return "Track event is missing name: track events need an `event` field."
    if kind == "group" and not message.get("groupId"):
        return "Group event is missing groupId."
    if kind == "alias" and not message.get("previousId"):
        return "Alias event is missing previousId."
    return None


def batch_envelope(raw: Any) -> tuple[list[Any], dict[str, Any]]:
    """The messages of a ``/v1/batch`` body and the defaults its envelope gives them."""
    if not isinstance(raw, dict) or not isinstance(raw.get("batch"), list):
        raise IngestError(400, "invalid_request", "A batch body needs a `batch` array.")
    messages: list[Any] = raw["batch"]
    if len(messages) > MAX_BATCH_EVENTS:
        raise IngestError(
            400, "too_many_events", f"A batch holds at most {MAX_BATCH_EVENTS} events."
        )
    defaults = {key: raw[key] for key in (*BATCH_DEFAULTS, "sentAt") if key in raw}
    return messages, defaults

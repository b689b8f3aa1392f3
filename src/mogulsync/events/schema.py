"""Segment Tracking API messages: limits, normalisation and ingest-time validation.

Every accepted message is normalised the way Segment's own API does it before storing:
``messageId`` is a string (one is made up when missing), ids are strings, batch-level
``context``/``integrations``/``sentAt`` fill in what a message lacks, ``receivedAt`` is
stamped, and ``timestamp`` is corrected for the sender's clock skew
(``receivedAt - (sentAt - timestamp)``, the original kept as ``originalTimestamp``).
The write key never reaches storage.

As Segment documents, only malformed JSON and oversized payloads are refused with a 400;
a message that breaks the spec (no user or anonymous id, a track without ``event``, ...)
is acknowledged, stored as *rejected* with its reason, and counted. So is a message we
cannot store faithfully (times whose skew correction leaves years 1-9999, a lone UTF-16
surrogate, ``NaN``/``Infinity``/a number beyond a double): one bad message never fails
the other messages of its batch.

The envelope's ``context``/``integrations`` that a batch's messages inherit are kept apart
(:attr:`StoredEvent.shared`): the queue stores each distinct one once, not once per
message, so a large shared context cannot multiply the stored bytes of a small request.
"""

from __future__ import annotations

import datetime as dt
import json
import math
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
#: (allow_nan=False: NaN/Infinity are not JSON; such a message is rejected, see _sanitized)
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=str)
#: how many offending fields a rejection reason names
_MAX_NAMED_PROBLEMS = 3


class IngestError(SkippableError):
    """A request the Tracking API refuses, with Segment's ``code`` and HTTP status."""

    def __init__(self, status: int, code: str, message: str, *, detail: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        #: for the server only, never in the answer (e.g. which key is rate limited)
        self.detail = detail

    def body(self) -> dict[str, Any]:
        """The JSON error body, shaped like Segment's (``code`` + ``message``)."""
        return {"success": False, "code": self.code, "message": self.message}


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """One normalised message, ready for the queue."""

    message_id: str
    type: str
    #: the message as a JSON object, without the inherited parts in ``shared``
    body: str
    received_at: float
    rejection: str | None = None
    #: envelope keys the message inherited, as one JSON object (stored once per value)
    shared: str | None = None
    #: UTF-8 bytes of ``body`` plus ``shared`` (measured once, when encoding)
    size: int = 0
    #: UTF-8 bytes of ``shared`` alone
    shared_size: int = 0

    @property
    def full_body(self) -> str:
        """The whole message: ``body`` with the ``shared`` keys merged back in."""
        return merge_shared(self.body, self.shared)

    @property
    def body_size(self) -> int:
        """UTF-8 bytes of ``body`` alone."""
        return self.size - self.shared_size


def merge_shared(body: str, shared: str | None) -> str:
    """``body`` (a JSON object) with the keys of ``shared`` (another, disjoint) added."""
    if not shared or shared == "{}":
        return body
    if body == "{}":
        return shared
    return f"{body[:-1]},{shared[1:]}"


class Envelope(dict[str, Any]):
    """A batch envelope's defaults; encodes each combination of shared keys once."""

    def __init__(self, values: Mapping[str, Any]) -> None:
        super().__init__(values)
        self._encoded: dict[tuple[str, ...], tuple[str, int, str | None]] = {}

    def shared(self, keys: tuple[str, ...]) -> tuple[str, int, str | None]:
        """The inherited ``keys`` as one JSON text, its UTF-8 size, what was wrong (cached)."""
        encoded = self._encoded.get(keys)
        if encoded is None:
            encoded = _encode({key: self[key] for key in keys})
            self._encoded[keys] = encoded
        return encoded


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
    inherited: tuple[str, ...] = ()
    shared: str | None = None
    shared_size = 0
    shared_problem: str | None = None
    if defaults:
        envelope = defaults if isinstance(defaults, Envelope) else Envelope(defaults)
        inherited = tuple(
            key for key in BATCH_DEFAULTS if key in envelope and message.get(key) is None
        )
        for key in inherited:
            message.pop(key, None)  # keys of body and shared stay disjoint
        if inherited:
            shared, shared_size, shared_problem = envelope.shared(inherited)
        if "sentAt" in envelope and message.get("sentAt") is None:
            message["sentAt"] = envelope["sentAt"]
    if type_hint is not None:
        message["type"] = type_hint
    message_id = _as_id(message.get("messageId")) or f"mogulsync-{uuid.uuid4()}"
    message["messageId"] = message_id
    for key in ("userId", "anonymousId", "groupId", "previousId"):
        if key in message:
            message[key] = _as_id(message[key])
    time_problem = _fix_times(message, received_at)
    body, body_size, value_problem = _encode(message)
    event = StoredEvent(
        message_id=message_id,
        type=str(message.get("type") or ""),
        body=body,
        received_at=received_at.timestamp(),
        rejection=(
            value_problem or shared_problem or time_problem or _spec_problem(message, message_id)
        ),
        shared=shared,
        size=body_size + shared_size,
        shared_size=shared_size,
    )
    if event.size > MAX_EVENT_BYTES:
        raise IngestError(
            400, "payload_too_large", f"An event must be at most {MAX_EVENT_BYTES} bytes."
        )
    return event


def _fix_times(message: dict[str, Any], received_at: dt.datetime) -> str | None:
    """Stamp ``receivedAt`` and correct ``timestamp`` for skew; why not, or None."""
    message["receivedAt"] = format_time(received_at)
    sent_at = parse_time(message.get("sentAt"))
    timestamp = parse_time(message.get("timestamp"))
    try:
        if timestamp is None:
            timestamp = received_at
        elif sent_at is not None:
            message["originalTimestamp"] = message["timestamp"]
            timestamp = received_at - (sent_at - timestamp)
        corrected = format_time(timestamp)
        sent = format_time(sent_at or received_at)
    except (OverflowError, ValueError):
        # e.g. sentAt 0001-01-01 with timestamp 9999-12-31: the skew does not fit in a date
        return (
            f"timestamp {message.get('timestamp')!r} with sentAt {message.get('sentAt')!r}:"
            " the clock-skew correction falls outside years 1-9999; send ISO 8601 times"
            " from the sender's clock."
        )
    message["timestamp"] = corrected
    message["sentAt"] = sent
    return None


def _encode(message: dict[str, Any]) -> tuple[str, int, str | None]:
    """The message as standard JSON text in valid UTF-8, its size, and what was wrong.

    The fast path is one encoder call. A non-finite number (``NaN``, ``Infinity``,
    ``1e400``) or a lone surrogate makes it fail; then the message is stored with those
    values replaced (``null``, the surrogate as ``\\udXXX`` text) and rejected, naming them.
    """
    try:
        text = _ENCODER.encode(message)
        size = len(text) if text.isascii() else len(text.encode())
    except (ValueError, UnicodeEncodeError):
        problems: list[str] = []
        clean = _sanitized(message, "", problems)
        named = ", ".join(problems[:_MAX_NAMED_PROBLEMS])
        reason = (
            f"invalid value at {named}: NaN, Infinity, numbers beyond a double and lone"
            " UTF-16 surrogates cannot be stored as JSON; send finite numbers and valid"
            " Unicode text."
        )
        text = _ENCODER.encode(clean)
        return text, len(text.encode()), reason
    return text, size, None


def _sanitized(value: Any, path: str, problems: list[str]) -> Any:
    """``value`` with non-finite floats as None and lone surrogates escaped; the paths.

    Recursion is bounded: the ingest app refuses bodies nested deeper than MAX_JSON_DEPTH.
    """
    if isinstance(value, float) and not math.isfinite(value):
        problems.append(path or "(root)")
        return None
    if isinstance(value, str):
        return _clean_text(value, path, problems)
    if isinstance(value, dict):
        return {
            _clean_text(str(key), f"{path}.{key}".lstrip("."), problems): _sanitized(
                item, f"{path}.{key}".lstrip("."), problems
            )
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_sanitized(item, f"{path}[{i}]", problems) for i, item in enumerate(value)]
    return value


def _clean_text(text: str, path: str, problems: list[str]) -> str:
    try:
        text.encode()
    except UnicodeEncodeError:
        problems.append(path.encode(errors="backslashreplace").decode() or "(root)")
        return text.encode(errors="backslashreplace").decode()
    return text


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


def batch_envelope(raw: Any) -> tuple[list[Any], Envelope]:
    """The messages of a ``/v1/batch`` body and the defaults its envelope gives them."""
    if not isinstance(raw, dict) or not isinstance(raw.get("batch"), list):
        raise IngestError(400, "invalid_request", "A batch body needs a `batch` array.")
    messages: list[Any] = raw["batch"]
    if len(messages) > MAX_BATCH_EVENTS:
        raise IngestError(
            400, "too_many_events", f"A batch holds at most {MAX_BATCH_EVENTS} events."
        )
    defaults = Envelope({key: raw[key] for key in (*BATCH_DEFAULTS, "sentAt") if key in raw})
    return messages, defaults

"""The one table from HTTP status to error class and action, and the error factory.

``Action.RETRY`` statuses are retried within the retry policy; the rest raise at once.
``not_processed`` marks answers that prove the server did nothing (429 rate limit, 503
too many connections), so even a non-idempotent POST may be sent again; after any other
failure a create is only re-sent once a lookup shows it did not land.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from mogulsync._redact import Redactor
from mogulsync.chartmogul._error_bodies import parse_error_body
from mogulsync.chartmogul.errors import (
    AlreadyExistsError,
    AuthenticationError,
    ChartMogulAPIError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    RequestFailedError,
    ResponseDetails,
    ServerError,
    UnexpectedStatusError,
    ValidationError,
)


class Action(enum.Enum):
    """What the client does with an error status."""

    RETRY = "retry"
    RAISE = "raise"


@dataclass(frozen=True, slots=True)
class StatusRule:
    """How one status is handled."""

    error: type[ChartMogulAPIError]
    action: Action
    #: the server certainly did not process the request
    not_processed: bool = False


STATUS_RULES: Mapping[int, StatusRule] = MappingProxyType(
    {
        400: StatusRule(ValidationError, Action.RAISE),
        401: StatusRule(AuthenticationError, Action.RAISE),
        402: StatusRule(RequestFailedError, Action.RAISE),
        403: StatusRule(PermissionDeniedError, Action.RAISE),
        404: StatusRule(NotFoundError, Action.RAISE),
        422: StatusRule(ValidationError, Action.RAISE),
        429: StatusRule(RateLimitedError, Action.RETRY, not_processed=True),
        500: StatusRule(ServerError, Action.RETRY),
        502: StatusRule(ServerError, Action.RETRY),
        503: StatusRule(ServerError, Action.RETRY, not_processed=True),
        504: StatusRule(ServerError, Action.RETRY),
        # Cloudflare's "unknown error" and "timeout": the official client retries them too.
        520: StatusRule(ServerError, Action.RETRY),
        524: StatusRule(ServerError, Action.RETRY),
    }
)
#: Any other 4xx (and 3xx, which we never follow) is a surprise: stop.
OTHER_CLIENT_ERROR = StatusRule(UnexpectedStatusError, Action.RAISE)
#: Any other 5xx (501, 505, ...) will not get better by asking again.
OTHER_SERVER_ERROR = StatusRule(ServerError, Action.RAISE)

SERVER_ERROR_MIN = 500

#: Field names whose "taken" message means the natural key already exists (reference §3).
ALREADY_EXISTS_FIELDS = frozenset(
    {"external_id", "name", "line_items.external_id", "transactions.external_id"}
)
_ALREADY_EXISTS_TEXT = re.compile(r"already exists|already been taken", re.IGNORECASE)
_NOT_FOUND_TEXT = re.compile(r"^\s*(?P<thing>[A-Za-z][A-Za-z _-]*?)\s+not found", re.IGNORECASE)
_ROLE_PLACEHOLDERS = frozenset({"into_uuid", "from_uuid"})
_SINGULAR = {"activities": "activity", "activities_export": "activities export"}


def rule_for(status: int) -> StatusRule:
    """The rule for an error status."""
    if status in STATUS_RULES:
        return STATUS_RULES[status]
    return OTHER_SERVER_ERROR if status >= SERVER_ERROR_MIN else OTHER_CLIENT_ERROR


def already_exists_field(status: int, field_errors: Mapping[str, str]) -> str | None:
    """The taken field when a 422 says only "this natural key already exists"."""
    if status != 422 or not field_errors:
        return None
    taken = [
        name
        for name, text in field_errors.items()
        if name.rsplit("].", 1)[-1] in ALREADY_EXISTS_FIELDS and _ALREADY_EXISTS_TEXT.search(text)
    ]
    # A duplicate plus another problem is a plain validation error: it was not delivered.
    return taken[0] if len(taken) == len(field_errors) else None


def missing_resource(endpoint: str, message: str) -> str:
    """What a 404 was about: from "<Thing> not found", else from the path template."""
    if match := _NOT_FOUND_TEXT.match(message):
        return match["thing"].lower()
    segments = endpoint.strip("/").split("/")
    resource = ""
    for previous, segment in zip(["", *segments], segments, strict=False):
        if not segment.startswith("{"):
            continue
        name = segment.strip("{}")
        if name in _ROLE_PLACEHOLDERS:  # {into_uuid}/merge/{from_uuid}: the collection's kind
            resource = _singular(segments[0])
        elif name.endswith("_uuid"):
            resource = name.removesuffix("_uuid")
        else:
            resource = _singular(previous)
    return (resource or _singular(segments[-1])).replace("_", " ") or "resource"


def _singular(collection: str) -> str:
    return _SINGULAR.get(collection, collection.removesuffix("s"))


def build_api_error(
    status: int,
    text: str,
    *,
    method: str,
    endpoint: str,
    redactor: Redactor,
    body_limit: int,
    retry_after: float | None = None,
) -> ChartMogulAPIError:
    """The typed, redacted error for an error response."""
    safe_text = redactor.text(text)
    parsed = parse_error_body(safe_text)
    details = ResponseDetails(
        status=status,
        method=method,
        endpoint=endpoint,
        field_errors=parsed.field_errors,
        body=truncate(safe_text, body_limit),
        retry_after=retry_after,
    )
    message = f"{method} {endpoint} failed with {status}: {truncate(parsed.message, body_limit)}"
    rule = rule_for(status)
    if rule.error is NotFoundError:
        return NotFoundError(message, details, resource=missing_resource(endpoint, parsed.message))
    taken = already_exists_field(status, parsed.field_errors)
    if taken is not None:
        return AlreadyExistsError(message, details, field=taken)
    return rule.error(message, details)


def truncate(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, saying how much was cut."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text) - limit} more characters)"

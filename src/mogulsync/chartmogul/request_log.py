"""One entry per HTTP attempt, handed to callbacks such as the sync engine's request log.

Bodies are redacted (the API key and secret-looking keys are masked) and cut to a bound
before an entry exists, so a callback cannot leak what it never receives.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mogulsync._redact import Redactor
from mogulsync.chartmogul.errors_map import truncate

_LOG = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RequestLogEntry:
    """What happened in one attempt of one API call."""

    method: str
    #: the request path with ids, e.g. ``/v1/customers/cus_1``
    path: str
    #: the path template without ids, e.g. ``/customers/{uuid}``
    endpoint: str
    #: HTTP status, or None when no answer came (timeout, reset)
    status: int | None
    duration_ms: float
    #: 1 for the first attempt of a call, 2 for its first retry, ...
    attempt: int
    request_body: str | None
    response_body: str | None
    #: the exception class name when the attempt failed
    error_type: str | None
    #: when the attempt started (UTC)
    timestamp: datetime
    #: False when the request never left this process (connection refused, connect
    #: timeout): such attempts are logged but are not API calls
    reached_server: bool = True


RequestHook = Callable[[RequestLogEntry], None]


class BodyRedactor:
    """Turns request and response bodies into redacted, bounded text."""

    def __init__(self, redactor: Redactor, limit: int) -> None:
        self._redactor = redactor
        self._limit = limit

    def payload(self, payload: Any) -> str | None:
        """A JSON payload as text, with secrets masked."""
        if payload is None:
            return None
        text = json.dumps(self._redactor.data(payload), default=str, ensure_ascii=False)
        return truncate(text, self._limit)

    def text(self, text: str) -> str | None:
        """A response body, with secrets masked."""
        if not text:
            return None
        return truncate(self._redactor.text(text), self._limit)


def emit(hooks: Sequence[RequestHook], entry: RequestLogEntry) -> None:
    """Call every hook; a failing hook is logged, never allowed to fail the request."""
    for hook in hooks:
        try:
            hook(entry)
        except Exception:  # an observer must not break the call it observes
            _LOG.exception("request log hook %r failed", hook)

"""Errors the ChartMogul client raises, placed in mogulsync's one hierarchy.

::

    MogulsyncError
    └── ChartMogulError                         anything the ChartMogul client raises
        ├── ChartMogulAPIError                  ChartMogul answered with an error status
        │   ├── AuthenticationError  (401)      + ConfigError: fix the API key
        │   ├── PermissionDeniedError (403)     + ConfigError: key is read-only / trial over
        │   ├── NotFoundError (404)             + SkippableError: this record is missing
        │   ├── ValidationError (400, 422)      + SkippableError: this record was refused
        │   │   └── AlreadyExistsError (422)    the natural key is taken (often: delivered)
        │   ├── RequestFailedError (402)        + SkippableError
        │   ├── RateLimitedError (429)          + RetriableError
        │   ├── ServerError (5xx)               + RetriableError
        │   └── UnexpectedStatusError (other)   + FatalError
        ├── TransportError                      + RetriableError: timeout, reset, refused
        └── ResponseFormatError                 + SkippableError: a 2xx body we cannot read

Which status maps to which class (and whether it is retried) is the table in
:mod:`mogulsync.chartmogul.errors_map`. Nothing here ever holds the API key: bodies and
messages are redacted before an error is built.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from mogulsync.errors import (
    ConfigError,
    FatalError,
    MogulsyncError,
    RetriableError,
    SkippableError,
)


class ChartMogulError(MogulsyncError):
    """Root of the ChartMogul client's errors."""

    #: an earlier attempt of the write that raised this may have been applied (its answer
    #: was lost: a reset, a timeout, a 500/502/504), whatever this last error says: a 429
    #: or 503 after it proves only that the last attempt did nothing
    earlier_attempt_unknown: bool = False

    def __init__(self, message: str, *, method: str, endpoint: str) -> None:
        super().__init__(message)
        self.method = method
        #: path template such as ``/customers/{uuid}`` (no ids, never the key)
        self.endpoint = endpoint


@dataclasses.dataclass(frozen=True, slots=True)
class ResponseDetails:
    """What an error response said, already redacted."""

    status: int
    method: str
    #: path template such as ``/customers/{uuid}`` (no ids, never the key)
    endpoint: str
    #: field -> message, from whichever error body shape the endpoint uses
    field_errors: Mapping[str, str] = dataclasses.field(default_factory=dict)
    #: the response body, redacted and truncated
    body: str = ""
    #: seconds the server asked us to wait (``Retry-After``), when it said so
    retry_after: float | None = None


class ChartMogulAPIError(ChartMogulError):
    """ChartMogul answered with a non-2xx status."""

    def __init__(self, message: str, details: ResponseDetails) -> None:
        super().__init__(message, method=details.method, endpoint=details.endpoint)
        self.status = details.status
        self.field_errors: dict[str, str] = dict(details.field_errors)
        self.body = details.body
        self.retry_after = details.retry_after


class AuthenticationError(ChartMogulAPIError, ConfigError):
    """401: the API key was rejected."""

    hint = "The ChartMogul API key was rejected; check chartmogul.api_key / CHARTMOGUL_API_KEY."

    @property
    def user_message(self) -> str:
        """Only the hint: the server's wording adds nothing a person can act on."""
        return self.hint


class PermissionDeniedError(ChartMogulAPIError, ConfigError):
    """403: the key may not do this (read-only key, expired trial)."""

    hint = "Use a ChartMogul API key with read & write access, and check the account is active."


class NotFoundError(ChartMogulAPIError, SkippableError):
    """404: the object (data source, customer, invoice, ...) does not exist."""

    def __init__(self, message: str, details: ResponseDetails, *, resource: str) -> None:
        super().__init__(message, details)
        #: what was not found, e.g. ``"customer"`` or ``"data source"``
        self.resource = resource

    @property
    def user_message(self) -> str:
        """Names the missing object."""
        return f"ChartMogul has no such {self.resource} ({self.method} {self.endpoint})."


class ValidationError(ChartMogulAPIError, SkippableError):
    """400 or 422: ChartMogul refused the request's content."""

    @property
    def user_message(self) -> str:
        """The refused fields, one by one."""
        if not self.field_errors:
            return f"ChartMogul refused the request: {self.message}"
        fields = "; ".join(f"{name}: {text}" for name, text in self.field_errors.items())
        return f"ChartMogul refused the request ({self.method} {self.endpoint}): {fields}"


class AlreadyExistsError(ValidationError):
    """422: the natural key (external_id, name) is taken; usually the record was delivered."""

    def __init__(self, message: str, details: ResponseDetails, *, field: str) -> None:
        super().__init__(message, details)
        #: the field whose value is taken, e.g. ``external_id``
        self.field = field
        #: the uuid of the record holding the key, when a lookup found it
        self.existing_uuid: str | None = None

    @property
    def user_message(self) -> str:
        """Says which key is taken and, when known, by which record."""
        holder = f" ({self.existing_uuid})" if self.existing_uuid else ""
        return (
            f"ChartMogul already has a record with this {self.field}{holder}: "
            f"{self.field_errors.get(self.field, self.message)}"
        )


class RequestFailedError(ChartMogulAPIError, SkippableError):
    """402: the parameters were valid but the request failed."""


class RateLimitedError(ChartMogulAPIError, RetriableError):
    """429: over 40 requests per second or the compute-time budget."""

    hint = "Lower chartmogul.rate_limit or run fewer syncs against this account at once."


class ServerError(ChartMogulAPIError, RetriableError):
    """5xx: ChartMogul failed, or (503) more than 20 requests were in flight."""


class UnexpectedStatusError(ChartMogulAPIError, FatalError):
    """A status ChartMogul does not document for this API."""


class TransportError(ChartMogulError, RetriableError):
    """No HTTP answer: connect failure, timeout or a connection reset."""

    def __init__(
        self, message: str, *, method: str, endpoint: str, may_have_been_sent: bool
    ) -> None:
        super().__init__(message, method=method, endpoint=endpoint)
        #: False only when the request certainly never reached the server
        self.may_have_been_sent = may_have_been_sent


class ResponseFormatError(ChartMogulError, SkippableError):
    """A successful response whose body does not have the documented shape.

    Skippable, not fatal: one unreadable answer (a truncated body, a value our models
    cannot parse) fails the row it answered, never the run. The request reached
    ChartMogul, so a write may have landed: callers keep such a row in flight.
    """


class JsonImportTimeoutError(ChartMogulError, RetriableError):
    """A bulk import was still queued or processing when we stopped waiting."""

    def __init__(
        self, message: str, *, method: str, endpoint: str, last_status: str | None
    ) -> None:
        super().__init__(message, method=method, endpoint=endpoint)
        #: the import's status when the wait ended
        self.last_status = last_status

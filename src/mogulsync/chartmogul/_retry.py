"""When a failed attempt is tried again, and after how long.

A call is one of three kinds of replay safety:

* ``SAFE``: sending it twice does no harm (GET, PUT, PATCH, DELETE, tag and attribute
  writes). Retried on every retriable failure.
* ``LOOKUP``: a create with a natural key. After a failure whose outcome is unknown
  (timeout or reset after sending, 500/502/504) the next attempt first looks the record
  up and returns it if it landed; it is only re-sent when it did not.
* ``UNSAFE``: a create without a natural key. Retried only when the server certainly did
  nothing (connection refused, 429, 503); otherwise the error is raised.
"""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from mogulsync.chartmogul.errors import (
    ChartMogulAPIError,
    RateLimitedError,
    ServerError,
    TransportError,
)
from mogulsync.chartmogul.errors_map import Action, rule_for
from mogulsync.chartmogul.settings import RetryPolicy

#: statuses that answer a request with a refusal: nothing of it was applied
_CLIENT_ERRORS = range(400, 500)


class Replay(enum.Enum):
    """How safe it is to send a request again."""

    SAFE = "safe"
    LOOKUP = "lookup"
    UNSAFE = "unsafe"


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delay-seconds or an HTTP date)."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:  # an HTTP date is GMT by definition
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - (now or datetime.now(UTC))).total_seconds())


def outcome_unknown(error: Exception) -> bool:
    """Whether the server may have processed the request that failed with ``error``."""
    if isinstance(error, TransportError):
        return error.may_have_been_sent
    if isinstance(error, ChartMogulAPIError):
        if _CLIENT_ERRORS.start <= error.status < _CLIENT_ERRORS.stop:
            return False  # a refusal (400, 404, 422, ...): ChartMogul applied nothing
        return not rule_for(error.status).not_processed
    return True


@dataclass(slots=True)
class CallState:
    """What the attempts of one call have learnt so far."""

    replay: Replay
    policy: RetryPolicy
    started: float = field(default_factory=time.monotonic)
    #: the latest failure may have been processed; look before re-sending
    pending_lookup: bool = False
    #: some attempt of this call may have been processed
    ever_unknown: bool = False

    def record_failure(self, error: Exception) -> None:
        """Note a failed attempt."""
        if outcome_unknown(error):
            self.ever_unknown = True
            self.pending_lookup = self.replay is Replay.LOOKUP

    def should_retry(self, error: Exception) -> bool | float:
        """stamina's backoff hook: False to stop, True for backoff, seconds to wait exactly."""
        if not isinstance(error, RateLimitedError | ServerError | TransportError):
            return False
        if (
            isinstance(error, ChartMogulAPIError)
            and rule_for(error.status).action is not Action.RETRY
        ):
            return False
        if self.replay is Replay.UNSAFE and outcome_unknown(error):
            return False
        wait = error.retry_after if isinstance(error, ChartMogulAPIError) else None
        if wait is None:
            return True
        elapsed = time.monotonic() - self.started
        # Honour Retry-After, unless it would take us past the total time budget.
        if elapsed + wait > self.policy.max_total_s:
            return False
        return wait

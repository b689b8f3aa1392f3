"""Delivery: the seam between the forwarder and ChartMogul, and the ``webhook`` mode.

A :class:`Delivery` gets the pending events of one entity, oldest first, and says what
became of each. ``webhook`` delivery posts the destination's exact payload once per event,
in order, and stops at the first failure so later events of the entity wait behind it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

import httpx
import pydantic

from mogulsync._redact import Redactor, endpoint_secrets
from mogulsync._tls import verify_for
from mogulsync.errors import ConfigError, FatalError, RetriableError, SkippableError
from mogulsync.events.mappings import Plan
from mogulsync.events.queue import QueuedEvent

WEBHOOK_TIMEOUT_S = 30.0
#: answers that mean "try again later" rather than "this payload is wrong"
RETRY_STATUSES = frozenset({408, 425, 429})
MAX_REASON_CHARS = 500
HOLD_REASON = "waiting for an earlier event of the same entity"
NEXT_REASON = "moves the contact: sent once the events before it are recorded delivered"


@dataclass(frozen=True, slots=True)
class PlannedEvent:
    """A queued event and what the mappings made of it."""

    event: QueuedEvent
    plan: Plan


@dataclass(frozen=True, slots=True)
class Verdict:
    """How delivering one event went.

    ``hold`` keeps an event pending without counting an attempt: an earlier event of the
    same entity failed, so this one must wait behind it. ``next``: not sent now, due at
    once, after the events before it are recorded (a redelivery must not see their
    entity changed by it). ``skipped``: nothing was to be written (a person no company
    names, with ``contacts_without_company: skip``).
    """

    seq: int
    kind: Literal["delivered", "retry", "dead", "hold", "next", "skipped"]
    reason: str | None = None


class Delivery(Protocol):
    """Sends the events of one entity; the forwarder owns ordering and retries."""

    #: whether several events of an entity may become one API call
    coalesces: bool

    async def deliver(self, entity: str, items: Sequence[PlannedEvent]) -> list[Verdict]:
        """Deliver ``items`` (one entity, oldest first); a verdict per item."""
        ...

    def take_counters(self) -> dict[str, int]:
        """Counts since the last call (API calls, webhook posts, ...)."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


def classify(
    exc: BaseException, redactor: Redactor | None = None
) -> tuple[Literal["retry", "dead"], str]:
    """``("retry" | "dead", reason)`` for a delivery failure."""
    reason = _reason(exc, redactor)
    if isinstance(exc, SkippableError | FatalError | pydantic.ValidationError):
        return "dead", reason  # the same request would fail the same way
    if isinstance(exc, RetriableError | ConfigError | httpx.TransportError):
        return "retry", reason  # transient, or fixable (a key) without changing the event
    return "retry", reason


def _reason(exc: BaseException, redactor: Redactor | None) -> str:
    message = getattr(exc, "user_message", None) or str(exc) or type(exc).__name__
    text = f"{type(exc).__name__}: {message}"
    if redactor is not None:
        text = redactor.text(text)
    return text[:MAX_REASON_CHARS]


class WebhookError(SkippableError):
    """The webhook refused a payload."""

    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"webhook answered {status}: {body[:MAX_REASON_CHARS]}")
        self.status = status


class WebhookRetryError(RetriableError):
    """The webhook failed in a way that may pass (429, 5xx)."""

    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"webhook answered {status}: {body[:MAX_REASON_CHARS]}")
        self.status = status


class WebhookDelivery:
    """POSTs each event's Segment-action payload to the ChartMogul webhook URL."""

    coalesces = False

    def __init__(self, url: str, *, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._url = url
        # the URL identifies the account's source: keep it out of stored reasons, also
        # where a refusal quotes only its path or a token-like part of it
        self._redactor = Redactor(endpoint_secrets(url))
        self._http = httpx.AsyncClient(
            timeout=WEBHOOK_TIMEOUT_S, transport=transport, verify=verify_for(url)
        )
        self._counters: Counter[str] = Counter()

    async def deliver(self, entity: str, items: Sequence[PlannedEvent]) -> list[Verdict]:
        """One POST per action, in order; stop at the first failure."""
        del entity
        verdicts: list[Verdict] = []
        blocked = False
        for item in items:
            seq = item.event.seq
            if blocked:
                verdicts.append(Verdict(seq, "hold", HOLD_REASON))
                continue
            try:
                for action in item.plan.actions:
                    if action.webhook is None:
                        self._counters["webhook_unsupported_actions"] += 1
                        continue
                    await self._post(action.webhook)
            except Exception as exc:
                kind, reason = classify(exc, self._redactor)
                verdicts.append(Verdict(seq, kind, reason))
                blocked = kind == "retry"
                continue
            verdicts.append(Verdict(seq, "delivered"))
        return verdicts

    async def _post(self, payload: dict[str, object]) -> None:
        self._counters["webhook_posts"] += 1
        response = await self._http.post(self._url, json=payload)
        if response.is_success:
            return
        if response.status_code in RETRY_STATUSES or response.status_code >= 500:
            raise WebhookRetryError(response.status_code, response.text)
        raise WebhookError(response.status_code, response.text)

    def take_counters(self) -> dict[str, int]:
        """Webhook posts (and unsupported actions skipped) since the last call."""
        taken = dict(self._counters)
        self._counters.clear()
        return taken

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self._http.aclose()

"""Posting an alert: short timeouts, a few retries, errors that never quote the target URL."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import httpx

from mogulsync._retrying import stamina
from mogulsync._tls import verify_for
from mogulsync.alerts.message import AlertMessage
from mogulsync.errors import FatalError

#: first and longest pause between attempts (a message is late, never blocking a run long)
WAIT_INITIAL_S = 0.5
WAIT_MAX_S = 2.0
WAIT_JITTER_S = 0.25
HTTP_TOO_MANY_REQUESTS = 429
HTTP_SERVER_ERROR = 500
HTTP_CLIENT_ERROR = 400
#: characters of a refusing server's answer quoted in the delivery error
ANSWER_QUOTE = 200


class AlertDeliveryError(FatalError):
    """A channel did not take the alert after every attempt."""


class TransientDeliveryError(AlertDeliveryError):
    """The receiver may take the alert on another attempt (5xx, 429)."""


@dataclass(frozen=True, slots=True)
class Delivery:
    """How hard to try to deliver one message."""

    timeout_s: float
    attempts: int

    @property
    def longest_s(self) -> float:
        """An upper bound of the time one message can take through every attempt."""
        return self.attempts * (self.timeout_s + WAIT_MAX_S + WAIT_JITTER_S)


class Sender(Protocol):
    """One configured channel."""

    name: str

    async def send(self, message: AlertMessage) -> None:
        """Deliver ``message``; raise AlertDeliveryError when it could not be."""
        ...


def require(value: str, channel: str, key: str) -> str:
    """``value``, or a clear error when its ``${ENV}`` was not set for this command."""
    if not value.strip():
        raise AlertDeliveryError(
            f"channel `{channel}` has an empty `{key}`",
            hint="Export the environment variable that alerts.channels references.",
        )
    return value


def retriable(exc: Exception) -> bool:
    """Whether another attempt may succeed."""
    return isinstance(exc, TransientDeliveryError | httpx.TransportError)


async def post_json(url: str, body: object, delivery: Delivery) -> None:
    """POST ``body`` as JSON; retried on network errors, 429 and 5xx."""
    async for attempt in stamina.retry_context(
        on=retriable,
        attempts=delivery.attempts,
        timeout=None,
        wait_initial=WAIT_INITIAL_S,
        wait_max=WAIT_MAX_S,
        wait_jitter=WAIT_JITTER_S,
    ):
        with attempt:
            async with httpx.AsyncClient(
                timeout=delivery.timeout_s, verify=verify_for(url)
            ) as client:
                response = await client.post(url, json=body)
            check_response(response)


def check_response(response: httpx.Response) -> None:
    status = response.status_code
    if status < HTTP_CLIENT_ERROR:
        return
    answer = response.text[:ANSWER_QUOTE].strip()
    message = f"the receiver answered HTTP {status}" + (f": {answer}" if answer else "")
    if status >= HTTP_SERVER_ERROR or status == HTTP_TOO_MANY_REQUESTS:
        raise TransientDeliveryError(message)
    raise AlertDeliveryError(message, hint="Check the channel's URL and key.")

"""Retry decisions: Retry-After, replay safety per call kind, the total time budget."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import httpx
import pytest
import stamina
from stamina.instrumentation import RetryDetails, set_on_retry_hooks

from mogulsync.chartmogul import ChartMogulClient, ClientSettings, RetryPolicy
from mogulsync.chartmogul._retry import CallState, Replay, outcome_unknown, parse_retry_after
from mogulsync.chartmogul.errors import (
    NotFoundError,
    RateLimitedError,
    ResponseDetails,
    ServerError,
    TransportError,
    ValidationError,
)

NOW = dt.datetime(2026, 1, 1, 12, 0, 0, tzinfo=dt.UTC)


def api_error(cls: type, status: int, retry_after: float | None = None) -> object:
    return cls("failed", ResponseDetails(status, "POST", "/x", retry_after=retry_after))


def transport_error(sent: bool) -> TransportError:
    return TransportError("reset", method="POST", endpoint="/x", may_have_been_sent=sent)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("3", 3.0),
        (" 0 ", 0.0),
        ("1.5", 1.5),
        ("-4", 0.0),
        ("Thu, 01 Jan 2026 12:00:30 GMT", 30.0),
        ("Thu, 01 Jan 2026 11:59:00 GMT", 0.0),
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_retry_after(header: str | None, expected: float | None) -> None:
    """Retry-After is read as delay-seconds or an HTTP date; junk is ignored."""
    assert parse_retry_after(header, now=NOW) == expected


@pytest.mark.parametrize(
    ("error", "unknown"),
    [
        (api_error(RateLimitedError, 429), False),
        (api_error(ServerError, 503), False),
        (api_error(ServerError, 500), True),
        (api_error(ServerError, 502), True),
        (api_error(ServerError, 504), True),
        (transport_error(sent=False), False),
        (transport_error(sent=True), True),
    ],
)
def test_outcome_unknown(error: Exception, unknown: bool) -> None:
    """Only 429, 503 and never-sent failures prove the server did nothing."""
    assert outcome_unknown(error) is unknown


@pytest.mark.parametrize("replay", list(Replay))
@pytest.mark.parametrize(
    "error",
    [api_error(RateLimitedError, 429), api_error(ServerError, 503), transport_error(sent=False)],
)
def test_unprocessed_failures_are_retried_for_every_kind(replay: Replay, error: Exception) -> None:
    """429, 503 and connect failures are retried even for non-idempotent creates."""
    assert CallState(replay, RetryPolicy()).should_retry(error) is True


@pytest.mark.parametrize(
    "error", [api_error(ServerError, 500), api_error(ServerError, 504), transport_error(sent=True)]
)
def test_unknown_outcomes_depend_on_replay_safety(error: Exception) -> None:
    """After an unknown outcome SAFE and LOOKUP retry, UNSAFE stops."""
    assert CallState(Replay.SAFE, RetryPolicy()).should_retry(error) is True
    assert CallState(Replay.LOOKUP, RetryPolicy()).should_retry(error) is True
    assert CallState(Replay.UNSAFE, RetryPolicy()).should_retry(error) is False


def test_lookup_is_armed_only_for_lookup_calls() -> None:
    """An unknown outcome arms the lookup of a LOOKUP call, not of a SAFE one."""
    lookup = CallState(Replay.LOOKUP, RetryPolicy())
    lookup.record_failure(transport_error(sent=True))
    assert (lookup.pending_lookup, lookup.ever_unknown) == (True, True)
    safe = CallState(Replay.SAFE, RetryPolicy())
    safe.record_failure(transport_error(sent=True))
    assert (safe.pending_lookup, safe.ever_unknown) == (False, True)
    refused = CallState(Replay.LOOKUP, RetryPolicy())
    refused.record_failure(api_error(RateLimitedError, 429))
    assert (refused.pending_lookup, refused.ever_unknown) == (False, False)


@pytest.mark.parametrize(
    "error",
    [
        api_error(ValidationError, 422),
        api_error(ValidationError, 400),
        NotFoundError("gone", ResponseDetails(404, "GET", "/x"), resource="x"),
        api_error(ServerError, 501),
        ValueError("bug"),
    ],
)
def test_final_errors_are_not_retried(error: Exception) -> None:
    """Client errors, unlisted 5xx and foreign exceptions end the call."""
    assert CallState(Replay.SAFE, RetryPolicy()).should_retry(error) is False


def test_retry_after_is_returned_as_the_wait() -> None:
    """A Retry-After within the budget becomes the exact wait."""
    state = CallState(Replay.SAFE, RetryPolicy(max_total_s=60))
    assert state.should_retry(api_error(RateLimitedError, 429, retry_after=7.0)) == 7.0


def test_retry_after_beyond_the_budget_gives_up() -> None:
    """A Retry-After longer than the time left ends the call instead of sleeping past it."""
    state = CallState(Replay.SAFE, RetryPolicy(max_total_s=5))
    assert state.should_retry(api_error(RateLimitedError, 429, retry_after=30.0)) is False


def mock_transport(
    responses: list[httpx.Response], seen: list[httpx.Request]
) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return responses.pop(0)

    return httpx.MockTransport(handle)


@pytest.mark.anyio
async def test_retry_after_is_honoured(make_settings: Callable[..., ClientSettings]) -> None:
    """A 429 with Retry-After: 1 makes the client wait exactly one second, then succeed."""
    waits: list[float] = []

    def on_retry(details: RetryDetails) -> None:
        waits.append(details.wait_for)

    limited = httpx.Response(
        429,
        headers={"Retry-After": "1"},
        json={"code": 429, "message": "Your request rate has exceeded our rate limit."},
    )
    seen: list[httpx.Request] = []
    transport = mock_transport([limited, httpx.Response(200, json={"data": "pong!"})], seen)
    set_on_retry_hooks([on_retry])
    try:
        with stamina.set_testing(False):
            async with ChartMogulClient(make_settings(), transport=transport) as client:
                assert await client.ping() is True
    finally:
        set_on_retry_hooks(None)
    assert waits == [1.0]
    assert len(seen) == 2

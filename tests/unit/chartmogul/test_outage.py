"""The outage breaker: a streak of unanswered attempts lasting its window trips it (driven clock)."""

from __future__ import annotations

import logging

import pytest

from mogulsync.chartmogul.errors import (
    RateLimitedError,
    ResponseDetails,
    ServerError,
    TransportError,
    ValidationError,
)
from mogulsync.chartmogul.outage import ChartMogulUnreachableError, OutageBreaker
from mogulsync.errors import FatalError

URL = "http://chartmogul.invalid"  # a label in messages: never dialled


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def refused() -> TransportError:
    return TransportError("refused", method="GET", endpoint="/x", may_have_been_sent=False)


def status(cls: type, code: int) -> Exception:
    error: Exception = cls("failed", ResponseDetails(code, "GET", "/x"))
    return error


def fail(breaker: OutageBreaker, error: Exception) -> None:
    breaker.failed(error, method="GET", endpoint="/x")


def test_a_streak_as_long_as_the_window_trips_it_and_every_later_call_fails_at_once() -> None:
    clock = Clock()
    breaker = OutageBreaker(URL, window_s=10, clock=clock)
    fail(breaker, refused())
    clock.now += 9.9
    fail(breaker, status(ServerError, 503))  # still inside the window
    assert not breaker.tripped
    clock.now += 0.1
    with pytest.raises(ChartMogulUnreachableError) as raised:
        fail(breaker, refused())
    assert breaker.tripped
    assert isinstance(raised.value, FatalError)
    assert URL in raised.value.user_message
    assert "3 attempts in a row failed" in raised.value.message
    with pytest.raises(ChartMogulUnreachableError):
        breaker.check("POST", "/customers")  # nothing is sent any more
    breaker.answered()  # a late answer does not reopen a run that gave up
    assert breaker.tripped


@pytest.mark.parametrize(
    "answer",
    [
        status(ValidationError, 422),
        status(RateLimitedError, 429),
        None,  # a 2xx
    ],
    ids=["422", "429", "2xx"],
)
def test_any_answer_but_a_5xx_ends_the_streak(answer: Exception | None) -> None:
    clock = Clock()
    breaker = OutageBreaker(URL, window_s=10, clock=clock)
    fail(breaker, refused())
    clock.now += 9
    if answer is None:
        breaker.answered()
    else:
        fail(breaker, answer)
    clock.now += 9  # 18 s since the first failure, 9 s since the answer
    fail(breaker, refused())
    clock.now += 9
    fail(breaker, refused())
    assert not breaker.tripped
    clock.now += 1
    with pytest.raises(ChartMogulUnreachableError):
        fail(breaker, refused())


def test_the_outage_is_reported_after_a_few_failures_long_before_giving_up(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="mogulsync.chartmogul.outage")
    breaker = OutageBreaker(URL, window_s=30, clock=Clock())
    for _ in range(5):
        fail(breaker, refused())
    assert not breaker.tripped
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1  # once per streak, not per attempt
    assert URL in warnings[0]
    assert "30s" in warnings[0]


def test_a_call_out_of_retries_waits_for_attempts_still_on_the_wire() -> None:
    """One endpoint failing fast (its retries spent before another call's first answer came
    back) is not ChartMogul down: while attempts are on the wire, giving up does not trip
    the breaker. When they come back failed too, the next call that gives up trips it."""
    breaker = OutageBreaker(URL, window_s=30, clock=Clock())
    breaker.sending()  # another stream's first request, still waiting for its answer
    answers = breaker.answers
    fail(breaker, status(ServerError, 500))
    fail(breaker, status(ServerError, 500))
    breaker.gave_up(status(ServerError, 500), answers=answers, method="GET", endpoint="/x")
    assert not breaker.tripped
    breaker.returned()
    breaker.failed(status(ServerError, 502), method="POST", endpoint="/customers")
    with pytest.raises(ChartMogulUnreachableError) as raised:
        breaker.gave_up(status(ServerError, 500), answers=answers, method="GET", endpoint="/x")
    assert breaker.tripped
    # the last failure names its request (the endpoint template: no ids, no key)
    assert "last: HTTP 502 from POST /customers" in raised.value.message


def test_an_answer_on_the_wire_keeps_the_breaker_closed() -> None:
    breaker = OutageBreaker(URL, window_s=30, clock=Clock())
    breaker.sending()
    answers = breaker.answers
    fail(breaker, status(ServerError, 500))
    breaker.gave_up(status(ServerError, 500), answers=answers, method="GET", endpoint="/x")
    breaker.returned()
    breaker.answered()  # the other stream's answer: the server is there
    answers_now = breaker.answers
    fail(breaker, status(ServerError, 500))
    breaker.gave_up(status(ServerError, 500), answers=answers, method="GET", endpoint="/x")
    assert not breaker.tripped
    assert answers_now == answers + 1

"""The pieces bounding what a client may cost: byte budget, log throttle, connection cap."""

from __future__ import annotations

import logging
import resource

import pytest

from mogulsync.config.events import IngestLimits
from mogulsync.events._budget import KeyBudget
from mogulsync.events._throttle import MAX_KINDS, LogThrottle
from mogulsync.events.hosting import FD_RESERVE, effective_max_connections


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_budget_lets_a_key_into_debt_then_waits_for_the_refill() -> None:
    """A key may spend its burst (and overdraw with one request), then waits; keys are apart."""
    clock = Clock()
    budget = KeyBudget(rate=100, burst=1000, clock=clock)
    assert budget.wait_s("a") == 0
    budget.charge("a", 1500)  # one request larger than what is left: allowed, in debt
    assert budget.wait_s("a") == pytest.approx(5.01)
    assert budget.retry_after_s("a") == 6
    assert budget.wait_s("b") == 0
    clock.now += 5.02
    assert budget.wait_s("a") == 0
    clock.now += 1000
    budget.charge("a", 1000)  # the burst caps what idle time saves up
    assert budget.wait_s("a") > 0


def record(message: str, *args: object) -> logging.LogRecord:
    return logging.LogRecord("x", logging.WARNING, __file__, 1, message, args, None)


def test_the_log_throttle_passes_one_record_per_kind_per_interval_and_counts_the_rest() -> None:
    """Repeats within the interval are dropped; the next one says how many were."""
    clock = Clock()
    throttle = LogThrottle(60, clock=clock)
    assert throttle.filter(record("refused %d", 1))
    assert not any(throttle.filter(record("refused %d", n)) for n in range(500))
    assert throttle.filter(record("other warning"))  # another kind is not hidden
    clock.now += 60
    later = record("refused %d", 7)
    assert throttle.filter(later)
    assert later.getMessage() == "refused 7 [500 more like this in the last 60 s]"


def test_the_log_throttle_remembers_a_bounded_number_of_kinds() -> None:
    """Messages formatted before logging are a new kind each: a server logging them for
    weeks must not remember every one. The stale are forgotten first, else the oldest."""
    clock = Clock()
    throttle = LogThrottle(60, clock=clock)
    for n in range(MAX_KINDS):
        assert throttle.filter(record(f"peer 10.0.0.{n} sent garbage"))
    clock.now += 30
    assert throttle.filter(record("one more kind"))  # none stale: the oldest half goes
    assert len(throttle._last) == MAX_KINDS // 2 + 1
    assert not throttle.filter(record("one more kind"))  # still throttled
    clock.now += 60
    for n in range(5 * MAX_KINDS):
        throttle.filter(record(f"peer 10.1.{n} sent garbage"))
    assert len(throttle._last) <= MAX_KINDS


def test_the_connection_cap_leaves_file_descriptors_free() -> None:
    """The cap is lowered below the open-files limit so accept() never runs out."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    cap = effective_max_connections(IngestLimits(max_connections=10**6))
    if soft != resource.RLIM_INFINITY:
        assert cap <= max(8, soft - FD_RESERVE)
    assert effective_max_connections(IngestLimits(max_connections=8)) == 8

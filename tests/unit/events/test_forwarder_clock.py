"""The forwarder when the wall clock steps back (NTP, a resumed VM): due times stored by
the earlier clock must not stall delivery or retention by the size of the step."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.unit.events.test_forwarder import Clock, Recorder, forwarder, identify, store

from mogulsync.config.events import DeliveryConfig
from mogulsync.errors import RetriableError
from mogulsync.events.forwarder import PRUNE_INTERVAL_S, Forwarder
from mogulsync.events.mappings import DEFAULT_MAPPINGS

pytestmark = pytest.mark.anyio
HOUR_S = 3600.0


async def test_a_retry_is_not_stalled_by_the_step_when_the_clock_goes_back(
    tmp_path: Path,
) -> None:
    """Backoff 10 s (at most 10 s); the clock steps back an hour: the retry goes at once
    (its real wait is unknown, and none is longer than 10 s), not an hour later."""
    queue = await store(tmp_path / "q", [identify("a1", "u1")])
    clock, delivery = Clock(), Recorder(coalesces=False)
    delivery.failures["a1"] = [RetriableError("503")]
    fwd = forwarder(queue, delivery, clock, retry_max_s=10)
    await fwd.run_once()
    assert delivery.calls == [["a1"]]
    clock.now += 5
    await fwd.run_once()
    assert delivery.calls == [["a1"]]  # its backoff holds it
    clock.now -= HOUR_S
    assert await fwd.run_once() == 0
    assert delivery.calls == [["a1"], ["a1"]]
    assert queue.counts()["delivered"] == 1


async def test_a_burst_received_before_a_step_back_is_not_held_for_the_step(
    tmp_path: Path,
) -> None:
    """Events received "in the future" of the stepped-back clock are not held for the step:
    their burst is over (no coalescing hold)."""
    queue = await store(tmp_path / "q", [identify("a1", "u1", 0), identify("a2", "u1", 0.5)])
    clock, delivery = Clock(), Recorder()
    clock.now -= HOUR_S
    fwd = forwarder(queue, delivery, clock, coalesce_window_s=1.0)
    assert await fwd.run_once() == 0
    assert delivery.calls == [["a1", "a2"]]


async def test_retention_runs_at_once_after_the_clock_went_back(tmp_path: Path) -> None:
    """A prune planned by the earlier clock is not put off by the size of the step."""
    queue = await store(tmp_path / "q", [identify("a1", "u1")])
    clock, delivery = Clock(), Recorder()
    config = DeliveryConfig(coalesce_window_s=0)
    fwd = Forwarder(queue, delivery, DEFAULT_MAPPINGS, config, clock=clock, keep_s=60)
    await fwd.run_once()
    clock.now += 10 * HOUR_S  # the clock runs ahead: a prune now plans the next in 5 min
    assert await fwd.prune_if_due() == 1
    await store(tmp_path / "q", [identify("b1", "u2")])
    await fwd.run_once()
    clock.now -= 10 * HOUR_S - 120  # corrected: b1 was received ~2 min "ago"
    assert await fwd.prune_if_due() == 1
    assert queue.get("b1") is None
    clock.now += PRUNE_INTERVAL_S / 2
    assert await fwd.prune_if_due() == 0  # and then at its interval again

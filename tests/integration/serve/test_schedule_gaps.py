"""Slots a schedule could not run are reported on /metrics, never silently lost: those
that passed unseen (server down, clock stepped forward) and those dropped while the sync
was still running. A driven clock and a gate that holds the run's writes; no sleeping."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from prometheus_client.parser import text_string_to_metric_families
from tests.integration.serve._support import (
    OPERATOR,
    START,
    Gate,
    GatedEngine,
    Served,
    accounts,
    project,
    serving,
)

from mogulsync.serve.clock import ManualClock

pytestmark = pytest.mark.anyio
MINUTE = dt.timedelta(minutes=1)


async def _schedule_samples(served: Served) -> dict[str, float]:
    text = (await served.http.get("/metrics", headers=served.bearer(OPERATOR))).text
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.labels.get("job") == "customers"
    }


async def test_missed_and_skipped_slots_are_counted_on_metrics(emulator_server, tmp_path):
    """every 15m: the clock jumps 2 h on (8 slots collapse into one run), then a slot comes
    while that run is held mid-way (skipped); once it ends the next slot runs."""
    config = project(
        emulator_server, tmp_path, accounts(tmp_path, 3), schedule={"every": "15m", "jitter": "0s"}
    )
    clock = ManualClock(START)
    gate = Gate()
    async with serving(config, clock=clock, engine=GatedEngine(config, gate)) as served:
        scheduler = served.app.state.scheduler
        assert scheduler is not None
        clock.advance(2 * dt.timedelta(hours=1) + 15 * MINUTE)
        assert await scheduler.tick() == ["customers"]
        await gate.reached.wait()  # the run is mid-way, its writes held
        clock.advance(15 * MINUTE)
        assert await scheduler.tick() == []  # still running: no second run
        samples = await _schedule_samples(served)
        assert samples["mogulsync_schedule_missed_total"] == 8
        assert samples["mogulsync_schedule_skipped_total"] == 1
        gate.release()
        run = served.app.state.manager.active["customers"]
        assert run.task is not None
        await asyncio.wait([run.task])
        clock.advance(15 * MINUTE)
        assert await scheduler.tick() == ["customers"]
        samples = await _schedule_samples(served)
        assert samples["mogulsync_schedule_missed_total"] == 8
        assert samples["mogulsync_schedule_skipped_total"] == 1
        await asyncio.gather(*(r.task for r in served.app.state.manager.active.values() if r.task))

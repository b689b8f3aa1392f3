"""A schedule over a long life: daylight-saving changes, the wall clock stepping back or
forward (NTP, a resumed VM), and runs that outlive their interval.

Driven by a manual clock and explicit ticks (the launcher only records what would start).
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging

import pytest
from tests.unit.serve.test_schedule import Launcher, job, scheduler

from mogulsync.serve.clock import ManualClock

pytestmark = pytest.mark.anyio

MINUTE = dt.timedelta(minutes=1)
HOUR = dt.timedelta(hours=1)
UTC = dt.UTC


async def _walk(sched, clock: ManualClock, span: dt.timedelta, step: dt.timedelta) -> None:
    """Tick every ``step`` for ``span`` (the real-time loop ticks every second)."""
    end = clock.now() + span
    while clock.now() < end:
        clock.advance(step)
        await sched.tick()


async def test_a_daily_cron_runs_once_on_the_night_the_clocks_go_back(tmp_path):
    """`30 2 * * *` in Berlin: 02:30 happens twice on 25 Oct 2026; the sync runs once."""
    clock = ManualClock(dt.datetime(2026, 10, 24, 12, 0, tzinfo=UTC))
    launcher = Launcher()
    sched = scheduler(
        tmp_path, [job("daily", cron="30 2 * * *", timezone="Europe/Berlin")], clock, launcher
    )
    await _walk(sched, clock, dt.timedelta(hours=48), 5 * MINUTE)
    assert [when for _, when in launcher.started] == [
        dt.datetime(2026, 10, 25, 0, 30, tzinfo=UTC),  # 02:30 summer time
        dt.datetime(2026, 10, 26, 1, 30, tzinfo=UTC),  # 02:30 winter time, the next day
    ]


async def test_an_hourly_cron_runs_every_real_hour_across_both_changes(tmp_path):
    """`0 * * * *` in Berlin: 24 runs on the 23-hour day… and 25 on the 25-hour day."""
    for start, runs in (
        (dt.datetime(2026, 3, 28, 23, 0, tzinfo=UTC), 23),  # 29 March, local midnight
        (dt.datetime(2026, 10, 24, 22, 0, tzinfo=UTC), 25),  # 25 October, local midnight
    ):
        clock = ManualClock(start - MINUTE)
        launcher = Launcher()
        hourly = job("hourly", cron="0 * * * *", timezone="Europe/Berlin")
        sched = scheduler(tmp_path / start.strftime("%m"), [hourly], clock, launcher)
        await _walk(sched, clock, dt.timedelta(hours=runs), MINUTE)
        times = [when for _, when in launcher.started]
        assert len(times) == runs
        assert all(b - a == HOUR for a, b in itertools.pairwise(times))


async def test_a_slot_in_the_skipped_spring_hour_runs_once_after_the_jump(tmp_path):
    """`30 2 * * *` in Berlin on 29 March 2026 (02:00 → 03:00): runs at 03:00, once."""
    clock = ManualClock(dt.datetime(2026, 3, 28, 12, 0, tzinfo=UTC))
    launcher = Launcher()
    sched = scheduler(
        tmp_path, [job("daily", cron="30 2 * * *", timezone="Europe/Berlin")], clock, launcher
    )
    await _walk(sched, clock, dt.timedelta(hours=37), 5 * MINUTE)
    assert [when for _, when in launcher.started] == [
        dt.datetime(2026, 3, 29, 1, 0, tzinfo=UTC),  # 03:00 summer time
        dt.datetime(2026, 3, 30, 0, 30, tzinfo=UTC),  # 02:30 summer time
    ]


async def test_an_interval_job_keeps_its_wait_when_the_clock_steps_back(tmp_path, caplog):
    """every 15m, then the clock steps back 3 hours: the next run is 15 minutes later in
    real time, not 3 h 15 min (the due time planned by the earlier clock)."""
    t0 = dt.datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
    clock = ManualClock(t0)
    launcher = Launcher()
    sched = scheduler(tmp_path, [job("customers", every="15m")], clock, launcher)
    clock.advance(15 * MINUTE)
    assert await sched.tick() == ["customers"]
    clock.advance(5 * MINUTE)
    assert await sched.tick() == []
    caplog.set_level(logging.WARNING, "mogulsync.serve.scheduler")
    clock.advance(-3 * HOUR)  # NTP steps the clock back
    assert await sched.tick() == []
    assert "the clock went back by 3:00:00" in caplog.text
    clock.advance(9 * MINUTE)
    assert await sched.tick() == []
    clock.advance(MINUTE)  # 15 minutes of real time since the run
    assert await sched.tick() == ["customers"]
    assert sched.states["customers"].missed == 0


async def test_a_cron_job_never_runs_a_slot_twice_after_a_small_step_back(tmp_path):
    """Hourly cron ran at 10:00; the clock steps back 30 min: 10:00 is not run again."""
    clock = ManualClock(dt.datetime(2026, 3, 2, 9, 59, tzinfo=UTC))
    launcher = Launcher()
    sched = scheduler(tmp_path, [job("plans", cron="0 * * * *")], clock, launcher)
    await _walk(sched, clock, 2 * MINUTE, MINUTE)
    assert launcher.names() == ["plans"]
    clock.advance(-30 * MINUTE)  # 09:31 again
    await _walk(sched, clock, 88 * MINUTE, MINUTE)  # up to 10:59
    assert launcher.names() == ["plans"]
    await _walk(sched, clock, MINUTE, MINUTE)  # 11:00
    assert launcher.names() == ["plans", "plans"]


async def test_a_cron_job_is_replanned_when_the_clock_steps_back_a_whole_period(tmp_path):
    """The clock ran 3 days ahead and is corrected: a daily job runs at its next slot from
    the corrected time, not 3 days later."""
    clock = ManualClock(dt.datetime(2026, 3, 5, 5, 59, tzinfo=UTC))  # 3 days ahead
    launcher = Launcher()
    sched = scheduler(tmp_path, [job("daily", cron="0 6 * * *")], clock, launcher)
    await _walk(sched, clock, 2 * MINUTE, MINUTE)
    assert launcher.names() == ["daily"]
    clock.advance(-3 * dt.timedelta(days=1))  # 2 March 06:01, the right time
    assert await sched.tick() == []
    assert sched.next_runs()["daily"] == dt.datetime(2026, 3, 3, 6, 0, tzinfo=UTC)


async def test_a_step_back_across_a_restart_is_noticed_too(tmp_path):
    """The last run started after the restarted server's "now": the schedule is re-planned."""
    clock = ManualClock(dt.datetime(2026, 3, 2, 9, 30, tzinfo=UTC))
    launcher = Launcher()
    first = scheduler(tmp_path, [job("customers", every="1h")], clock, launcher)
    clock.advance(HOUR)
    assert await first.tick() == ["customers"]  # started 10:30, next due 11:30
    first.store.close()
    clock.advance(-2 * HOUR)  # restarted with the clock 2 hours back: 08:30
    again = scheduler(tmp_path, [job("customers", every="1h")], clock, launcher)
    assert await again.tick() == []
    assert again.next_runs()["customers"] == dt.datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


async def test_slots_passed_unseen_are_counted_and_logged(tmp_path, caplog):
    """every 15m; the clock steps 2 hours forward: one run, 7 slots reported missed."""
    clock = ManualClock(dt.datetime(2026, 3, 2, 9, 30, tzinfo=UTC))
    launcher = Launcher()
    sched = scheduler(tmp_path, [job("customers", every="15m")], clock, launcher)
    caplog.set_level(logging.WARNING, "mogulsync.serve.scheduler")
    clock.advance(15 * MINUTE + 2 * HOUR)
    assert await sched.tick() == ["customers"]
    assert await sched.tick() == []
    state = sched.states["customers"]
    assert (state.missed, state.skipped) == (8, 0)
    assert "customers missed 8 scheduled slot(s)" in caplog.text
    # and an hourly cron down over 5 slots
    hourly = job("invoices", cron="0 * * * *")
    other = scheduler(tmp_path / "cron", [hourly], clock, launcher)
    clock.advance(5 * HOUR)
    assert await other.tick() == ["invoices"]
    assert other.states["invoices"].missed == 4


async def test_a_run_that_outlives_its_interval_skips_and_counts_each_slot(tmp_path):
    """every 5m, a run lasting 17 min: no second start while it runs, 3 slots skipped
    (counted, none missed), then back on its phase."""
    clock = ManualClock(dt.datetime(2026, 3, 2, 9, 30, tzinfo=UTC))
    launcher = Launcher()
    sched = scheduler(tmp_path, [job("customers", every="5m")], clock, launcher)
    await _walk(sched, clock, 5 * MINUTE, dt.timedelta(seconds=30))
    assert launcher.names() == ["customers"]
    launcher.busy.add("customers")
    await _walk(sched, clock, 17 * MINUTE, dt.timedelta(seconds=30))
    launcher.busy.clear()
    assert launcher.names() == ["customers"]
    state = sched.states["customers"]
    assert (state.skipped, state.missed) == (3, 0)
    await _walk(sched, clock, 3 * MINUTE, dt.timedelta(seconds=30))
    assert [when.minute for _, when in launcher.started] == [35, 55]


async def test_lord_howe_half_hour_shifts_run_each_set_time_once(tmp_path):
    """Australia/Lord_Howe moves its clocks by 30 minutes: back 02:00 → 01:30 on 5 April
    2026, forward 02:00 → 02:30 on 4 October 2026. A set time in the repeated half hour
    runs once; one in the skipped half hour runs once, when the clocks have jumped."""
    zone = "Australia/Lord_Howe"
    for name, cron, start, expected in (
        (
            "back",
            "45 1 * * *",
            dt.datetime(2026, 4, 4, 12, 0, tzinfo=UTC),
            [
                dt.datetime(2026, 4, 4, 14, 45, tzinfo=UTC),  # 01:45 +11, first pass
                dt.datetime(2026, 4, 5, 15, 15, tzinfo=UTC),  # 01:45 +10:30, the next day
            ],
        ),
        (
            "forward",
            "15 2 * * *",
            dt.datetime(2026, 10, 3, 12, 0, tzinfo=UTC),
            [
                dt.datetime(2026, 10, 3, 15, 30, tzinfo=UTC),  # 02:30 +11, after the jump
                dt.datetime(2026, 10, 4, 15, 15, tzinfo=UTC),  # 02:15 +11, the next day
            ],
        ),
    ):
        clock = ManualClock(start)
        launcher = Launcher()
        daily = job("daily", cron=cron, timezone=zone)
        sched = scheduler(tmp_path / name, [daily], clock, launcher)
        await _walk(sched, clock, dt.timedelta(hours=36), 5 * MINUTE)
        assert [when for _, when in launcher.started] == expected, name


async def test_lord_howe_every_half_hour_runs_once_per_real_half_hour(tmp_path):
    """`*/30 * * * *` in Australia/Lord_Howe across both 30-minute shifts: one run every
    real 30 minutes (the repeated half hour runs again, the skipped one has no slot)."""
    for start in (
        dt.datetime(2026, 4, 4, 12, 0, tzinfo=UTC),
        dt.datetime(2026, 10, 3, 12, 0, tzinfo=UTC),
    ):
        clock = ManualClock(start - MINUTE)
        launcher = Launcher()
        halves = job("halves", cron="*/30 * * * *", timezone="Australia/Lord_Howe")
        sched = scheduler(tmp_path / start.strftime("%m"), [halves], clock, launcher)
        await _walk(sched, clock, dt.timedelta(hours=6), MINUTE)
        times = [when for _, when in launcher.started]
        assert len(times) == 12
        assert all(b - a == dt.timedelta(minutes=30) for a, b in itertools.pairwise(times))

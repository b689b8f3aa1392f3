"""Pausing and resuming a job's schedule: a paused job starts nothing and counts no slot
missed; resuming catches nothing up; the pause outlives a restart and a schedule change,
not the job's removal. A manual clock and a recording launcher; no sleeping."""

from __future__ import annotations

import datetime as dt

import pytest
from tests.unit.serve.test_schedule import DAY, MINUTE, T0, Launcher, job, scheduler

from mogulsync.runs import RunStatus
from mogulsync.serve.clock import ManualClock

pytestmark = pytest.mark.anyio


async def test_a_paused_job_starts_nothing_and_resumes_at_its_next_slot(tmp_path):
    clock = ManualClock(T0)
    launcher = Launcher()
    sched = scheduler(tmp_path, [job("customers", every="15m"), job("plans", every="15m")],
                      clock, launcher)  # fmt: skip
    clock.advance(5 * MINUTE)
    paused = sched.pause("customers")
    assert paused.paused_since == T0 + 5 * MINUTE
    assert sched.next_runs()["customers"] is None  # paused: no next run to show
    assert sched.paused() == {"customers": T0 + 5 * MINUTE}
    for _ in range(8):  # two hours of slots
        clock.advance(15 * MINUTE)
        await sched.tick()
    assert launcher.names() == ["plans"] * 8
    state = sched.states["customers"]
    assert (state.missed, state.skipped, state.last_started) == (0, 0, None)
    clock.advance(10 * MINUTE)  # 02:15 after T0
    sched.resume("customers")
    assert sched.next_runs()["customers"] == clock.now() + 15 * MINUTE  # nothing caught up
    assert await sched.tick() == ["plans"]  # its own slot: customers waits for its next
    clock.advance(15 * MINUTE)
    assert await sched.tick() == ["customers", "plans"]
    assert sched.states["customers"].missed == 0


async def test_a_pause_outlives_a_restart_and_a_schedule_change_not_a_removal(tmp_path):
    clock = ManualClock(T0)
    first = scheduler(tmp_path, [job("c", every="1h")], clock, Launcher())
    first.pause("c")
    first.store.close()
    clock.advance(DAY)
    again = scheduler(tmp_path, [job("c", every="1h")], clock, Launcher())
    assert again.paused() == {"c": T0}
    assert await again.tick() == []
    again.store.close()
    changed = scheduler(tmp_path, [job("c", cron="0 * * * *")], clock, Launcher())
    assert changed.paused() == {"c": T0}  # the operator's pause, not the spec's
    changed.store.close()
    scheduler(tmp_path, [job("other", every="1h")], clock, Launcher()).store.close()
    back = scheduler(tmp_path, [job("c", every="1h")], clock, Launcher())
    assert back.paused() == {}  # removed, then added back: it starts afresh


async def test_a_resumed_after_job_waits_for_its_parents_next_success(tmp_path):
    clock = ManualClock(T0)
    launcher = Launcher()
    sched = scheduler(tmp_path, [job("child", after=["parent"])], clock, launcher)
    sched.pause("child")
    sched.run_finished("parent", RunStatus.SUCCESS)
    assert await sched.tick() == []
    sched.resume("child")
    assert await sched.tick() == []  # the success while paused is not caught up
    sched.run_finished("parent", RunStatus.SUCCESS)
    assert await sched.tick() == ["child"]


async def test_pausing_twice_keeps_the_first_time_and_unknown_jobs_raise(tmp_path):
    clock = ManualClock(T0)
    sched = scheduler(tmp_path, [job("c", every="1h")], clock, Launcher())
    sched.pause("c")
    clock.advance(MINUTE)
    assert sched.pause("c").paused_since == T0
    assert sched.resume("c").paused_since is None
    assert sched.resume("c").next_due == T0 + dt.timedelta(hours=1)  # resuming twice: no-op
    with pytest.raises(KeyError):
        sched.pause("nosuch")

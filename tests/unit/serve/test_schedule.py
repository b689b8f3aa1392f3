"""Schedules: cron in a time zone, intervals, jitter, missed runs collapsing, restart, after:.

The scheduler is driven by a manual clock and explicit ticks; the launcher is a stand-in
that records what would start (the server's real launcher is tested over HTTP).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import sqlite3
import zlib

import pytest

from mogulsync.config import ConfigValidationError, parse_config
from mogulsync.config.serve import ScheduleConfig
from mogulsync.runs import RunStatus
from mogulsync.serve.clock import ManualClock
from mogulsync.serve.schedule import Job, first_run, jitter, jobs_of
from mogulsync.serve.scheduler import SCHEDULE_FILE, Scheduler, ScheduleStore

pytestmark = pytest.mark.anyio

T0 = dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.UTC)  # a Monday, 09:30 UTC
MINUTE = dt.timedelta(minutes=1)
HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)


def job(name: str, **schedule: object) -> Job:
    return Job(name, "sync", ScheduleConfig.model_validate({"jitter": "0s", **schedule}))


class Launcher:
    """Records starts; jobs listed in ``busy`` are still running (refused)."""

    def __init__(self) -> None:
        self.started: list[tuple[str, dt.datetime]] = []
        self.busy: set[str] = set()
        self.clock: ManualClock | None = None
        self.launched = asyncio.Event()

    async def __call__(self, job: Job, _reason: str) -> bool:
        if job.name in self.busy:
            return False
        assert self.clock is not None
        self.started.append((job.name, self.clock.now()))
        self.launched.set()
        return True

    def names(self) -> list[str]:
        return [name for name, _ in self.started]


def scheduler(tmp_path, jobs, clock, launcher) -> Scheduler:
    launcher.clock = clock
    return Scheduler(jobs, clock, ScheduleStore(tmp_path), launcher)


async def test_cron_runs_at_each_slot_in_its_time_zone(tmp_path):
    """`0 9 * * *` in Europe/Berlin runs at 08:00 UTC in winter, 07:00 UTC in summer."""
    clock = ManualClock(dt.datetime(2026, 3, 27, 12, 0, tzinfo=dt.UTC))
    launcher = Launcher()
    plans = job("plans", cron="0 9 * * *", timezone="Europe/Berlin")
    sched = scheduler(tmp_path, [plans], clock, launcher)
    assert sched.next_runs()["plans"] == dt.datetime(2026, 3, 28, 8, 0, tzinfo=dt.UTC)
    clock.advance(dt.timedelta(hours=19, minutes=59))
    assert await sched.tick() == []
    clock.advance(MINUTE)
    assert await sched.tick() == ["plans"]
    # the clocks change on 29 March: 09:00 in Berlin is 07:00 UTC from then on
    assert sched.next_runs()["plans"] == dt.datetime(2026, 3, 29, 7, 0, tzinfo=dt.UTC)


async def test_every_runs_once_per_interval_and_never_overlaps(tmp_path):
    """`every: 15m` starts each 15 minutes; a slot while it still runs is skipped, not queued."""
    clock = ManualClock(T0)
    launcher = Launcher()
    sched = scheduler(tmp_path, [job("customers", every="15m")], clock, launcher)
    for _ in range(3):
        clock.advance(dt.timedelta(minutes=15))
        await sched.tick()
        await sched.tick()  # a second tick at the same instant starts nothing
    assert launcher.names() == ["customers"] * 3
    launcher.busy.add("customers")
    clock.advance(dt.timedelta(minutes=15))
    assert await sched.tick() == []
    assert sched.states["customers"].skipped == 1
    launcher.busy.clear()
    assert await sched.tick() == []  # the dropped slot does not come back
    clock.advance(dt.timedelta(minutes=15))
    assert await sched.tick() == ["customers"]


async def test_missed_runs_collapse_into_one_and_restart_resumes(tmp_path):
    """Down for 5 hours with an hourly job: one run at restart, then hourly again."""
    clock = ManualClock(T0)
    launcher = Launcher()
    hourly = job("invoices", cron="0 * * * *")
    first = scheduler(tmp_path, [hourly], clock, launcher)
    assert first.next_runs()["invoices"] == T0.replace(minute=0) + HOUR
    first.store.close()
    clock.advance(dt.timedelta(hours=5))  # the server was down
    again = scheduler(tmp_path, [hourly], clock, launcher)
    assert again.next_runs()["invoices"] == T0.replace(minute=0) + HOUR  # picked up
    assert await again.tick() == ["invoices"]
    assert await again.tick() == []
    assert again.next_runs()["invoices"] == T0.replace(minute=0) + 6 * HOUR
    assert again.states["invoices"].lag_s == pytest.approx(4.5 * 3600)


async def test_a_changed_schedule_starts_afresh(tmp_path):
    """Editing a job's schedule discards its saved next run."""
    clock = ManualClock(T0)
    scheduler(tmp_path, [job("c", every="1d")], clock, Launcher()).store.close()
    changed = scheduler(tmp_path, [job("c", every="1h")], clock, Launcher())
    assert changed.next_runs()["c"] == T0 + HOUR


async def test_a_job_removed_from_the_project_is_forgotten(tmp_path):
    """`schedule.sqlite` keeps only the jobs scheduled now; a job added back starts afresh
    (its old due time does not come back as missed slots)."""
    clock = ManualClock(T0)
    first = scheduler(tmp_path, [job("c", every="1d"), job("p", every="1d")], clock, Launcher())
    first.store.close()
    clock.advance(30 * DAY)
    only_c = scheduler(tmp_path, [job("c", every="1d")], clock, Launcher())
    with sqlite3.connect(tmp_path / SCHEDULE_FILE) as db:
        assert [row[0] for row in db.execute("SELECT name FROM jobs")] == ["c"]
    only_c.store.close()
    again = scheduler(tmp_path, [job("c", every="1d"), job("p", every="1d")], clock, Launcher())
    assert again.next_runs()["p"] == clock.now() + DAY
    assert again.states["p"].missed == 0


async def test_after_runs_when_every_parent_succeeded(tmp_path):
    """`after: [customers, plans]` starts once both succeeded; a failure holds it back."""
    clock = ManualClock(T0)
    launcher = Launcher()
    invoices = job("invoices", after=["customers", "plans"])
    sched = scheduler(tmp_path, [invoices], clock, launcher)
    assert sched.next_runs()["invoices"] is None
    sched.run_finished("customers", RunStatus.SUCCESS)
    assert await sched.tick() == []
    sched.run_finished("plans", RunStatus.FAILED)
    assert await sched.tick() == []
    sched.run_finished("plans", RunStatus.SUCCESS)
    launcher.busy.add("invoices")
    assert await sched.tick() == []  # still running from before: stays pending
    launcher.busy.clear()
    assert await sched.tick() == ["invoices"]
    assert await sched.tick() == []  # parents must succeed again for the next one
    sched.run_finished("customers", RunStatus.PARTIAL)
    sched.run_finished("plans", RunStatus.SUCCESS)
    assert await sched.tick() == []


async def test_the_loop_ticks_wakes_on_a_finished_parent_and_stops(tmp_path):
    """run_forever starts what is due, wakes when a parent finishes, ends when told."""
    clock = ManualClock(T0)
    launcher = Launcher()
    jobs = [job("customers", every="1m"), job("invoices", after=["customers"])]
    sched = scheduler(tmp_path, jobs, clock, launcher)
    clock.advance(2 * MINUTE)
    stop = asyncio.Event()
    loop = asyncio.create_task(sched.run_forever(stop, poll_s=3600))  # only events wake it
    await launcher.launched.wait()
    assert launcher.names() == ["customers"]
    launcher.launched.clear()
    sched.run_finished("customers", RunStatus.SUCCESS)
    await launcher.launched.wait()
    assert launcher.names() == ["customers", "invoices"]
    stop.set()
    await loop


def test_jitter_spreads_jobs_sharing_a_schedule_and_is_stable():
    """Auto jitter is within a tenth of the interval (at most 60 s), fixed per name."""
    offsets = {
        jitter(Job(name, "sync", ScheduleConfig(every="5m")), T0)
        for name in ("customers", "plans", "invoices", "contacts", "transactions")
    }
    assert len(offsets) > 1
    assert all(dt.timedelta(0) <= o <= dt.timedelta(seconds=30) for o in offsets)
    hourly = Job("customers", "sync", ScheduleConfig(cron="0 * * * *"))
    assert jitter(hourly, T0) == jitter(hourly, T0 + HOUR) <= dt.timedelta(seconds=60)
    assert first_run(hourly, T0) == T0.replace(minute=0) + HOUR + jitter(hourly, T0)


async def test_a_five_minute_cron_runs_once_a_slot_while_the_clocks_change(tmp_path):
    """Auto jitter comes from the real time between slots, also where the clocks change.

    Taken from the wall clock, the period was 65 minutes at 02:00 on 28 March and -55 minutes
    at 03:00 on 31 October in Berlin: the jitter changed for one slot and the job ran twice.
    """
    five = Job(
        "customers",
        "sync",
        ScheduleConfig(cron="*/5 * * * *", timezone="Europe/Berlin", jitter="auto"),
    )
    usual = jitter(five, dt.datetime(2027, 7, 1, tzinfo=dt.UTC))
    assert usual == dt.timedelta(seconds=zlib.crc32(b"customers") % 31)
    # 01:52 CET just before the spring change, 02:52 CEST just before the autumn one
    for change in (
        dt.datetime(2027, 3, 28, 0, 52, tzinfo=dt.UTC),
        dt.datetime(2027, 10, 31, 0, 52, tzinfo=dt.UTC),
    ):
        clock = ManualClock(change)
        launcher = Launcher()
        sched = scheduler(tmp_path / str(change.month), [five], clock, launcher)
        for _ in range(6):
            clock.advance(sched.next_runs()["customers"] - clock.now())
            await sched.tick()
        starts = [at for _, at in launcher.started]
        assert [b - a for a, b in itertools.pairwise(starts)] == [5 * MINUTE] * 5, change
        assert {at.minute % 5 for at in starts} == {0}
        assert {at.second for at in starts} == {usual.seconds}


async def test_a_set_time_runs_once_in_the_hour_the_clocks_repeat(tmp_path):
    """`30 2 * * *` runs once on 31 October (02:30 comes twice in Berlin), `0 * * * *` hourly.

    A skipped 02:30 (28 March) runs at 03:00, as cron does.
    """
    daily = job("plans", cron="30 2 * * *", timezone="Europe/Berlin")
    hourly = job("invoices", cron="0 * * * *", timezone="Europe/Berlin")
    # `*/20` is a wildcard to cron: it runs in both passes of the repeated hour
    night = job("contacts", cron="*/20 2 * * *", timezone="Europe/Berlin")
    starts: dict[str, list[dt.datetime]] = {}
    for name, at in (
        ("autumn", dt.datetime(2027, 10, 30, 12, tzinfo=dt.UTC)),
        ("spring", dt.datetime(2027, 3, 27, 12, tzinfo=dt.UTC)),
    ):
        clock = ManualClock(at)
        launcher = Launcher()
        sched = scheduler(tmp_path / name, [daily, hourly, night], clock, launcher)
        while len(launcher.names()) < 20:
            clock.advance(min(sched.next_runs().values()) - clock.now())
            await sched.tick()
        starts[name] = [at for job_name, at in launcher.started if job_name == "plans"]
        starts[f"{name} night"] = [
            at for job_name, at in launcher.started if job_name == "contacts"
        ]
        hours = [at for job_name, at in launcher.started if job_name == "invoices"]
        assert [b - a for a, b in itertools.pairwise(hours)] == [HOUR] * (len(hours) - 1)
    utc = dt.UTC
    assert starts["autumn"] == [dt.datetime(2027, 10, 31, 0, 30, tzinfo=utc)]
    assert starts["spring"] == [dt.datetime(2027, 3, 28, 1, 0, tzinfo=utc)]
    # 02:00, 02:20, 02:40 summer time (00:xx UTC), then again in winter time (01:xx UTC)
    assert starts["autumn night"] == [
        dt.datetime(2027, 10, 31, hour, minute, tzinfo=utc)
        for hour in (0, 1)
        for minute in (0, 20, 40)
    ]


def _config(schedule: dict[str, object], extract: dict[str, object] | None = None):
    return parse_config(
        {
            "chartmogul": {"api_key": "${K}"},
            "warehouses": {"main": "duckdb:///w.duckdb"},
            "models": {"m": {"warehouse": "main", "table": "t", "primary_key": "id"}},
            "syncs": {"customers": {"model": "m", "object": "customer", "schedule": schedule}},
            "extract": extract or {},
        },
        env={"K": "k" * 20},
    )


@pytest.mark.parametrize(
    ("schedule", "problem"),
    [
        ({"cron": "0 * * *"}, "not a 5-field cron expression"),
        ({"cron": "61 * * * *"}, "not a 5-field cron expression"),
        ({"cron": "0 * * * *", "timezone": "Mars/Olympus"}, "unknown time zone"),
        ({"every": "15 minutes"}, "write e.g. 30s, 15m, 1h or 1d"),
        ({"every": "15m", "cron": "0 * * * *"}, "exactly one of"),
        ({}, "exactly one of"),
        ({"after": ["nope"]}, "syncs.customers.schedule.after: no sync named `nope`"),
        ({"after": ["customers"]}, "syncs.customers.schedule.after: a sync cannot run after"),
        ({"every": "1h", "timezone": "Europe/Paris"}, "`timezone` only applies to `cron`"),
    ],
)
def test_bad_schedules_fail_at_load_with_their_path(schedule, problem):
    """Each mistake is named with its YAML path and how to write it."""
    with pytest.raises(ConfigValidationError) as caught:
        _config(schedule)
    assert problem in str(caught.value)
    assert "syncs.customers.schedule" in str(caught.value)


def test_jobs_of_lists_scheduled_syncs_and_the_extract():
    """Syncs with a schedule and the extract's schedule become jobs."""
    config = _config({"every": "15m"}, {"schedule": {"cron": "30 2 * * *"}})
    assert [(j.name, j.kind, j.schedule.describe()) for j in jobs_of(config)] == [
        ("customers", "sync", "every 15m"),
        ("extract", "extract", "cron 30 2 * * * (UTC)"),
    ]

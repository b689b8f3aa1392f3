"""When a scheduled job runs next: cron slots in a time zone, intervals, jitter.

Pure functions over :class:`~mogulsync.config.serve.ScheduleConfig`; the scheduler keeps
the state. Jitter is a fixed offset per job name (a CRC of the name), so syncs that share
a schedule are spread apart while each one keeps a predictable time.

Daylight saving follows cron's rules: a slot in the hour skipped in spring runs when the
clocks have jumped (once); in the hour repeated in autumn a job at a set time runs once,
and one whose minute or hour field starts with ``*`` runs in both passes.
"""

from __future__ import annotations

import datetime as dt
import zlib
import zoneinfo
from collections.abc import Iterator
from dataclasses import dataclass

from croniter import croniter

from mogulsync.config import AppConfig
from mogulsync.config.alerts import RECONCILE_PREFIX
from mogulsync.config.serve import AUTO_JITTER_CAP_S, ScheduleConfig, parse_duration

#: name of the extract's job (syncs use their own names)
EXTRACT_JOB = "extract"
_AUTO_JITTER_FRACTION = 10
#: most slots counted as missed by one collapse (an every-minute cron down for a year)
MISSED_COUNT_CAP = 10_000


@dataclass(frozen=True, slots=True)
class Job:
    """A scheduled thing: a sync by name, or the extract."""

    name: str
    kind: str  # "sync", "extract" or "reconcile" (a sync's drift watch)
    schedule: ScheduleConfig

    @property
    def timed(self) -> bool:
        """Whether the clock starts it (cron or every), rather than its parents."""
        return not self.schedule.after


def jobs_of(config: AppConfig) -> list[Job]:
    """Every scheduled sync, then the syncs' drift watches, then the extract if scheduled."""
    found = [
        Job(name, "sync", sync.schedule)
        for name, sync in config.syncs.items()
        if sync.schedule is not None
    ]
    found += [
        Job(f"{RECONCILE_PREFIX}{name}", "reconcile", sync.reconcile.schedule)
        for name, sync in config.syncs.items()
        if sync.reconcile is not None
    ]
    if config.extract.schedule is not None:
        found.append(Job(EXTRACT_JOB, "extract", config.extract.schedule))
    return found


def period(schedule: ScheduleConfig, around: dt.datetime) -> dt.timedelta | None:
    """The time between two runs (for cron: the two slots after ``around``)."""
    if schedule.every:
        return parse_duration(schedule.every)
    if schedule.cron:
        # the slots in UTC: two times in one zone subtract by the wall clock, so where the
        # clocks change a 5-minute cron's period came out as 65 or -55 minutes
        slots = _slots(schedule.cron, schedule.timezone, around)
        first = next(slots)
        return next(slots) - first
    return None


def jitter(job: Job, around: dt.datetime) -> dt.timedelta:
    """This job's fixed offset from its slots."""
    setting = job.schedule.jitter
    if setting == "0s" or not job.timed:
        return dt.timedelta(0)
    if setting == "auto":
        span = period(job.schedule, around) or dt.timedelta(0)
        cap_s = min(span.total_seconds() / _AUTO_JITTER_FRACTION, AUTO_JITTER_CAP_S)
    else:
        cap_s = parse_duration(setting).total_seconds()
    whole = int(cap_s)
    if whole <= 0:
        return dt.timedelta(0)
    return dt.timedelta(seconds=zlib.crc32(job.name.encode()) % (whole + 1))


def first_run(job: Job, now: dt.datetime) -> dt.datetime | None:
    """When a job with no saved schedule state runs first (None: its parents start it).

    ``every``: one interval (plus jitter) after ``now``. ``cron``: the next slot, in the
    schedule's time zone, whose jittered time is after ``now``.
    """
    schedule = job.schedule
    if schedule.every:
        return now + parse_duration(schedule.every) + jitter(job, now)
    return _next_slot(job, now)


def following_run(job: Job, due: dt.datetime, now: dt.datetime) -> dt.datetime | None:
    """The run after the one that was due at ``due``, handled at ``now``.

    Runs missed while the server was down (or while the job was still running) collapse:
    the next run is always after ``now``. ``every`` keeps its phase (and so its jitter)
    while it can.
    """
    schedule = job.schedule
    if schedule.every:
        interval = parse_duration(schedule.every)
        following = due + interval
        return following if following > now else now + interval
    return _next_slot(job, now)


def missed_slots(job: Job, due: dt.datetime, now: dt.datetime) -> int:
    """Slots after ``due`` that had passed by ``now``: collapsed into the run due at ``due``.

    None are missed while ticks come on time; they are when the server was down or
    asleep, the event loop was blocked, or the clock stepped forward. Counted up to
    :data:`MISSED_COUNT_CAP`.
    """
    schedule = job.schedule
    if schedule.every:
        return min(int((now - due) / parse_duration(schedule.every)), MISSED_COUNT_CAP)
    if not schedule.cron:
        return 0
    offset = jitter(job, due)
    slots = _slots(schedule.cron, schedule.timezone, due - offset)
    count = 0
    while count < MISSED_COUNT_CAP and next(slots) + offset <= now:
        count += 1
    return count


def _next_slot(job: Job, now: dt.datetime) -> dt.datetime | None:
    schedule = job.schedule
    if not schedule.cron:
        return None
    offset = jitter(job, now)
    return next(_slots(schedule.cron, schedule.timezone, now - offset)) + offset


def _slots(cron: str, timezone: str, after: dt.datetime) -> Iterator[dt.datetime]:
    """The cron's slots after ``after``, in UTC. Where the clocks go back an hour repeats:
    a job at a set time runs in its first pass only, as cron does (croniter gives 02:30
    twice); a job with ``*`` in its minute or hour runs in both."""
    zone = zoneinfo.ZoneInfo(timezone)
    slots = croniter(cron, after.astimezone(zone))
    set_times = _at_set_times(cron, slots)
    while True:
        slot = slots.get_next(dt.datetime).astimezone(zone)
        # croniter walks wall time: around a fold it can step back in real time
        if slot > after and not (set_times and _repeated(slot)):
            yield slot.astimezone(dt.UTC)


def _at_set_times(cron: str, slots: croniter) -> bool:
    """Whether neither the minute nor the hour field is a wildcard: as cron reads them,
    one that starts with ``*`` (``*``, ``*/5``); an alias (``@daily``) by its expansion."""
    fields = cron.split()
    if len(fields) >= 2:  # minute and hour are the first two fields
        return not fields[0].startswith("*") and not fields[1].startswith("*")
    minutes, hours = slots.expanded[0], slots.expanded[1]
    return "*" not in minutes and "*" not in hours


def _repeated(local: dt.datetime) -> bool:
    """Whether a local time is the second time the clocks showed it (autumn's fold)."""
    return local.fold == 1 and local.replace(fold=0).utcoffset() != local.utcoffset()

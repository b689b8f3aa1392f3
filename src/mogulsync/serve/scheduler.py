"""The scheduler: starts jobs when their time comes or when their parents succeed.

Time comes from an injectable :class:`~mogulsync.serve.clock.Clock`; :meth:`Scheduler.tick`
does all the work for one instant, so tests drive schedules by moving a manual clock and
ticking, never by sleeping. When each job is next due is saved in ``schedule.sqlite``
under the state directory, so a restart picks the schedule up where it was: a run missed
while the server was down happens once at start (missed runs collapse into one, and are
counted and logged).

The wall clock can step (NTP, a VM resumed, a clock set by hand). Forward, it is a gap like
any other: missed slots collapse. Backward, a due time planned by the earlier clock would
hold a job back by the size of the step; so an interval job keeps the wait it had left, and
a cron job whose next slot lies a whole period or more beyond the step is planned afresh
(a smaller step is waited out, as cron does, so no slot runs twice).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mogulsync._sqlite_file import connect_shared
from mogulsync.runs import RunStatus
from mogulsync.serve.clock import Clock
from mogulsync.serve.schedule import Job, first_run, following_run, missed_slots, period

logger = logging.getLogger(__name__)
SCHEDULE_FILE = "schedule.sqlite"
#: how often the real-time loop looks at the clock
POLL_S = 1.0

#: starts a job; False when it is already running (it never overlaps itself), None when
#: the server is stopping (the job stays due: a restart runs it, as after any downtime)
Launcher = Callable[[Job, str], Awaitable[bool | None]]


@dataclass(slots=True)
class JobState:
    """Where one job's schedule stands."""

    job: Job
    next_due: dt.datetime | None
    #: parents (``after:``) that succeeded since this job last started
    parents_done: set[str] = field(default_factory=set)
    last_started: dt.datetime | None = None
    #: seconds between when the last run was due and when it started
    lag_s: float = 0.0
    #: slots that passed while the job was still running
    skipped: int = 0
    #: slots that passed with no tick at all (server down or asleep, clock stepped forward)
    missed: int = 0
    #: paused by an operator since then (None: running on its schedule)
    paused_since: dt.datetime | None = None

    @property
    def next_run(self) -> dt.datetime | None:
        """When it runs next on its schedule: None while paused or started by parents."""
        return None if self.paused_since is not None else self.next_due


@dataclass(slots=True)
class JobsPlan:
    """A schedule prepared by :meth:`Scheduler.prepare_jobs`, saved, not yet in force."""

    states: dict[str, JobState] = field(default_factory=dict)
    #: states that go on, with the (equal-spec) job each takes when put in force
    kept: list[tuple[JobState, Job]] = field(default_factory=list)
    changes: dict[str, list[str]] = field(
        default_factory=lambda: {"added": [], "changed": [], "removed": []}
    )


class ScheduleStore:
    """``schedule.sqlite``: each job's spec and when it is next due."""

    def __init__(self, state_dir: Path | str) -> None:
        self.state_dir = Path(state_dir)
        # WAL: `extract run` (cron) writes its runs here while serve reads and writes
        self._db = connect_shared(self.state_dir / SCHEDULE_FILE, "schedule")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS jobs (name TEXT PRIMARY KEY, spec TEXT NOT NULL,"
            " next_due TEXT, last_started TEXT)"
        )
        # an ``after:`` job's parents that succeeded since it last started: a restart
        # between a parent's success and the child's start must not forget them
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS parents_done (job TEXT NOT NULL, parent TEXT NOT NULL,"
            " PRIMARY KEY (job, parent))"
        )
        # jobs an operator paused: kept apart from the spec, so a pause outlives a restart
        # and a change of the job's schedule alike (only resuming ends it)
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS paused (job TEXT PRIMARY KEY, since TEXT NOT NULL)"
        )

    def load(self, name: str, spec: str) -> tuple[dt.datetime | None, dt.datetime | None] | None:
        """(next_due, last_started) saved for this job and spec; None when new or changed."""
        row = self._db.execute(
            "SELECT spec, next_due, last_started FROM jobs WHERE name = ?", (name,)
        ).fetchone()
        if row is None or row[0] != spec:
            return None
        return _when(row[1]), _when(row[2])

    def parents_done(self, name: str) -> set[str]:
        """The parents of ``name`` whose success is still waiting for it."""
        rows = self._db.execute("SELECT parent FROM parents_done WHERE job = ?", (name,))
        return {row[0] for row in rows}

    def paused_since(self, name: str) -> dt.datetime | None:
        """When the job was paused; None when it runs on its schedule."""
        row = self._db.execute("SELECT since FROM paused WHERE job = ?", (name,)).fetchone()
        return _when(row[0]) if row else None

    def save(self, state: JobState) -> None:
        """Remember a job's next due time and its parents' successes, in one transaction."""
        with self._db:
            self._db.execute("BEGIN")
            self._write(state)

    def _write(self, state: JobState) -> None:
        """The rows of one job (inside a transaction)."""
        self._db.execute(
            "INSERT OR REPLACE INTO jobs VALUES (?, ?, ?, ?)",
            (
                state.job.name,
                _spec(state.job),
                state.next_due.isoformat() if state.next_due else None,
                state.last_started.isoformat() if state.last_started else None,
            ),
        )
        self._db.execute("DELETE FROM parents_done WHERE job = ?", (state.job.name,))
        self._db.executemany(
            "INSERT INTO parents_done VALUES (?, ?)",
            [(state.job.name, parent) for parent in sorted(state.parents_done)],
        )
        self._db.execute("DELETE FROM paused WHERE job = ?", (state.job.name,))
        if state.paused_since is not None:
            self._db.execute(
                "INSERT INTO paused VALUES (?, ?)",
                (state.job.name, state.paused_since.isoformat()),
            )

    def keep_only(self, names: Sequence[str]) -> None:
        """Forget jobs no longer scheduled (removed from the project file): their rows would
        stay for ever, and a job added back later starts afresh, as a new one does."""
        self.replace([], names)

    def replace(self, states: Sequence[JobState], names: Sequence[str]) -> None:
        """Save ``states`` and forget every job not in ``names``, in one transaction: a
        reload's schedules are written whole or not at all."""
        placeholders = ", ".join("?" * len(names))
        with self._db:
            # IMMEDIATE: the write lock is taken (or "database is locked") before any write
            self._db.execute("BEGIN IMMEDIATE")
            for state in states:
                self._write(state)
            for table, column in (("jobs", "name"), ("parents_done", "job"), ("paused", "job")):
                self._db.execute(
                    f"DELETE FROM {table} WHERE {column} NOT IN ({placeholders})",  # noqa: S608 - table and column names are constants
                    tuple(names),
                )

    def close(self) -> None:
        """Close the database."""
        self._db.close()


class Scheduler:
    """Decides, tick by tick, which jobs to start."""

    def __init__(
        self, jobs: Sequence[Job], clock: Clock, store: ScheduleStore, launch: Launcher
    ) -> None:
        self.clock = clock
        self.store = store
        self._launch = launch
        self._wake = asyncio.Event()
        #: held by each tick: a reload replaces the jobs (and what starts them) between ticks
        self.jobs_lock = asyncio.Lock()
        #: called with the tick's time after each tick's jobs are started (alert retries)
        self.after_tick: list[Callable[[dt.datetime], Awaitable[None]]] = []
        self.states: dict[str, JobState] = {}
        self.commit_jobs(self.prepare_jobs(jobs, store))
        # the latest time this schedule has seen: a clock found before it stepped back
        started = [s.last_started for s in self.states.values() if s.last_started is not None]
        self._seen = max([clock.now(), *started])

    def prepare_jobs(self, jobs: Sequence[Job], store: ScheduleStore | None = None) -> JobsPlan:
        """The schedule of ``jobs`` from now on, as a restart would plan it, saved in
        ``schedule.sqlite`` in one transaction but not yet in force (:meth:`commit_jobs`).

        An unchanged job keeps its state (next run, counters); a changed one starts
        afresh, a paused one stays paused; a removed one is forgotten. Blocking (it may
        wait the busy timeout for another writer): serve runs it in a thread, on a
        connection of its own (``store`` None), holding :attr:`jobs_lock`. Raises when the
        schedules cannot be saved: then nothing changed, in the file or here.
        """
        if store is not None:
            return self._plan(jobs, store)
        own = ScheduleStore(self.store.state_dir)
        try:
            return self._plan(jobs, own)
        finally:
            own.close()

    def _plan(self, jobs: Sequence[Job], store: ScheduleStore) -> JobsPlan:
        now = self.clock.now()
        wanted = {job.name: job for job in jobs}
        plan = JobsPlan()
        plan.changes["removed"] = [name for name in self.states if name not in wanted]
        to_save: list[JobState] = []
        for name, job in wanted.items():
            kept = self.states.get(name)
            if kept is not None and _spec(kept.job) == _spec(job):
                plan.states[name] = kept  # the same schedule: its state goes on
                plan.kept.append((kept, job))
                continue
            plan.changes["changed" if kept is not None else "added"].append(name)
            state, fresh = _loaded(store, job, now)
            # saved pause kept (an operator's pause outlives a change of schedule)
            if kept is not None and kept.paused_since is not None and state.paused_since is None:
                state.paused_since, fresh = kept.paused_since, True
            if fresh:
                to_save.append(state)
            plan.states[name] = state
        store.replace(to_save, list(wanted))
        return plan

    def commit_jobs(self, plan: JobsPlan) -> dict[str, list[str]]:
        """Put a prepared schedule in force (cannot fail). What changed, by job name:
        ``{"added": [...], "changed": [...], "removed": [...]}``."""
        for state, job in plan.kept:
            state.job = job
        self.states = plan.states
        self._wake.set()  # a job due now starts at once
        return plan.changes

    def replace_jobs(self, jobs: Sequence[Job]) -> dict[str, list[str]]:
        """:meth:`prepare_jobs` then :meth:`commit_jobs`, on the scheduler's own connection
        (called holding :attr:`jobs_lock`: no tick is going)."""
        return self.commit_jobs(self.prepare_jobs(jobs, self.store))

    def next_runs(self) -> dict[str, dt.datetime | None]:
        """Each job's next due time (None: started by its parents, or paused)."""
        return {name: state.next_run for name, state in self.states.items()}

    def paused(self) -> dict[str, dt.datetime]:
        """The paused jobs, and since when."""
        return {
            name: state.paused_since
            for name, state in self.states.items()
            if state.paused_since is not None
        }

    def pause(self, name: str) -> JobState:
        """Stop starting ``name`` on its schedule (KeyError: no such job). A run in
        progress goes on; *Run now* still works. Saved: a restart keeps it paused."""
        state = self.states[name]
        if state.paused_since is None:
            state.paused_since = self.clock.now()
            self.store.save(state)
            logger.info("schedule of %s paused", name)
        return state

    def resume(self, name: str) -> JobState:
        """Start ``name`` on its schedule again (KeyError: no such job).

        Nothing missed while paused is caught up: a timed job waits for its next slot
        after now, an ``after:`` job for its parents' next successes.
        """
        state = self.states[name]
        if state.paused_since is None:
            return state
        now = self.clock.now()
        state.paused_since = None
        if state.job.timed and state.next_due is not None and state.next_due <= now:
            state.next_due = following_run(state.job, state.next_due, now)
        state.parents_done.clear()
        self.store.save(state)
        self._wake.set()
        logger.info("schedule of %s resumed", name)
        return state

    def run_finished(self, name: str, status: RunStatus) -> None:
        """A run ended: its ``after:`` children may now be due."""
        for state in self.states.values():
            if name not in state.job.schedule.after:
                continue
            if status is RunStatus.SUCCESS:
                state.parents_done.add(name)
            else:
                state.parents_done.discard(name)
            self.store.save(state)
        self._wake.set()

    async def tick(self) -> list[str]:
        """Start every job due now; the names started."""
        # a reload replaces the jobs between ticks, never in the middle of one (a job
        # removed while its start was awaited would be saved back into schedule.sqlite)
        async with self.jobs_lock:
            return await self._tick()

    async def _tick(self) -> list[str]:
        now = self.clock.now()
        if now < self._seen:
            self._stepped_back(self._seen - now, now)
        self._seen = now
        started: list[str] = []
        for state in self.states.values():
            if state.paused_since is not None:
                continue  # an operator paused it: no slot runs, none is counted missed
            if state.job.timed:
                launched = await self._timed(state, now)
            else:
                launched = await self._after(state, now)
            if launched is None:
                break  # stopping: this job and the rest stay due, nothing is saved
            if launched:
                started.append(state.job.name)
        for hook in self.after_tick:
            await hook(now)
        return started

    async def _timed(self, state: JobState, now: dt.datetime) -> bool | None:
        """A cron or interval job: started if due (None: the server is stopping)."""
        job = state.job
        if state.next_due is None or state.next_due > now:
            return False
        due = state.next_due
        launched = await self._launch(job, "schedule")
        if launched is None:
            return None
        missed = missed_slots(job, due, now)
        if missed:
            state.missed += missed
            logger.warning(
                "%s missed %d scheduled slot(s) since %s (server down or clock"
                " stepped forward): they collapse into this one",
                job.name,
                missed,
                due.isoformat(),
            )
        if launched:
            state.last_started = now
            state.lag_s = (now - due).total_seconds()
        else:
            state.skipped += 1  # still running: this slot is dropped, never queued
            logger.info("%s still running at its scheduled time: skipped", job.name)
        state.next_due = following_run(job, due, now)
        self.store.save(state)
        return launched

    async def _after(self, state: JobState, now: dt.datetime) -> bool | None:
        """An ``after:`` job: started once every parent succeeded (None: stopping, its
        parents' successes stay saved for the restart)."""
        if not state.parents_done >= set(state.job.schedule.after):
            return False
        launched = await self._launch(state.job, "after")
        if launched:
            state.parents_done.clear()
            state.last_started = now
            self.store.save(state)
        # False: still running, stays pending until a later tick finds it free
        return launched

    def _stepped_back(self, step: dt.timedelta, now: dt.datetime) -> None:
        """The clock went back by ``step``: re-plan what the earlier clock would delay."""
        logger.warning("the clock went back by %s: re-planning the schedules", step)
        for state in self.states.values():
            job = state.job
            if state.next_due is None or not job.timed:
                continue
            if job.schedule.every:
                state.next_due -= step  # the same wait as before the step
            else:
                span = period(job.schedule, now)
                if span is None or step < span:
                    continue  # its slots up to the step's start ran: wait, never run one twice
                state.next_due = first_run(job, now)
            self.store.save(state)

    async def run_forever(self, stop: asyncio.Event, poll_s: float = POLL_S) -> None:
        """Tick until ``stop`` is set (the real-time driver of :meth:`tick`)."""
        while not stop.is_set():
            try:
                await self.tick()
            except Exception:  # a bad tick must not end scheduling for good
                logger.exception("scheduler tick failed")
            self._wake.clear()
            waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._wake.wait())]
            await asyncio.wait(waiters, timeout=poll_s, return_when=asyncio.FIRST_COMPLETED)
            for waiter in waiters:
                waiter.cancel()


def _loaded(store: ScheduleStore, job: Job, now: dt.datetime) -> tuple[JobState, bool]:
    """A job's state as saved, or planned afresh when new or changed (True: to be saved)."""
    saved = store.load(job.name, _spec(job))
    if saved is None:
        state = JobState(job, first_run(job, now))
        state.paused_since = store.paused_since(job.name)
        return state, True
    # parents no longer listed cannot be saved: the spec (with ``after``) matched
    parents = store.parents_done(job.name)
    state = JobState(job, saved[0], parents_done=parents, last_started=saved[1])
    state.paused_since = store.paused_since(job.name)
    return state, False


def _spec(job: Job) -> str:
    return job.schedule.model_dump_json()


def _when(text: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(text) if text else None

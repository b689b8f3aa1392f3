"""Runs started by the server: one asyncio task each, in this process.

Every sync run goes through :meth:`SyncEngine.run`, the very function ``mogulsync sync
run`` calls, so a run started here is recorded, locked and alerted on exactly as one
started from the command line. A sync never overlaps itself: a second start while one is
running (here or in another process, through the sync's lock) is refused.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mogulsync import logs
from mogulsync.chartmogul import RequestLogEntry
from mogulsync.config import AppConfig
from mogulsync.errors import ConfigError, MogulsyncError
from mogulsync.extract.history import ExtractHistory, ExtractRun
from mogulsync.extract.lock import ExtractLock, ExtractLockedError
from mogulsync.runs import RunRecord, RunStatus
from mogulsync.serve.feed import RequestFeed
from mogulsync.sync.engine import SyncEngine
from mogulsync.sync.state import SyncLockedError

logger = logging.getLogger(__name__)
EXTRACT_NAME = "extract"
HTTP_TOO_MANY_REQUESTS = 429


class AlreadyRunningError(MogulsyncError):
    """The sync (or the extract) is running already."""


class ShuttingDownError(AlreadyRunningError):
    """The server is stopping: no new run starts (the API answers 409 as for a busy sync)."""


class UnknownSyncError(ConfigError):
    """No sync with this name in the project file."""


@dataclass(slots=True)
class ActiveRun:
    """A run in progress."""

    name: str
    run_id: str
    stop: asyncio.Event
    feed: RequestFeed
    record: RunRecord | None = None
    task: asyncio.Task[Any] | None = None


FinishedHook = Callable[[str, RunStatus], None]
#: hears of every page an extract reads (stream, records), in the extract's worker thread
PageHook = Callable[[str, int], None]
#: extract runs listed by the API and the Extract page
LISTED_EXTRACTS = 20


@dataclass(slots=True)
class _Totals:
    """Counts since the server started (Prometheus counters)."""

    by_status: dict[str, int] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)
    api_calls: int = 0
    throttled: int = 0

    def request(self, entry: RequestLogEntry) -> None:
        """Every API request of every run (a request hook)."""
        self.api_calls += 1
        if entry.status == HTTP_TOO_MANY_REQUESTS:
            self.throttled += 1


class RunManager:
    """Starts, tracks and stops the server's runs."""

    def __init__(self, config: AppConfig, engine: SyncEngine | None = None) -> None:
        self.config = config
        self.engine = engine or SyncEngine(config)
        self.active: dict[str, ActiveRun] = {}
        self.on_finished: list[FinishedHook] = []
        self.on_extract_page: list[PageHook] = []
        self.accepting = True
        self.totals = _Totals()
        self.extract_history = ExtractHistory(self.state_dir)
        #: the extract in progress, its task, and what stops it before its next page
        self.extract: ExtractRun | None = None
        self._extract_task: asyncio.Task[None] | None = None
        self._extract_stop = threading.Event()

    @property
    def state_dir(self) -> Path:
        """Where the run history lives."""
        return self.engine.state_dir

    @property
    def extracts(self) -> list[ExtractRun]:
        """The latest extract runs, newest first (the one in progress with its live counts)."""
        runs = self.extract_history.latest(LISTED_EXTRACTS)
        live = self.extract
        return [live if live is not None and run.run_id == live.run_id else run for run in runs]

    def swap(self, config: AppConfig, engine: SyncEngine) -> None:
        """The project file was reloaded: runs started from now on use ``config`` and
        ``engine``; a run in progress keeps the engine (and configuration) it started with."""
        if engine.state_dir != self.state_dir:  # the reload refuses this: a restart moves it
            raise ConfigError("state_dir changed: restart serve to apply it")
        self.config = config
        self.engine = engine

    def by_run_id(self, run_id: str) -> ActiveRun | None:
        """The active run with this id."""
        return next((run for run in self.active.values() if run.run_id == run_id), None)

    async def start_sync(
        self, name: str, *, full: bool = False, allow_deletes: bool = False
    ) -> ActiveRun:
        """Start a run; returns once it holds its lock and is in the history.

        ``allow_deletes`` lifts the sync's ``max_deletes`` limit for this run only.

        Raises UnknownSyncError, AlreadyRunningError (also while the server shuts down), or
        the error that kept the run from starting.
        """
        if name not in self.config.syncs:
            known = ", ".join(sorted(self.config.syncs)) or "none"
            raise UnknownSyncError(f"no sync named `{name}` (known: {known})")
        if not self.accepting:
            raise ShuttingDownError("the server is shutting down: no new runs start")
        if name in self.active:
            raise AlreadyRunningError(f"sync `{name}` is already running")
        loop = asyncio.get_running_loop()
        started: asyncio.Future[RunRecord] = loop.create_future()
        run = ActiveRun(name, "", asyncio.Event(), RequestFeed())
        self.active[name] = run

        def on_start(record: RunRecord) -> None:
            run.run_id = record.run_id
            run.record = record
            if not started.done():
                started.set_result(record)

        # the engine of now: a reload swapping in another one leaves this run on its own
        run.task = asyncio.create_task(
            self._sync(self.engine, run, full, on_start, allow_deletes=allow_deletes),
            name=f"sync {name}",
        )
        await asyncio.wait([started, run.task], return_when=asyncio.FIRST_COMPLETED)
        if not started.done():
            started.cancel()
            error = run.task.exception()
            if isinstance(error, SyncLockedError):
                raise AlreadyRunningError(
                    f"sync `{name}` is already running (in another process)"
                ) from None
            if isinstance(error, MogulsyncError):
                raise error
            raise ConfigError(f"sync `{name}` could not start: {error}")
        return run

    async def _sync(
        self,
        engine: SyncEngine,
        run: ActiveRun,
        full: bool,
        on_start: Callable[[RunRecord], None],
        *,
        allow_deletes: bool = False,
    ) -> RunRecord:
        try:
            record = await engine.run(
                run.name,
                full=full,
                allow_deletes=allow_deletes,
                stop=run.stop,
                on_start=on_start,
                request_hooks=[run.feed.add, self.totals.request],
            )
        finally:
            run.feed.close()
            self.active.pop(run.name, None)
        status = record.status.value
        self.totals.by_status[status] = self.totals.by_status.get(status, 0) + 1
        for outcome, count in (
            ("succeeded", record.rows.succeeded),
            ("failed", record.rows.failed),
        ):
            self.totals.rows[outcome] = self.totals.rows.get(outcome, 0) + count
        self._notify_finished(run.name, record.status)
        return record

    def _notify_finished(self, name: str, status: RunStatus) -> None:
        """Tell every hook a run ended; a failing hook is logged, not raised."""
        for hook in self.on_finished:
            try:
                hook(name, status)
            except Exception:
                logger.exception("run-finished hook failed")

    def cancel(self, run_id: str) -> bool:
        """Ask a running sync or extract to stop at its next safe point; False when not running."""
        if self.extract is not None and self.extract.run_id == run_id:
            self._extract_stop.set()
            return True
        run = self.by_run_id(run_id)
        if run is None:
            return False
        run.stop.set()
        return True

    def stop_all(self) -> None:
        """Shutting down: no new runs; running syncs and the extract stop at a safe point."""
        self.accepting = False
        for run in list(self.active.values()):
            run.stop.set()
        self._extract_stop.set()

    def sweep_interrupted(self) -> list[str]:
        """At start: every run left 'running' by a process that died is ``interrupted``:
        sync runs, adopts, drift watches (``reconcile:<sync>``), extract runs.

        Otherwise the run list and its page showed it running until its next run, which
        for an unscheduled sync (or a watch since removed) may never come. A run is swept
        only when its lock file in ``state_dir`` is free: one that another process has in
        progress (``sync run``, ``reconcile --record``) holds it and stays ``running``.
        Every run recorded in this history holds that file while it goes, also when its
        sync's lock is in PostgreSQL, so no database is reached at start-up.
        """
        from mogulsync.runs import RunStore
        from mogulsync.sync.state import SyncLock

        extract_lock = ExtractLock(self.state_dir)
        if extract_lock.try_acquire():  # else `extract run` has its run in progress
            try:
                self.extract_history.mark_interrupted()
            finally:
                extract_lock.release()
        store = RunStore(self.state_dir, self.engine.redactor)
        swept: list[str] = []
        try:
            for name in store.running_syncs():
                lock = SyncLock(self.state_dir, name)
                try:
                    lock.acquire()
                except Exception:  # held elsewhere (running there): leave it
                    logger.debug("%s: lock not free, its running run is left", name)
                    continue
                try:
                    if store.mark_interrupted(name):
                        swept.append(name)
                finally:
                    lock.release()
        finally:
            store.close()
        if swept:
            logger.warning(
                "run(s) of %s were still marked running from a process that stopped:"
                " now marked interrupted",
                ", ".join(swept),
            )
        return swept

    async def start_extract(self) -> ExtractRun:
        """Start the extract in a worker thread (dlt is synchronous)."""
        if not self.accepting:
            raise ShuttingDownError("the server is shutting down: no new runs start")
        if self._extract_task is not None and not self._extract_task.done():
            raise AlreadyRunningError("the extract is already running")
        lock = ExtractLock(self.state_dir)
        try:
            lock.acquire()  # `mogulsync extract run` from cron may hold it
        except ExtractLockedError as exc:
            raise AlreadyRunningError(exc.message, hint=exc.hint) from None
        try:
            from mogulsync.extract.recording import begin

            run = begin(self.extract_history)  # also marks runs of processes that died
        except BaseException:
            lock.release()
            raise
        self.extract = run
        self._extract_stop = threading.Event()
        # the configuration it starts with is the one it ends with (alerts too), whatever
        # a reload of the project file swaps in meanwhile
        self._extract_task = asyncio.create_task(
            self._extract(self.config, run, self._extract_stop, lock)
        )
        return run

    async def _extract(
        self, config: AppConfig, run: ExtractRun, stop: threading.Event, lock: ExtractLock
    ) -> None:
        from mogulsync.extract.recording import ExtractWatch, alert_after, end, save_quietly
        from mogulsync.serve.extract import run_project_extract

        loop = asyncio.get_running_loop()
        history = self.extract_history
        watch = ExtractWatch()

        def page(stream: str, records: int) -> None:  # in the extract's worker thread
            watch.on_records(stream, records)
            run.progress[stream] = run.progress.get(stream, 0) + records
            if history.progress_due():  # written on the loop, which owns the history
                snapshot = dict(run.progress)
                loop.call_soon_threadsafe(self._save_extract_progress, run.run_id, snapshot)
            for hook in self.on_extract_page:
                hook(stream, records)

        with logs.bound_run(run.run_id):  # the worker thread inherits it
            work = asyncio.ensure_future(
                asyncio.to_thread(
                    run_project_extract, config, on_records=page, stop=stop, watch=watch
                )
            )
        cancelled = await _thread_end(work, stop)
        # how it ended is recorded (and alerted on) below
        error = work.exception()
        report = None if error is not None else work.result()
        end(run, report, error)
        try:
            # as `extract run`: a history that cannot be written (the disk full) is logged,
            # and the alerts still go out; they may be all that tells anyone
            save_quietly(history, run)
            with logs.bound_run(run.run_id):
                await alert_after(config, history, run, watch, error)
        finally:  # whatever happened, the extract is not left "running" here
            self.extract = None
            lock.release()
            self._notify_finished(EXTRACT_NAME, RunStatus(run.status))
        if cancelled:
            raise asyncio.CancelledError

    def _save_extract_progress(self, run_id: str, progress: dict[str, int]) -> None:
        """Best effort: the run's end writes its counts anyway."""
        try:
            self.extract_history.save_progress(run_id, progress)
        except sqlite3.Error as exc:
            logger.warning("extract history: progress not written yet: %s", exc)

    async def shutdown(self) -> None:
        """No new runs; running syncs and the extract stop at a safe point; wait for them."""
        self.stop_all()
        tasks = [run.task for run in self.active.values() if run.task is not None]
        if self._extract_task is not None:
            tasks.append(self._extract_task)
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)


async def _thread_end(work: asyncio.Future[Any], stop: threading.Event) -> bool:
    """Wait until ``work`` (a worker thread's) has ended; whether the caller was cancelled
    meanwhile. A thread cannot be cancelled: it is asked to stop at its next page and still
    waited for, so the extract lock is not given back (nor the run ended) while it loads."""
    cancelled = False
    while not work.done():
        try:
            await asyncio.wait([work])
        except asyncio.CancelledError:
            cancelled = True
            stop.set()
    return cancelled

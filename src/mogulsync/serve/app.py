"""One ASGI app on one port: the API, the web UI, /healthz, /metrics and, when ``events:``
is configured, the Segment-compatible endpoints (``/v1/identify`` … ``/v1/batch``).

Its lifespan runs the scheduler and the events forwarder, and on the way out stops every
running sync at a safe point (recorded ``cancelled``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable
from functools import partial
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mogulsync import logs
from mogulsync.config import AppConfig
from mogulsync.config.alerts import RECONCILE_PREFIX
from mogulsync.errors import MogulsyncError
from mogulsync.serve import api, project_api
from mogulsync.serve.alert_retries import AlertRetrier
from mogulsync.serve.auth import Auth, AuthError, Role
from mogulsync.serve.clock import Clock, SystemClock
from mogulsync.serve.lock import ServeLock
from mogulsync.serve.metrics import render
from mogulsync.serve.project import ProjectFile
from mogulsync.serve.reload import Reload, changed_syncs, restart_required
from mogulsync.serve.runs import AlreadyRunningError, RunManager, ShuttingDownError
from mogulsync.serve.schedule import Job, jobs_of
from mogulsync.serve.scheduler import POLL_S, Scheduler, ScheduleStore
from mogulsync.serve.state import ServeState
from mogulsync.serve.ui import pages, settings
from mogulsync.sync.engine import SyncEngine

logger = logging.getLogger(__name__)
#: the Segment-compatible ingest paths (served by the events app when configured)
EVENTS_PREFIX = "/v1/"
#: the largest request body the API and the UI take (theirs are a few hundred bytes; a
#: replay of every dead letter by seq fits). The events paths have their own limits.
MAX_BODY_BYTES = 1024 * 1024
#: on every answer but the events paths': no page of ours may be framed by another site
#: (a framed Run now or Cancel would carry our CSRF token and our Origin), scripts and
#: styles only from /static, no MIME sniffing of a plain-text error
SECURITY_HEADERS = [
    (
        b"content-security-policy",
        (
            b"default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none';"
            b" form-action 'self'; frame-ancestors 'none'"
        ),
    ),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
]
_TOO_LARGE = json.dumps(
    {"error": f"the request body is over {MAX_BODY_BYTES} bytes: nothing here takes that much"}
).encode()


async def healthz(_request: Request) -> Response:
    """Liveness: the process answers (no auth, no data)."""
    return PlainTextResponse("ok")


async def metrics(request: Request) -> Response:
    """Prometheus text format (viewer role when tokens are configured)."""
    state = api.state_of(request)
    try:
        state.auth.require(request, Role.VIEWER)
    except AuthError as exc:
        return api.error(exc.status, exc.message)
    body = await asyncio.to_thread(render, state)
    return Response(body, media_type="text/plain; version=0.0.4; charset=utf-8")


def _with_security_headers(send: Send) -> Send:
    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", ()), *SECURITY_HEADERS]}
        await send(message)

    return sending


def _schedules_not_saved(exc: Exception) -> Reload:
    """A reload whose schedules could not be written to ``schedule.sqlite``."""
    logger.warning("project file not reloaded: the schedules could not be saved: %s", exc)
    return Reload(
        error=f"the schedules could not be saved in schedule.sqlite ({exc}): nothing was"
        " reloaded, the server runs the previous version and schedules; try again",
    )


async def _bounded(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
    """``app`` with a request body of at most :data:`MAX_BODY_BYTES`, else a 413 before
    any of it is read (declared length) or once the cap is read (chunked). The sign-in
    form is parsed before anyone is known: unbounded, a stranger's 1 GB body was buffered
    in memory (or spooled to disk as a multipart upload)."""
    headers = dict(scope["headers"])  # the last of a repeated name: any one over is refused
    length = headers.get(b"content-length")
    if length is not None and (not length.isdigit() or int(length) > MAX_BODY_BYTES):
        await _too_large(send)
        return
    if length is not None or b"transfer-encoding" not in headers:
        await app(scope, receive, send)  # the HTTP parser ends the body at its length
        return
    body = await _read_capped(receive)
    if body is None:
        await _too_large(send)
        return
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if replayed:
            return await receive()  # a streaming answer waits here for the disconnect
        replayed = True
        return {"type": "http.request", "body": body, "more_body": False}

    await app(scope, replay, send)


async def _read_capped(receive: Receive) -> bytes | None:
    """A chunked body of at most :data:`MAX_BODY_BYTES`; None past it (or a disconnect)."""
    chunks: list[bytes] = []
    size = 0
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return None
        chunks.append(chunk)
        more = bool(message.get("more_body", False))
    return b"".join(chunks)


async def _too_large(send: Send) -> None:
    # Connection: close, so the server reads no more of the body it was sent
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(_TOO_LARGE)).encode()),
        (b"connection", b"close"),
    ]
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": _TOO_LARGE})


class ServeApp:
    """The ASGI entry point: events paths to the ingest app, the rest to Starlette."""

    def __init__(
        self,
        config: AppConfig,
        *,
        clock: Clock | None = None,
        engine: SyncEngine | None = None,
        schedule: bool = True,
        tick_loop: bool = True,
        poll_s: float = POLL_S,
        config_path: Path | None = None,
        engine_factory: Callable[[AppConfig], SyncEngine] = SyncEngine,
    ) -> None:
        self.state = ServeState(
            config=config,
            auth=Auth(config.serve.tokens),
            manager=RunManager(config, engine),
            clock=clock or SystemClock(),
        )
        self._mask_tokens(self.state.manager.engine)
        #: builds the engine of a reloaded project file (tests give theirs)
        self.engine_factory = engine_factory
        if config_path is not None:  # the file the editor and a reload read
            self.state.project = ProjectFile(config_path, self.state.manager.state_dir)
            self.state.reload = self.reload
        self._scheduler_task: asyncio.Task[None] | None = None
        self._store: ScheduleStore | None = None
        #: the lifespan runs: a reload may swap the configuration in
        self._running = False
        self.schedule = schedule
        #: False: nothing ticks the scheduler on its own (tests call ``tick()``)
        self.tick_loop = tick_loop
        self.poll_s = poll_s
        self._events: ASGIApp | None = None
        self._stop = asyncio.Event()
        #: one server per state directory (taken by the CLI before it says "serving")
        self.lock = ServeLock(self.state.manager.state_dir)
        #: drift watches in progress, by sync (a reconcile only reads: safe to cancel)
        self.reconciles: dict[str, asyncio.Task[None]] = {}
        #: sends again, on each tick, the alerts a channel did not take
        self.alert_retries = AlertRetrier(self.state)
        self.router = Starlette(
            routes=[
                Route("/healthz", healthz, methods=["GET"]),
                Route("/metrics", metrics, methods=["GET"]),
                *api.routes,
                *project_api.routes,
                *settings.routes,
                *pages.routes,
            ],
            lifespan=self._lifespan,
        )
        self.router.state.serve = self.state

    @property
    def jobs(self) -> list[Job]:
        """The scheduled jobs of the project."""
        return jobs_of(self.state.config)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Route one connection."""
        if scope["type"] != "http":
            await self.router(scope, receive, send)
            return
        if self._events is not None and scope["path"].startswith(EVENTS_PREFIX):
            await self._events(scope, receive, send)
            return
        await _bounded(self.router, scope, receive, _with_security_headers(send))

    def begin_shutdown(self) -> None:
        """SIGTERM: no new runs; running syncs and the extract stop at their next safe point."""
        self.state.manager.stop_all()
        self._stop.set()

    @contextlib.asynccontextmanager
    async def _lifespan(self, _app: Starlette) -> AsyncIterator[None]:
        state = self.state
        config = state.config
        async with contextlib.AsyncExitStack() as stack:
            self.lock.acquire()  # ServeLockedError: the server does not start
            stack.callback(self.lock.release)
            # before any run starts here: what a dead process left running is interrupted
            await asyncio.to_thread(state.manager.sweep_interrupted)
            if config.events.write_keys:
                from mogulsync.events.server import queue_path, running_events

                ingest, forwarder = await stack.enter_async_context(running_events(config))
                self._events = ingest.app
                state.events_queue = queue_path(config)
                state.forwarder = forwarder
            if self.schedule and self.jobs:
                self._start_scheduler()
            self._running = True
            try:
                yield
            finally:
                self._running = False
                self.begin_shutdown()
                if self._scheduler_task is not None:
                    await self._scheduler_task
                if self._store is not None:
                    self._store.close()
                await self.alert_retries.stop()
                await state.manager.shutdown()
                state.manager.extract_history.close()
                for task in self.reconciles.values():
                    task.cancel()
                await asyncio.gather(*self.reconciles.values(), return_exceptions=True)
                self._events = None

    def _start_scheduler(self) -> Scheduler:
        """The scheduler of the project's jobs at start, ticking unless tests tick it."""
        return self._run_scheduler(self._new_scheduler(self.jobs))

    def _new_scheduler(self, jobs: list[Job]) -> Scheduler:
        """A scheduler of ``jobs``, its schedules saved (blocking: a reload runs it in a
        thread; raises, having saved nothing, when ``schedule.sqlite`` cannot be written)."""
        store = ScheduleStore(self.state.manager.state_dir)
        try:
            return Scheduler(jobs, self.state.clock, store, self._launch)
        except BaseException:
            store.close()
            raise

    def _run_scheduler(self, scheduler: Scheduler) -> Scheduler:
        """Put ``scheduler`` in charge (at start, or at the reload that gave the project
        its first scheduled job); cannot fail."""
        state = self.state
        self._store = scheduler.store
        state.scheduler = scheduler
        state.manager.on_finished.append(scheduler.run_finished)
        scheduler.after_tick.append(self.alert_retries.on_tick)
        if self.tick_loop:
            self._scheduler_task = asyncio.create_task(
                scheduler.run_forever(self._stop, self.poll_s)
            )
        return scheduler

    def _mask_tokens(self, engine: SyncEngine) -> None:
        for token in self.state.config.serve.tokens:  # defence in depth: never in history
            engine.redactor.add(token.token.get_secret_value())

    async def reload(self) -> Reload:
        """Read the project file again; swap it in only when it is valid and all of it can
        be applied while serving (else nothing changes and the answer says why).

        Runs in progress go on with the configuration they started with.
        """
        project = self.state.project
        if project is None:
            return Reload(error="this server was not started from a project file")
        async with self.state.project_lock:
            if not self._running or self._stop.is_set():
                return Reload(error="serve is starting or stopping: nothing was reloaded")
            try:
                text, sha256 = await asyncio.to_thread(project.read)
            except MogulsyncError as exc:  # moved away, unreadable: the server runs on
                return Reload(error=f"{exc.user_message}: nothing was reloaded")
            checked = await asyncio.to_thread(partial(project.check, text, editing=False))
            if checked.config is None:
                return Reload(hash=sha256, problems=checked.problems)
            new, old = checked.config, self.state.config
            restart = restart_required(old, new)
            if restart:
                return Reload(hash=sha256, restart_required=restart)
            engine = self.engine_factory(new)
            self._mask_tokens(engine)
            if engine.state_dir != self.state.manager.state_dir:  # the swap would refuse it
                return Reload(hash=sha256, restart_required=["state_dir"])
            jobs = await self._apply(new, engine)
            if isinstance(jobs, Reload):
                return jobs.with_hash(sha256)
            project.applied = sha256
            result = Reload(hash=sha256, applied=True, syncs=changed_syncs(old, new), jobs=jobs)
            logger.info("project file reloaded: %s", result.summary())
            return result

    async def _apply(self, new: AppConfig, engine: SyncEngine) -> dict[str, list[str]] | Reload:
        """Swap ``new`` in with its schedules, all or nothing: what can fail (writing the
        schedules, which may wait out another writer's lock: in a thread) is done first,
        then the swap, which cannot fail. The jobs changed, or why nothing was."""
        wanted = jobs_of(new)
        jobs: dict[str, list[str]] = {"added": [], "changed": [], "removed": []}
        scheduler = self.state.scheduler
        if scheduler is not None:
            async with scheduler.jobs_lock:  # between two ticks: jobs and syncs agree
                try:
                    plan = await asyncio.to_thread(scheduler.prepare_jobs, wanted)
                except Exception as exc:  # any failure: nothing changes
                    return _schedules_not_saved(exc)
                self._swap(new, engine)
                return scheduler.commit_jobs(plan)
        started: Scheduler | None = None
        if self.schedule and wanted:
            try:
                started = await asyncio.to_thread(self._new_scheduler, wanted)
            except Exception as exc:  # any failure: nothing changes
                return _schedules_not_saved(exc)
            if self._stop.is_set():  # stopped meanwhile: the lifespan has closed up
                started.store.close()
                return Reload(error="serve is stopping: nothing was reloaded")
        self._swap(new, engine)
        if started is not None:
            jobs["added"] = list(self._run_scheduler(started).states)
        return jobs

    def _swap(self, config: AppConfig, engine: SyncEngine) -> None:
        """Runs started from now on use ``config``; those in progress keep theirs."""
        self.state.config = config
        self.state.manager.swap(config, engine)

    async def _launch(self, job: Job, _reason: str) -> bool | None:
        if self._stop.is_set():
            return None  # stopping: the slot stays due, the restart runs it
        try:
            if job.kind == "extract":
                await self.state.manager.start_extract()
            elif job.kind == "reconcile":
                return self._start_reconcile(job.name.removeprefix(RECONCILE_PREFIX))
            else:
                await self.state.manager.start_sync(job.name)
        except ShuttingDownError:
            return None
        except AlreadyRunningError:
            return False
        except MogulsyncError as exc:  # recorded nowhere else: say it, try next slot
            logger.warning("scheduled %s could not start: %s", job.name, exc.user_message)
        return True

    def _start_reconcile(self, sync: str) -> bool:
        """Start a recorded reconcile of ``sync`` unless one is still going (no overlap)."""
        running = self.reconciles.get(sync)
        if running is not None and not running.done():
            return False
        self.reconciles[sync] = asyncio.create_task(self._reconcile(self.state.config, sync))
        return True

    async def _reconcile(self, config: AppConfig, sync: str) -> None:
        from mogulsync.reconcile import reconcile

        try:
            report = await reconcile(config, sync, record=True)
        except MogulsyncError as exc:  # recorded in the history as failed when it could be
            logger.warning("scheduled reconcile of %s failed: %s", sync, exc.user_message)
            return
        with logs.bound_run(report.run_id) if report.run_id else contextlib.nullcontext():
            for warning in report.warnings:  # the reconcile's own lines: with its run id
                logger.warning("reconcile of %s: %s", sync, warning)

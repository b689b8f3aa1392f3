"""The JSON API under ``/api/v1`` (OpenAPI at ``/api/openapi.json``).

Each endpoint's OpenAPI operation is the YAML after ``---`` in its docstring (Starlette's
schema generator reads it). Viewers may read; operators may also trigger, cancel and
replay. Errors are ``{"error": "..."}`` with the HTTP status that says what to do.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Collection
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route
from starlette.schemas import SchemaGenerator

from mogulsync.config.alerts import RECONCILE_PREFIX
from mogulsync.errors import MogulsyncError
from mogulsync.runs import RunRecord, RunStatus
from mogulsync.runs.models import ROW_ERROR_KINDS
from mogulsync.runs.store import RunNotFoundError
from mogulsync.serve.alerting import alerting
from mogulsync.serve.auth import AuthError, Role
from mogulsync.serve.feed import FEED_LIMIT, entry_dict
from mogulsync.serve.runs import AlreadyRunningError, UnknownSyncError
from mogulsync.serve.scheduler import JobState
from mogulsync.serve.state import ServeState
from mogulsync.sync.connect import client_settings

MAX_LIMIT = 1000
DEFAULT_LIMIT = 50
#: beyond any run's request count; keeps SQLite's OFFSET within a 64-bit integer
MAX_OFFSET = 2**62
#: rows sampled per kind of change by the plan endpoint
PLAN_SAMPLE = 5

Handler = Callable[[Request], Awaitable[Response]]

schemas = SchemaGenerator(
    {"openapi": "3.0.0", "info": {"title": "mogulsync serve", "version": "1"}}
)


def state_of(request: Request) -> ServeState:
    """The server state the app was built with."""
    state: ServeState = request.app.state.serve
    return state


def error(status: int, message: str) -> JSONResponse:
    """An error answer."""
    return JSONResponse({"error": message}, status_code=status)


def guarded(role: Role) -> Callable[[Handler], Handler]:
    """Check the caller's role and turn known errors into their HTTP answers."""

    def wrap(handler: Handler) -> Handler:
        async def endpoint(request: Request) -> Response:
            try:
                state_of(request).auth.require(request, role)
                return await handler(request)
            except AuthError as exc:
                return error(exc.status, exc.message)
            except (UnknownSyncError, RunNotFoundError) as exc:
                return error(404, exc.user_message)
            except AlreadyRunningError as exc:
                return error(409, exc.user_message)
            except MogulsyncError as exc:
                return error(422, exc.user_message)

        endpoint.__doc__ = handler.__doc__
        endpoint.__name__ = handler.__name__
        return endpoint

    return wrap


def _limit(request: Request, default: int = DEFAULT_LIMIT) -> int:
    try:
        value = int(request.query_params.get("limit", default))
    except ValueError:
        return default
    return max(1, min(value, MAX_LIMIT))


def _unknown(parameter: str, value: str, known: Collection[str]) -> str:
    """The 400 for a filter value no row can have (a typo, not an empty result)."""
    return f"unknown {parameter} `{value}`: use one of {', '.join(known)}"


def offset_of(request: Request) -> int:
    """``?offset=`` as a row count (0 when absent or not a number; capped for SQLite)."""
    try:
        return min(max(0, int(request.query_params.get("offset", "0"))), MAX_OFFSET)
    except ValueError:
        return 0


def run_summary(state: ServeState, record: RunRecord) -> dict[str, Any]:
    """``sync run --json``'s object; a running sync shows its live counts."""
    active = state.manager.by_run_id(record.run_id)
    if active is not None and active.record is not None:
        record = active.record
        summary = record.summary()  # api_calls live: those that reached ChartMogul so far
        started = dt.datetime.fromisoformat(record.started_at)
        summary["duration_s"] = round((dt.datetime.now(dt.UTC) - started).total_seconds(), 3)
        return {**summary, "started_at": record.started_at, "finished_at": None, "message": None}
    return {**record.summary(), "started_at": record.started_at,
            "finished_at": record.finished_at, "message": record.message}  # fmt: skip


#: runs read back to find a sync's latest finished one (interrupted and skipped are passed)
ALERT_LOOKBACK = 20


def sync_listing(state: ServeState) -> list[dict[str, Any]]:
    """Every sync with its schedule, next run, last run and the alerts it is in."""
    next_runs = state.scheduler.next_runs() if state.scheduler else {}
    alerts = state.config.alerts
    store = state.run_store()
    try:
        listing = []
        for name, sync in state.config.syncs.items():
            recent = store.latest(sync=name, limit=ALERT_LOOKBACK)
            last = recent[:1]
            watch = (
                store.latest(sync=f"{RECONCILE_PREFIX}{name}", limit=ALERT_LOOKBACK)
                if alerts.channels and sync.reconcile is not None
                else []
            )
            due = next_runs.get(name)
            listing.append(
                {
                    "name": name,
                    "object": sync.object,
                    "mode": sync.mode,
                    "schedule": sync.schedule.describe() if sync.schedule else None,
                    "next_run_at": due.isoformat() if due else None,
                    "last_run": {"run_id": last[0].run_id, "status": last[0].status.value}
                    if last
                    else None,
                    "alerting": alerting(alerts, recent, watch),
                }
            )
        return listing
    finally:
        store.close()


@guarded(Role.VIEWER)
async def list_syncs(request: Request) -> Response:
    """
    ---
    summary: 'Every sync with its schedule, next run and last run'
    responses:
      200: {description: "[{name, object, mode, schedule, next_run_at, last_run}]"}
    """
    return JSONResponse(sync_listing(state_of(request)))


@guarded(Role.OPERATOR)
async def trigger_run(request: Request) -> Response:
    """
    ---
    summary: 'Start a run of a sync (body optional, {"full": false, "allow_deletes": false})'
    responses:
      202: {description: "{run_id}"}
      400: {description: a body that is not such JSON}
      404: {description: unknown sync}
      409: {description: the sync is already running}
    """
    options = {"full": False, "allow_deletes": False}
    body = await request.body()
    if body.strip():
        example = 'e.g. {"full": false, "allow_deletes": false}'
        data = _json_body(body)
        if data is None:
            return error(400, f"the body must be JSON, {example}")
        if not isinstance(data, dict):
            return error(400, f"the body must be a JSON object, {example}")
        for key in options:
            if not isinstance(data.get(key, False), bool):
                return error(400, f"`{key}` must be true or false, {example}")
            options[key] = bool(data.get(key, False))
    run = await state_of(request).manager.start_sync(
        request.path_params["name"],
        full=options["full"],
        allow_deletes=options["allow_deletes"],
    )
    return JSONResponse({"run_id": run.run_id}, status_code=202)


@guarded(Role.VIEWER)
async def plan(request: Request) -> Response:
    """
    ---
    summary: 'The dry-run plan of a sync (counts and samples; writes nothing)'
    responses:
      200: {description: the plan}
      404: {description: unknown sync}
    """
    from mogulsync.serve.preview import preview

    state, name = _named_sync(request)
    return JSONResponse(await preview(state.config, name, client_settings(state.config)))


@guarded(Role.VIEWER)
async def reconcile_sync(request: Request) -> Response:
    """
    ---
    summary: 'Compare a sync''s model with ChartMogul now (missing, extra, drifted; writes nothing)'
    responses:
      200: {description: "the reconcile summary, as `mogulsync reconcile --json` prints it"}
      404: {description: unknown sync}
    """
    from mogulsync.reconcile import reconcile

    state, name = _named_sync(request)
    report = await reconcile(state.config, name)
    return JSONResponse(report.summary())


def sent_alerts(
    state: ServeState, names: list[str], limit: int, *, successes: int | None = None
) -> list[dict[str, Any]]:
    """The latest alerts sent about ``names`` (run-history names), newest first, as the API
    lists them (``successes``: see :meth:`RunStore.deliveries`)."""
    store = state.run_store()
    try:
        found = store.deliveries(names, limit=limit, successes=successes)
    finally:
        store.close()
    return [delivery.as_dict() for delivery in found]


def alert_deliveries(state: ServeState, name: str, limit: int) -> list[dict[str, Any]]:
    """The latest alerts sent about sync ``name`` and its drift watch, newest first."""
    return sent_alerts(state, [name, f"{RECONCILE_PREFIX}{name}"], limit)


@guarded(Role.VIEWER)
async def list_alerts(request: Request) -> Response:
    """
    ---
    summary: 'Alerts sent about a sync and its drift watch, delivered or not, newest first'
    responses:
      200: {description: "[{at, sync, run_id, channel, target, trigger, outcome, error}]"}
      404: {description: unknown sync}
    """
    state, name = _named_sync(request)
    return JSONResponse(alert_deliveries(state, name, _limit(request)))


def _named_sync(request: Request) -> tuple[ServeState, str]:
    """The server's state and the sync the path names (UnknownSyncError: 404)."""
    state = state_of(request)
    name = request.path_params["name"]
    if name not in state.config.syncs:
        raise UnknownSyncError(f"no sync named `{name}`")
    return state, name


@guarded(Role.VIEWER)
async def list_runs(request: Request) -> Response:
    """
    ---
    summary: 'Latest runs, newest first (?sync=&status=&limit=&offset=)'
    responses:
      200: {description: "[run]"}
      400: {description: unknown status}
    """
    state = state_of(request)
    params = request.query_params
    statuses = [status.value for status in RunStatus]
    if params.get("status") and params["status"] not in statuses:
        # a typo would otherwise read as "no such runs"
        return error(400, _unknown("status", params["status"], statuses))
    store = state.run_store()
    try:
        records = store.latest(
            sync=params.get("sync") or None, status=params.get("status") or None,
            limit=_limit(request), offset=offset_of(request),
        )  # fmt: skip
    finally:
        store.close()
    return JSONResponse([run_summary(state, record) for record in records])


@guarded(Role.VIEWER)
async def get_run(request: Request) -> Response:
    """
    ---
    summary: 'One run, as `sync run --json` prints it (status also running or cancelled)'
    responses:
      200: {description: "{run_id, sync, status, rows, api_calls, duration_s,
        row_errors_deleted}"}
      404: {description: unknown run}
    """
    state = state_of(request)
    store = state.run_store()
    try:
        record = store.get(request.path_params["run_id"])
        deleted = store.errors_deleted(record.run_id)
    finally:
        store.close()
    return JSONResponse({**run_summary(state, record), "row_errors_deleted": deleted})


@guarded(Role.VIEWER)
async def run_errors(request: Request) -> Response:
    """
    ---
    summary: 'A run''s row errors (?q= part of the key, &kind=invalid|rejected|transient|error)'
    responses:
      200: {description: "[{key, field, message, action, kind}]; header X-Row-Errors-Deleted:
        how many the retention deleted (keep_errors_days)"}
      400: {description: unknown kind}
      404: {description: unknown run}
    """
    state = state_of(request)
    query = request.query_params.get("q", "")
    kind = request.query_params.get("kind", "")
    if kind and kind not in ROW_ERROR_KINDS:
        return error(400, _unknown("kind", kind, ROW_ERROR_KINDS))
    store = state.run_store()
    try:
        store.get(request.path_params["run_id"])
        found = store.errors(request.path_params["run_id"])
        deleted = store.errors_deleted(request.path_params["run_id"])
    finally:
        store.close()
    rows = [
        {"key": e.key, "field": e.field, "message": e.message, "action": e.action,
         "kind": e.kind}
        for e in found
        if query in e.key and (not kind or e.kind == kind)
    ]  # fmt: skip
    # the list cannot say that a run's errors were deleted (an old run's "[]" is no clean run)
    headers = {"X-Row-Errors-Deleted": str(deleted)}
    return JSONResponse(rows[: _limit(request, MAX_LIMIT)], headers=headers)


@guarded(Role.VIEWER)
async def run_requests(request: Request) -> Response:
    """
    ---
    summary: 'A run''s API requests in order (?offset=&limit=), bodies redacted'
    responses:
      200: {description: "{requests: [...], next_offset}"}
      404: {description: unknown run}
    """
    state = state_of(request)
    run_id = request.path_params["run_id"]
    # capped: SQLite refuses an offset past 2**63 (a 500), and no run has that many
    offset = offset_of(request)
    limit = _limit(request, 100)
    # a run's log can hold hundreds of thousands of requests: read off the event loop
    items = await asyncio.to_thread(_stored_requests, state, run_id, offset, limit)
    more = len(items) == limit
    return JSONResponse({"requests": items, "next_offset": offset + limit if more else None})


#: requests read per step when a finished run's log is streamed
_STREAM_PAGE = 500
#: a finished run's stream replays its latest requests only (the older: ``/requests``)
REPLAY_LIMIT = FEED_LIMIT


def _request_count(state: ServeState, run_id: str) -> int:
    """How many requests a run logged (RunNotFoundError: no such run)."""
    store = state.run_store()
    try:
        store.get(run_id)
        return store.request_count(run_id)
    finally:
        store.close()


def _stored_requests(
    state: ServeState, run_id: str, offset: int, limit: int
) -> list[dict[str, Any]]:
    """Requests ``offset + 1`` to ``offset + limit`` of a run (RunNotFoundError: no such
    run), read on the calling thread with a connection of its own."""
    store = state.run_store()
    try:
        store.get(run_id)
        page = store.requests(run_id, offset=offset, limit=limit)
        return [entry_dict(offset + i + 1, entry) for i, entry in enumerate(page)]
    finally:
        store.close()


@guarded(Role.VIEWER)
async def stream_requests(request: Request) -> Response:
    """
    ---
    summary: 'Server-Sent Events, one per API request of the run as it happens'
    responses:
      200: {description: "text/event-stream; each event's data is one request"}
      404: {description: unknown run}
    """
    state = state_of(request)
    run_id = request.path_params["run_id"]
    active = state.manager.by_run_id(run_id)
    if active is None:
        # the latest REPLAY_LIMIT requests, as a live reader gets at most: a run of 200,000
        # requests replayed whole put 200,000 rows into the page. The first page before
        # answering, so an unknown run is a 404; the rest page by page off the event loop.
        total = await asyncio.to_thread(_request_count, state, run_id)
        skipped = max(total - REPLAY_LIMIT, 0)
        first = await asyncio.to_thread(_stored_requests, state, run_id, skipped, _STREAM_PAGE)

        async def finished() -> AsyncIterator[str]:
            page, offset = first, skipped
            if skipped:
                yield _event("skipped", {"skipped": skipped})
            while page:
                for item in page:
                    yield _event("request", item)
                if len(page) < _STREAM_PAGE:
                    break
                offset += _STREAM_PAGE
                page = await asyncio.to_thread(
                    _stored_requests, state, run_id, offset, _STREAM_PAGE
                )
            yield _event("end", {"run_id": run_id})

        return StreamingResponse(finished(), media_type="text/event-stream")
    feed = active.feed

    async def live() -> AsyncIterator[str]:
        async for item in feed.follow():
            yield _event("skipped" if "skipped" in item else "request", item)
        yield _event("end", {"run_id": run_id})

    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    return StreamingResponse(live(), media_type="text/event-stream", headers=headers)


def _event(kind: str, data: dict[str, Any]) -> str:
    return f"event: {kind}\ndata: {json.dumps(data, default=str)}\n\n"


@guarded(Role.OPERATOR)
async def cancel_run(request: Request) -> Response:
    """
    ---
    summary: 'Stop a running sync or extract at its next safe point (it ends as cancelled)'
    responses:
      202: {description: "{run_id, status: cancelling}"}
      404: {description: unknown run}
      409: {description: the run is not running}
    """
    state = state_of(request)
    run_id = request.path_params["run_id"]
    if state.manager.cancel(run_id):
        return JSONResponse({"run_id": run_id, "status": "cancelling"}, status_code=202)
    extract = state.manager.extract_history.get(run_id)
    if extract is not None:
        return error(409, f"run {run_id} is not running (it is {extract.status})")
    store = state.run_store()
    try:
        record = store.get(run_id)
    finally:
        store.close()
    return error(409, f"run {run_id} is not running (it is {record.status.value})")


def schedule_listing(state: ServeState) -> list[dict[str, Any]]:
    """Every scheduled job (syncs, drift watches, the extract) and where it stands."""
    scheduler = state.scheduler
    if scheduler is None:
        return []
    return [_job_view(job) for job in scheduler.states.values()]


def _job_view(job: JobState) -> dict[str, Any]:
    paused, due = job.paused_since, job.next_run
    return {
        "job": job.job.name,
        "kind": job.job.kind,
        "schedule": job.job.schedule.describe(),
        "next_run_at": due.isoformat() if due else None,
        "paused_since": paused.isoformat() if paused else None,
        "last_started_at": job.last_started.isoformat() if job.last_started else None,
        "lag_s": job.lag_s,
        "skipped": job.skipped,
        "missed": job.missed,
    }


class UnknownJobError(UnknownSyncError):
    """No scheduled job with this name."""


async def set_paused(state: ServeState, name: str, *, paused: bool) -> dict[str, Any]:
    """Pause or resume a scheduled job; its new view (UnknownJobError: not scheduled)."""
    scheduler = state.scheduler
    if scheduler is None:
        raise UnknownJobError(f"no scheduled job named `{name}` (scheduled: none)")
    # not while a reload prepares the jobs from their states (its pause would be lost)
    async with scheduler.jobs_lock:
        if name not in scheduler.states:
            known = ", ".join(sorted(scheduler.states)) or "none"
            raise UnknownJobError(f"no scheduled job named `{name}` (scheduled: {known})")
        job = scheduler.pause(name) if paused else scheduler.resume(name)
    return _job_view(job)


@guarded(Role.VIEWER)
async def list_schedules(request: Request) -> Response:
    """
    ---
    summary: 'Every scheduled job: next run, paused or not, lag, skipped and missed slots'
    responses:
      200: {description: "[{job, kind, schedule, next_run_at, paused_since, ...}]"}
    """
    return JSONResponse(schedule_listing(state_of(request)))


@guarded(Role.OPERATOR)
async def pause_schedule(request: Request) -> Response:
    """
    ---
    summary: 'Pause a job''s schedule (a run in progress goes on; a manual run still works)'
    responses:
      200: {description: "the job, paused_since set"}
      404: {description: no scheduled job with this name}
    """
    view = await set_paused(state_of(request), request.path_params["job"], paused=True)
    return JSONResponse(view)


@guarded(Role.OPERATOR)
async def resume_schedule(request: Request) -> Response:
    """
    ---
    summary: 'Resume a paused schedule (nothing missed while paused is caught up)'
    responses:
      200: {description: "the job, with its next run"}
      404: {description: no scheduled job with this name}
    """
    view = await set_paused(state_of(request), request.path_params["job"], paused=False)
    return JSONResponse(view)


@guarded(Role.OPERATOR)
async def trigger_extract(request: Request) -> Response:
    """
    ---
    summary: 'Start the extract with the project''s extract settings'
    responses:
      202: {description: "{run_id}"}
      409: {description: the extract is already running}
    """
    run = await state_of(request).manager.start_extract()
    return JSONResponse({"run_id": run.run_id}, status_code=202)


@guarded(Role.VIEWER)
async def list_extracts(request: Request) -> Response:
    """
    ---
    summary: 'Extract runs (the server''s and `extract run`''s, kept across restarts), newest first'
    responses:
      200: {description: "[{run_id, status, started_at, finished_at, report, message, progress}]"}
    """
    runs = state_of(request).manager.extracts
    return JSONResponse(
        [
            {
                "run_id": r.run_id,
                "status": r.status,
                "started_at": r.started_at,
                "finished_at": r.finished_at,
                "report": r.report,
                "message": r.message,
                "progress": r.progress,
            }
            for r in runs
        ]
    )


def extract_alert_deliveries(
    state: ServeState, limit: int, *, successes: int | None = None
) -> list[dict[str, Any]]:
    """The latest alerts sent about extract runs, newest first (``successes``: see
    :meth:`RunStore.deliveries`)."""
    from mogulsync.alerts.extract import EXTRACT_JOB

    return sent_alerts(state, [EXTRACT_JOB], limit, successes=successes)


@guarded(Role.VIEWER)
async def list_extract_alerts(request: Request) -> Response:
    """
    ---
    summary: 'Alerts sent about extract runs, delivered or not, newest first'
    responses:
      200: {description: "[{at, sync, run_id, channel, target, trigger, outcome, error}]"}
    """
    return JSONResponse(extract_alert_deliveries(state_of(request), _limit(request)))


@guarded(Role.VIEWER)
async def events_status(request: Request) -> Response:
    """
    ---
    summary: 'Events queue depth, counters, oldest pending event, failures, dead letters'
    responses:
      200: {description: status}
      404: {description: no events section configured}
    """
    status = await asyncio.to_thread(state_of(request).events_status)
    if status is None:
        return error(404, "no `events:` section in the project file")
    return JSONResponse(status)


@guarded(Role.VIEWER)
async def list_events_alerts(request: Request) -> Response:
    """
    ---
    summary: 'Alerts sent about the events forwarder, delivered or not, newest first'
    responses:
      200: {description: "[{at, sync, run_id, channel, target, trigger, outcome, error}]"}
      404: {description: no events section configured}
    """
    state = state_of(request)
    if state.events_queue is None:
        return error(404, "no `events:` section in the project file")
    from mogulsync.alerts.events_message import EVENTS_JOB

    found = await asyncio.to_thread(sent_alerts, state, [EVENTS_JOB], _limit(request))
    return JSONResponse(found)


@guarded(Role.OPERATOR)
async def replay_dead_letters(request: Request) -> Response:
    """
    ---
    summary: 'Queue dead letters for delivery again (body optional, {"seq": [1, 2]})'
    responses:
      200: {description: "{replayed}"}
    """
    state = state_of(request)
    if state.events_queue is None:
        return error(404, "no `events:` section in the project file")
    seqs = None
    body = await request.body()
    if body.strip():
        data = _json_body(body)
        seq = data.get("seq") if isinstance(data, dict) else ()
        if seq is not None:
            # a string was read as its digits ("12": seqs 1 and 2), a float cut, a number
            # past SQLite's integers a 500
            if not isinstance(seq, list) or not all(_is_seq(item) for item in seq):
                return error(400, 'the body must be {"seq": [numbers]} or empty (replay all)')
            seqs = seq
    return JSONResponse({"replayed": await asyncio.to_thread(state.replay, seqs)})


#: the largest seq SQLite can hold
MAX_SEQ = 2**63 - 1


def _is_seq(value: object) -> bool:
    """Whether ``value`` is a queue seq: a whole JSON number SQLite can hold (not a bool)."""
    return type(value) is int and 0 < value <= MAX_SEQ


def _json_body(body: bytes) -> Any:
    """The parsed body; None when it is not JSON (nested too deep for the parser included:
    RecursionError is no ValueError, and was a 500)."""
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        return None


async def openapi(request: Request) -> Response:
    """The OpenAPI document of this API (public: it holds no data)."""
    # the app's routes: those of other modules (the project file's) too
    return JSONResponse(schemas.get_schema(routes=request.app.routes))


routes: list[BaseRoute] = [
    Route("/api/v1/syncs", list_syncs, methods=["GET"]),
    Route("/api/v1/syncs/{name}/runs", trigger_run, methods=["POST"]),
    Route("/api/v1/syncs/{name}/plan", plan, methods=["POST"]),
    Route("/api/v1/syncs/{name}/reconcile", reconcile_sync, methods=["POST"]),
    Route("/api/v1/syncs/{name}/alerts", list_alerts, methods=["GET"]),
    Route("/api/v1/runs", list_runs, methods=["GET"]),
    Route("/api/v1/runs/{run_id}", get_run, methods=["GET"]),
    Route("/api/v1/runs/{run_id}/errors", run_errors, methods=["GET"]),
    Route("/api/v1/runs/{run_id}/requests", run_requests, methods=["GET"]),
    Route("/api/v1/runs/{run_id}/requests/stream", stream_requests, methods=["GET"]),
    Route("/api/v1/runs/{run_id}/cancel", cancel_run, methods=["POST"]),
    Route("/api/v1/schedules", list_schedules, methods=["GET"]),
    Route("/api/v1/schedules/{job}/pause", pause_schedule, methods=["POST"]),
    Route("/api/v1/schedules/{job}/resume", resume_schedule, methods=["POST"]),
    Route("/api/v1/extract/runs", trigger_extract, methods=["POST"]),
    Route("/api/v1/extract/runs", list_extracts, methods=["GET"]),
    Route("/api/v1/extract/alerts", list_extract_alerts, methods=["GET"]),
    Route("/api/v1/events/status", events_status, methods=["GET"]),
    Route("/api/v1/events/alerts", list_events_alerts, methods=["GET"]),
    Route("/api/v1/events/dead-letters/replay", replay_dead_letters, methods=["POST"]),
    Route("/api/openapi.json", openapi, methods=["GET"], include_in_schema=False),
]

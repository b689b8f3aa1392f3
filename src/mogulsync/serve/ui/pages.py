"""The web UI's pages: sign-in, Syncs, Runs, Run, Preview, Events, Extract.

Pages read through the same functions as the API. Every state-changing form posts the
page's CSRF token; a browser signed in with a viewer token sees no operator buttons and
is refused (403) if it posts anyway.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets
import zoneinfo
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from mogulsync.config.alerts import RECONCILE_PREFIX
from mogulsync.errors import MogulsyncError
from mogulsync.runs import RunStatus
from mogulsync.runs.models import ROW_ERROR_KINDS
from mogulsync.runs.store import RunNotFoundError
from mogulsync.serve.api import (
    MAX_SEQ,
    extract_alert_deliveries,
    offset_of,
    run_summary,
    set_paused,
    state_of,
    sync_listing,
)
from mogulsync.serve.auth import (
    CSRF_FIELD,
    LOGIN_COOKIE,
    SESSION_COOKIE,
    AuthError,
    Caller,
    Role,
    check_csrf,
)
from mogulsync.serve.runs import AlreadyRunningError, UnknownSyncError
from mogulsync.serve.schedule import EXTRACT_JOB
from mogulsync.serve.sparkline import sparkline
from mogulsync.serve.state import ServeState
from mogulsync.sync.connect import client_settings

_HERE = Path(__file__).parent
templates = Jinja2Templates(directory=str(_HERE / "templates"))


def when(value: str | None, zone: str = "UTC") -> str:
    """An ISO timestamp as ``2026-03-02 09:30 UTC`` ("—" for none); in another IANA zone
    as ``2026-03-02 10:30 Europe/Berlin`` (a cron's own zone, next to UTC)."""
    if not value:
        return "—"
    try:
        moment = dt.datetime.fromisoformat(value).astimezone(zoneinfo.ZoneInfo(zone))
    except ValueError:
        return value
    return f"{moment:%Y-%m-%d %H:%M} {zone}"


templates.env.filters["when"] = when
#: runs drawn in each sync's sparkline
SPARK_RUNS = 20
#: runs listed per page of the Runs page
RUNS_PER_PAGE = 50
#: alert deliveries listed on one sync's runs page
ALERTS_SHOWN = 20
#: success notices (``on_success``) listed on top of those: a frequent one would fill the list
SUCCESSES_SHOWN = 5
#: row errors listed on a run page
ERRORS_SHOWN = 500
#: messages shown after a redirect, by code
FLASHES = {
    "busy": "That sync is already running: its run is on the Syncs page.",
    "extract-busy": "The extract is already running.",
    "extract-started": "Extract started.",
    "extract-cancelling": "The extract stops before its next page (nothing of it is loaded).",
    "replayed": "Replayed {n} dead letter(s).",
    "paused": "Schedule paused: it starts nothing until resumed (Run now still works).",
    "resumed": "Schedule resumed: nothing missed while paused is caught up; it runs at its"
    " next slot.",
}


def _page(request: Request, template: str, caller: Caller, **context: Any) -> Response:
    state = state_of(request)
    context.update(
        caller=caller,
        role=caller.role.name.lower(),
        operator=caller.role >= Role.OPERATOR,
        signed_in=caller.session is not None,
        csrf=state.auth.csrf_of(caller),
    )
    context.setdefault("flash", _flash(request))
    response = templates.TemplateResponse(request, template, context)
    response.headers["Cache-Control"] = "no-store"
    return response


def _flash(request: Request) -> str | None:
    """The message a redirect asked for; only our own texts (a link cannot put words here)."""
    text = FLASHES.get(request.query_params.get("flash", ""))
    if text is None:
        return None
    count = request.query_params.get("n", "")
    # isdigit() alone takes "²" (and int() then fails: a 500); a count has few digits
    return text.format(
        n=int(count) if count.isascii() and count.isdigit() and len(count) < 10 else 0
    )


def _viewer(request: Request) -> Caller | Response:
    """The signed-in caller, or a redirect to /login."""
    try:
        return state_of(request).auth.require(request, Role.VIEWER)
    except AuthError as exc:
        if exc.status == 401:
            return RedirectResponse("/login", status_code=303)
        return Response(exc.message, status_code=exc.status, media_type="text/plain")


async def _operator(request: Request) -> Caller | Response:
    """An operator posting a form with the right CSRF token, or the refusal."""
    form = await request.form()
    submitted = str(form.get(CSRF_FIELD, ""))
    try:
        return state_of(request).auth.require(request, Role.OPERATOR, submitted=submitted)
    except AuthError as exc:
        if exc.status == 401:
            return RedirectResponse("/login", status_code=303)
        return Response(exc.message, status_code=exc.status, media_type="text/plain")


def over_https(request: Request) -> bool:
    """Whether the browser reached us over https: directly, or through the TLS-terminating
    proxy docs/serve.md asks for, which says so in ``X-Forwarded-Proto`` or ``Forwarded``
    (the server itself speaks plain http, so its own scheme never said https and the
    session cookie was never ``Secure``). Believed from anyone: a client claiming https
    only gets a stricter cookie, one its browser does not send back over http."""
    if request.url.scheme == "https":
        return True
    forwarded = request.headers.get("x-forwarded-proto", "")
    # the first value is what the client used (each proxy on the way appends its own)
    if forwarded.split(",")[0].strip().lower() == "https":
        return True
    first = request.headers.get("forwarded", "").split(",")[0]
    return any(part.strip().lower().replace('"', "") == "proto=https" for part in first.split(";"))


async def login_page(request: Request) -> Response:
    """The sign-in form (its CSRF token rides in a short-lived cookie too)."""
    token = request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(32)
    context = {"login_csrf": token, "failed": request.query_params.get("failed") == "1"}
    response = templates.TemplateResponse(request, "login.html", {**context, "caller": None})
    response.set_cookie(LOGIN_COOKIE, token, httponly=True, samesite="strict", path="/login",
                        secure=over_https(request))  # fmt: skip
    response.headers["Cache-Control"] = "no-store"
    return response


async def login(request: Request) -> Response:
    """Check the token; a session cookie on success (the token itself is never stored)."""
    state = state_of(request)
    form = await request.form()
    try:
        check_csrf(request.cookies.get(LOGIN_COOKIE, ""), str(form.get(CSRF_FIELD, "")))
    except AuthError as exc:
        return Response(exc.message, status_code=403, media_type="text/plain")
    session_id = state.auth.sign_in(str(form.get("token", "")))
    if session_id is None:
        return RedirectResponse("/login?failed=1", status_code=303)
    response = RedirectResponse("/syncs", status_code=303)
    response.set_cookie(SESSION_COOKIE, session_id, httponly=True, samesite="strict", path="/",
                        secure=over_https(request))  # fmt: skip
    response.delete_cookie(LOGIN_COOKIE, path="/login")
    return response


async def logout(request: Request) -> Response:
    """Forget the session."""
    caller = await _operator_or_viewer_form(request)
    if isinstance(caller, Response):
        return caller
    session_id = request.cookies.get(SESSION_COOKIE)
    if session_id:
        state_of(request).auth.sign_out(session_id)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


async def _operator_or_viewer_form(request: Request) -> Caller | Response:
    form = await request.form()
    try:
        return state_of(request).auth.require(
            request, Role.VIEWER, submitted=str(form.get(CSRF_FIELD, ""))
        )
    except AuthError as exc:
        return Response(exc.message, status_code=exc.status, media_type="text/plain")


async def home(_request: Request) -> Response:
    """The Syncs page is home."""
    return RedirectResponse("/syncs", status_code=303)


async def syncs_page(request: Request) -> Response:
    """Every sync: schedule, next run, last run, a sparkline and Run now."""
    caller = _viewer(request)
    if isinstance(caller, Response):
        return caller
    return _syncs(request, caller)


def _syncs(request: Request, caller: Caller, problem: str | None = None) -> Response:
    """The Syncs page, with ``problem`` (why a Preview or Reconcile could not be made)."""
    state = state_of(request)
    listing = sync_listing(state)
    scheduled = state.scheduler.states if state.scheduler else {}
    store = state.run_store()
    try:
        for item in listing:
            job = scheduled.get(item["name"])
            item["scheduled"] = job is not None
            item["paused_since"] = (
                job.paused_since.isoformat() if job and job.paused_since else None
            )
            schedule = state.config.syncs[item["name"]].schedule
            # a cron in another zone: its next run in that zone too (02:30 UTC is 03:30 in
            # Berlin in winter, 04:30 in summer; the cron reads the zone's wall clock)
            if schedule is not None and schedule.cron and schedule.timezone != "UTC":
                item["zone"] = schedule.timezone
            recent = store.latest(sync=item["name"], limit=SPARK_RUNS)
            item["last"] = recent[0] if recent else None
            item["spark"] = sparkline(recent)
    finally:
        store.close()
    return _page(
        request, "syncs.html", caller, syncs=listing, problem=problem,
        alerts_on=bool(state.config.alerts.channels), nav="syncs",
    )  # fmt: skip


async def runs_page(request: Request) -> Response:
    """Every run, newest first, a page at a time; filter by sync and by status."""
    caller = _viewer(request)
    if isinstance(caller, Response):
        return caller
    state = state_of(request)
    sync = request.query_params.get("sync", "")
    status = request.query_params.get("status", "")
    offset = offset_of(request)
    store = state.run_store()
    try:
        # one more than a page: whether an older page exists, without counting them all
        found = store.latest(
            sync=sync or None, status=status or None, limit=RUNS_PER_PAGE + 1, offset=offset
        )
        # one sync's page: the alerts sent about it (and its drift watch), delivered or not
        names = [sync, f"{RECONCILE_PREFIX}{sync}"] if sync in state.config.syncs else [sync]
        alerts = (
            [
                sent.as_dict()
                for sent in store.deliveries(names, limit=ALERTS_SHOWN, successes=SUCCESSES_SHOWN)
            ]
            if sync
            else []
        )
    finally:
        store.close()
    runs = [run_summary(state, record) for record in found[:RUNS_PER_PAGE]]
    filters = {key: value for key, value in (("sync", sync), ("status", status)) if value}
    older = _query(filters, offset + RUNS_PER_PAGE) if len(found) > RUNS_PER_PAGE else None
    newer = _query(filters, max(offset - RUNS_PER_PAGE, 0)) if offset > 0 else None
    return _page(
        request, "runs.html", caller, runs=runs, sync=sync, status=status,
        # a drift watch's runs (reconcile:<sync>), reached from its run page, stay selected
        syncs=sorted({*state.config.syncs, *([sync] if sync else [])}),
        statuses=[s.value for s in RunStatus],
        first=offset + 1, older=older, newer=newer, nav="runs", alerts=alerts,
        alerts_on=bool(state.config.alerts.channels),
    )  # fmt: skip


def _query(filters: dict[str, str], offset: int) -> str:
    """The runs page's query string for another page with the same filters."""
    return "?" + urlencode({**filters, **({"offset": offset} if offset else {})})


async def pause(request: Request) -> Response:
    """Pause a job's schedule (operators)."""
    return await _set_paused(request, paused=True)


async def resume(request: Request) -> Response:
    """Resume a paused schedule (operators)."""
    return await _set_paused(request, paused=False)


async def _set_paused(request: Request, *, paused: bool) -> Response:
    caller = await _operator(request)
    if isinstance(caller, Response):
        return caller
    job = request.path_params["job"]
    try:
        await set_paused(state_of(request), job, paused=paused)
    except UnknownSyncError as exc:
        return Response(exc.user_message, status_code=404, media_type="text/plain")
    page = "/extract" if job == EXTRACT_JOB else "/syncs"
    return RedirectResponse(f"{page}?flash={'paused' if paused else 'resumed'}", status_code=303)


async def run_now(request: Request) -> Response:
    """Start a run and show it."""
    caller = await _operator(request)
    if isinstance(caller, Response):
        return caller
    name = request.path_params["name"]
    try:
        run = await state_of(request).manager.start_sync(name)
    except UnknownSyncError as exc:
        return Response(exc.user_message, status_code=404, media_type="text/plain")
    except AlreadyRunningError:
        return RedirectResponse("/syncs?flash=busy", status_code=303)
    return RedirectResponse(f"/runs/{run.run_id}", status_code=303)


async def run_page(request: Request) -> Response:
    """Counts, row errors (search by key, filter by kind) and the live debugger."""
    caller = _viewer(request)
    if isinstance(caller, Response):
        return caller
    state = state_of(request)
    run_id = request.path_params["run_id"]
    q = request.query_params.get("q", "")
    kind = request.query_params.get("kind", "")
    store = state.run_store()
    try:
        record = store.get(run_id)
        found = store.errors(run_id)
        deleted = store.errors_deleted(run_id)
    except RunNotFoundError as exc:
        return Response(exc.user_message, status_code=404, media_type="text/plain")
    finally:
        store.close()
    errors = [e for e in found if q in e.key and (not kind or e.kind == kind)]
    summary = run_summary(state, record)
    duration = float(summary["duration_s"]) or 0.0
    rate = f"{summary['api_calls'] / duration:.1f}" if duration > 0 else "—"
    return _page(
        request, "run.html", caller, run=summary, errors=errors[:ERRORS_SHOWN],
        errors_total=len(errors), q=q, kind=kind, kinds=ROW_ERROR_KINDS, rate=rate,
        errors_deleted=deleted,
        running=state.manager.by_run_id(run_id) is not None, nav="syncs",
    )  # fmt: skip


async def cancel(request: Request) -> Response:
    """Ask a running sync to stop."""
    caller = await _operator(request)
    if isinstance(caller, Response):
        return caller
    run_id = request.path_params["run_id"]
    state_of(request).manager.cancel(run_id)
    return RedirectResponse(f"/runs/{run_id}", status_code=303)


def _viewer_of_sync(request: Request) -> tuple[Caller, ServeState, str] | Response:
    """A signed-in caller and the sync the path names (or the sign-in redirect / a 404)."""
    caller = _viewer(request)
    if isinstance(caller, Response):
        return caller
    state = state_of(request)
    name = request.path_params["name"]
    if name not in state.config.syncs:
        return Response(f"no sync named {name}", status_code=404, media_type="text/plain")
    return caller, state, name


async def preview_page(request: Request) -> Response:
    """The plan with samples; for updates, each changing field from → to."""
    from mogulsync.serve.preview import preview

    found = _viewer_of_sync(request)
    if isinstance(found, Response):
        return found
    caller, state, name = found
    try:
        plan = await preview(state.config, name, client_settings(state.config))
    except MogulsyncError as exc:
        return _syncs(request, caller, exc.user_message)
    return _page(request, "preview.html", caller, name=name, plan=plan, nav="syncs")


async def reconcile_page(request: Request) -> Response:
    """Does ChartMogul match the warehouse? A live reconcile, and the drift watch's history."""
    from mogulsync.config.alerts import RECONCILE_PREFIX
    from mogulsync.reconcile import reconcile

    found = _viewer_of_sync(request)
    if isinstance(found, Response):
        return found
    caller, state, name = found
    try:
        report = await reconcile(state.config, name)  # read-only: records nothing
    except MogulsyncError as exc:
        return _syncs(request, caller, exc.user_message)
    store = state.run_store()
    try:
        watches = store.latest(sync=f"{RECONCILE_PREFIX}{name}", limit=SPARK_RUNS)
    finally:
        store.close()
    return _page(
        request, "reconcile.html", caller, name=name, report=report.summary(),
        watches=watches, nav="syncs",
    )  # fmt: skip


async def events_page(request: Request) -> Response:
    """Queue depth, events/s, oldest pending, failures and dead letters with Replay."""
    caller = _viewer(request)
    if isinstance(caller, Response):
        return caller
    state = state_of(request)
    status = await asyncio.to_thread(state.events_status)
    rate = f"{status['events_per_s']:.1f}" if status is not None else "—"
    return _page(request, "events.html", caller, status=status, rate=rate, nav="events")


async def replay(request: Request) -> Response:
    """Replay one dead letter (``seq``) or all of them."""
    caller = await _operator(request)
    if isinstance(caller, Response):
        return caller
    form = await request.form()
    seq = str(form.get("seq") or "")
    if seq and not (seq.isdecimal() and seq.isascii() and 0 < int(seq) <= MAX_SEQ):
        return Response(f"not a dead letter's seq: {seq}", status_code=400, media_type="text/plain")
    seqs = [int(seq)] if seq else None
    replayed = await asyncio.to_thread(state_of(request).replay, seqs)
    return RedirectResponse(f"/events?flash=replayed&n={replayed}", status_code=303)


async def extract_page(request: Request) -> Response:
    """Streams, the last run and rows per stream."""
    from mogulsync.extract.streams import STREAMS

    caller = _viewer(request)
    if isinstance(caller, Response):
        return caller
    state = state_of(request)
    extract = state.config.extract
    runs = state.manager.extracts
    last = next((r for r in runs if r.report), None)
    scheduled = state.scheduler.states.get(EXTRACT_JOB) if state.scheduler else None
    next_run = state.scheduler.next_runs().get(EXTRACT_JOB) if state.scheduler else None
    paused_since = scheduled.paused_since if scheduled else None
    alerts = extract_alert_deliveries(state, ALERTS_SHOWN, successes=SUCCESSES_SHOWN)
    return _page(
        request, "extract.html", caller, streams=extract.streams or list(STREAMS),
        alerts=alerts, alerts_on=bool(state.config.alerts.channels),
        runs=runs, last=last, running=state.manager.extract,
        destination=_display(extract.destination.get_secret_value()),
        dataset=extract.dataset, mode=extract.mode,
        schedule=extract.schedule.describe() if extract.schedule else None,
        next_run=next_run.isoformat() if next_run else None, nav="extract",
        scheduled=scheduled is not None,
        paused_since=paused_since.isoformat() if paused_since else None,
    )  # fmt: skip


async def run_extract(request: Request) -> Response:
    """Start the extract."""
    caller = await _operator(request)
    if isinstance(caller, Response):
        return caller
    try:
        await state_of(request).manager.start_extract()
    except AlreadyRunningError:
        return RedirectResponse("/extract?flash=extract-busy", status_code=303)
    return RedirectResponse("/extract?flash=extract-started", status_code=303)


async def cancel_extract(request: Request) -> Response:
    """Ask the running extract to stop before its next page."""
    caller = await _operator(request)
    if isinstance(caller, Response):
        return caller
    manager = state_of(request).manager
    running = manager.extract
    if running is not None and manager.cancel(running.run_id):
        return RedirectResponse("/extract?flash=extract-cancelling", status_code=303)
    return RedirectResponse("/extract", status_code=303)


def _display(url: str) -> str:
    """A destination without any credential: the user info and credential query
    parameters (``sslpassword=``, ``motherduck_token=``) masked, as in every message."""
    from mogulsync._redact import display_url

    return display_url(url)


routes = [
    Route("/", home, methods=["GET"]),
    Route("/login", login_page, methods=["GET"]),
    Route("/login", login, methods=["POST"]),
    Route("/logout", logout, methods=["POST"]),
    Route("/syncs", syncs_page, methods=["GET"]),
    Route("/syncs/{name}/run", run_now, methods=["POST"]),
    Route("/schedules/{job}/pause", pause, methods=["POST"]),
    Route("/schedules/{job}/resume", resume, methods=["POST"]),
    Route("/syncs/{name}/preview", preview_page, methods=["GET"]),
    Route("/syncs/{name}/reconcile", reconcile_page, methods=["GET"]),
    Route("/runs", runs_page, methods=["GET"]),
    Route("/runs/{run_id}", run_page, methods=["GET"]),
    Route("/runs/{run_id}/cancel", cancel, methods=["POST"]),
    Route("/events", events_page, methods=["GET"]),
    Route("/events/replay", replay, methods=["POST"]),
    Route("/extract", extract_page, methods=["GET"]),
    Route("/extract/run", run_extract, methods=["POST"]),
    Route("/extract/cancel", cancel_extract, methods=["POST"]),
    Mount("/static", app=StaticFiles(directory=str(_HERE / "static")), name="static"),
]

"""The Settings pages: the project file with Validate, Save and Reload; its versions with a
diff against the file now and Revert.

Operators see them read-only, admins edit; viewers are refused (the file names hosts,
users and the variables holding secrets). Every form carries the CSRF token; Save and
Revert carry the hash of the text the page showed, so a file changed on disk meanwhile is
not overwritten (409). A file holding a secret in clear is not shown: the page names the
YAML paths instead.
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mogulsync.errors import MogulsyncError
from mogulsync.serve.api import state_of
from mogulsync.serve.auth import CSRF_FIELD, AuthError, Caller, Role
from mogulsync.serve.project import Problem, ProjectFile, literal_secrets_of
from mogulsync.serve.project_api import (
    NO_PROJECT,
    Saved,
    current,
    reload_status,
    save,
    versions,
)
from mogulsync.serve.reload import Reload
from mogulsync.serve.ui.pages import _page


def _refused(exc: AuthError) -> Response:
    if exc.status == 401:
        from starlette.responses import RedirectResponse

        return RedirectResponse("/login", status_code=303)
    return Response(exc.message, status_code=exc.status, media_type="text/plain")


def _reader(request: Request) -> Caller | Response:
    """An operator or admin (viewers are refused), or the sign-in redirect."""
    try:
        return state_of(request).auth.require(request, Role.OPERATOR)
    except AuthError as exc:
        return _refused(exc)


async def _admin_form(request: Request) -> tuple[Caller, Any] | Response:
    """An admin posting a form with the page's CSRF token, and the form."""
    form = await request.form()
    try:
        caller = state_of(request).auth.require(
            request, Role.ADMIN, submitted=str(form.get(CSRF_FIELD, ""))
        )
    except AuthError as exc:
        return _refused(exc)
    return caller, form


def _settings(
    request: Request,
    caller: Caller,
    *,
    status: int = 200,
    text: str | None = None,
    problems: list[Problem] | None = None,
    warnings: list[Problem] | None = None,
    message: str | None = None,
    ok: bool = False,
    reload: Reload | None = None,
    kept_text: bool = True,
) -> Response:
    """The Settings page: the file now, or the text the admin was editing (``text``)."""
    state = state_of(request)
    if state.project is None:
        return _page(request, "settings.html", caller, nav="settings", file=None,
                     no_project=NO_PROJECT)  # fmt: skip
    try:
        file = current(state.project)
    except MogulsyncError as exc:
        return _page(request, "settings.html", caller, nav="settings", file=None,
                     no_project=exc.user_message)  # fmt: skip
    response = _page(
        request, "settings.html", caller, nav="settings", file=file,
        text=file["text"] if text is None else text, problems=problems or [],
        warnings=warnings or [],
        message=message, ok=ok, reload=reload, kept_text=kept_text,
        admin=caller.role >= Role.ADMIN,
    )  # fmt: skip
    response.status_code = status
    return response


async def settings_page(request: Request) -> Response:
    """The project file, with Validate, Save and Reload for admins."""
    caller = _reader(request)
    if isinstance(caller, Response):
        return caller
    return await asyncio.to_thread(_settings, request, caller)


async def settings_post(request: Request) -> Response:
    """Validate or Save the text of the page (admins)."""
    found = await _admin_form(request)
    if isinstance(found, Response):
        return found
    caller, form = found
    state = state_of(request)
    if state.project is None:
        return Response(NO_PROJECT, status_code=404, media_type="text/plain")
    # browsers send a textarea's lines with CRLF, whatever the file had: it keeps its own
    text = str(form.get("text", "")).replace("\r\n", "\n")
    if form.get("action") != "validate" and await asyncio.to_thread(_crlf, state.project):
        text = text.replace("\n", "\r\n")  # a Windows file stays one (a diff of one line)
    if form.get("action") == "validate":
        checked = await asyncio.to_thread(state.project.check, text)
        checked = await asyncio.to_thread(state.project.check_mappings, checked, text)
        message = "Valid: serve would start with this file." if checked.valid else None
        return _echo(request, caller, text, checked.literal_secrets, problems=checked.problems,
                     warnings=checked.warnings, message=message, ok=checked.valid)  # fmt: skip
    saved = await save(state, text, str(form.get("hash", "")), caller, request)
    return _after_save(request, caller, text, saved)


def _crlf(project: ProjectFile) -> bool:
    """Whether the file on disk ends its lines with CRLF (a file written on Windows)."""
    try:
        text, _ = project.read()
    except MogulsyncError:
        return False
    return "\r\n" in text


def _after_save(request: Request, caller: Caller, text: str, saved: Saved) -> Response:
    if saved.saved:
        applied = saved.reload is not None and saved.reload.applied
        return _settings(request, caller, message=f"Saved. {_reload_line(saved.reload)}",
                         ok=applied, reload=saved.reload)  # fmt: skip
    return _echo(request, caller, text, saved.literal_secrets, problems=saved.problems,
                 message=saved.message, status=saved.status)  # fmt: skip


def _echo(
    request: Request,
    caller: Caller,
    text: str,
    literal: list[str],
    **context: Any,
) -> Response:
    """The page again with the admin's text, unless it holds a secret in clear: a page
    never shows one, so the file now is shown instead (the problems say where)."""
    if literal or literal_secrets_of(text):
        return _settings(request, caller, kept_text=False, **context)
    return _settings(request, caller, text=text, **context)


def _reload_line(reload: Reload | None) -> str:
    if reload is None:
        return ""
    return reload.message[:1].upper() + reload.message[1:] + "."


async def reload_post(request: Request) -> Response:
    """Read the project file again and apply it (admins)."""
    found = await _admin_form(request)
    if isinstance(found, Response):
        return found
    caller, _form = found
    state = state_of(request)
    if state.reload is None:
        return Response(NO_PROJECT, status_code=404, media_type="text/plain")
    result = await state.reload()
    status = reload_status(result)
    return _settings(request, caller, status=status, problems=result.problems,
                     message=_reload_line(result), ok=result.applied, reload=result)  # fmt: skip


async def versions_page(request: Request) -> Response:
    """The versions kept, each with its diff against the file now, and Revert (admins)."""
    caller = _reader(request)
    if isinstance(caller, Response):
        return caller
    return await asyncio.to_thread(_versions, request, caller)


def _versions(request: Request, caller: Caller, **context: Any) -> Response:
    state = state_of(request)
    if state.project is None:
        return Response(NO_PROJECT, status_code=404, media_type="text/plain")
    try:
        file = current(state.project)
        kept = versions(state.project)
    except MogulsyncError as exc:
        return Response(exc.user_message, status_code=422, media_type="text/plain")
    return _page(request, "settings_versions.html", caller, nav="settings", file=file,
                 versions=kept, admin=caller.role >= Role.ADMIN, **context)  # fmt: skip


async def revert_post(request: Request) -> Response:
    """Save a kept version again (checked as any save; admins)."""
    found = await _admin_form(request)
    if isinstance(found, Response):
        return found
    caller, form = found
    state = state_of(request)
    if state.project is None:
        return Response(NO_PROJECT, status_code=404, media_type="text/plain")
    try:
        version_id = int(request.path_params["version"])
    except ValueError:
        version_id = -1
    version = await asyncio.to_thread(state.project.version, version_id)
    if version is None:
        return Response("no such version (the latest 20 are kept)", status_code=404,
                        media_type="text/plain")  # fmt: skip
    saved = await save(state, version.text, str(form.get("hash", "")), caller, request)
    if saved.saved:
        message = f"Version {version.id} restored. {_reload_line(saved.reload)}"
        return _settings(request, caller, message=message,
                         ok=saved.reload is not None and saved.reload.applied,
                         reload=saved.reload)  # fmt: skip
    return _after_save(request, caller, version.text, saved)


routes = [
    Route("/settings", settings_page, methods=["GET"]),
    Route("/settings", settings_post, methods=["POST"]),
    Route("/settings/reload", reload_post, methods=["POST"]),
    Route("/settings/versions", versions_page, methods=["GET"]),
    Route("/settings/versions/{version}/revert", revert_post, methods=["POST"]),
]

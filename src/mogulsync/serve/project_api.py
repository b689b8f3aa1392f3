"""The project file over the API: read, check, save and reload it; its versions.

Reading it (and its versions) needs the operator role: it names hosts, users, addresses
and the variables that hold secrets, which a viewer's token need not reveal. Checking,
saving and reloading it need the admin role: a project file says where data and secrets
go. A file holding a secret in clear is never sent (nor saved over, nor kept).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from mogulsync.errors import MogulsyncError
from mogulsync.serve.api import error, state_of
from mogulsync.serve.auth import AuthError, Caller, Role
from mogulsync.serve.project import (
    LiteralSecretsError,
    Problem,
    ProjectFile,
    StaleFileError,
    UnreadableFileError,
    UnwritableError,
    diff,
    literal_secrets_of,
    unreadable,
)
from mogulsync.serve.reload import Reload
from mogulsync.serve.state import ServeState

NO_PROJECT = "this server was not started from a project file (`mogulsync serve -c FILE`)"


@dataclass(slots=True)
class Saved:
    """The outcome of a save: written and reloaded, or why not."""

    status: int
    message: str
    hash: str | None = None
    problems: list[Problem] = field(default_factory=list)
    literal_secrets: list[str] = field(default_factory=list)
    reload: Reload | None = None

    @property
    def saved(self) -> bool:
        """Whether the file was written."""
        return self.status == 200

    def as_dict(self) -> dict[str, Any]:
        """As the API answers it."""
        body: dict[str, Any] = {
            "saved": self.saved,
            "hash": self.hash,
            "problems": [problem.as_dict() for problem in self.problems],
            "literal_secrets": self.literal_secrets,
            "reload": self.reload.as_dict() if self.reload is not None else None,
        }
        body["message" if self.saved else "error"] = self.message
        return body


def who(caller: Caller, request: Request) -> tuple[str, str]:
    """The role and remote address a saved version is kept with."""
    return caller.role.name.lower(), request.client.host if request.client else ""


def current(project: ProjectFile) -> dict[str, Any]:
    """The file as the editor shows it: its text, or (holding secrets in clear) only where
    they are."""
    text, sha256 = project.read()
    literal = literal_secrets_of(text)
    broken = None if literal else unreadable(text)
    body: dict[str, Any] = {
        "path": str(project.path),
        "hash": sha256,
        "text": None if literal or broken is not None else text,
        "literal_secrets": literal,
        # false: the server runs another version (not reloaded yet, or it needs a restart)
        "applied": sha256 == project.applied,
    }
    if literal:
        body["message"] = LiteralSecretsError(literal, on_disk=True).user_message
    elif broken is not None:
        body["message"] = UnreadableFileError(broken).user_message
    return body


async def save(
    state: ServeState, text: str, expected_hash: str, caller: Caller, request: Request
) -> Saved:
    """Check ``text``, write it over the file if it still has ``expected_hash``, then reload."""
    project = state.project
    if project is None:
        return Saved(404, NO_PROJECT)
    role, remote = who(caller, request)
    async with state.project_lock:
        checked = await asyncio.to_thread(project.check, text)
        if checked.literal_secrets:
            refused = LiteralSecretsError(checked.literal_secrets, on_disk=False)
            return Saved(422, refused.user_message, problems=checked.problems,
                         literal_secrets=checked.literal_secrets)  # fmt: skip
        if checked.config is None:
            return Saved(
                422,
                f"the text has {len(checked.problems)} problem(s): nothing was saved",
                problems=checked.problems,
            )
        try:
            sha256 = await asyncio.to_thread(
                project.write, text, expected_hash, role=role, remote=remote
            )
        except LiteralSecretsError as exc:
            return Saved(409, exc.user_message, literal_secrets=exc.paths)
        except (StaleFileError, UnreadableFileError) as exc:
            return Saved(409, exc.user_message)
        except UnwritableError as exc:
            return Saved(422, exc.user_message)
    reloaded = await state.reload() if state.reload is not None else None
    message = "saved" + (f"; {reloaded.message}" if reloaded is not None else "")
    return Saved(200, message, hash=sha256, reload=reloaded)


def versions(project: ProjectFile) -> list[dict[str, Any]]:
    """The versions kept, newest first, each with its diff against the file now (none
    while the file on disk holds a secret in clear, or cannot be read: its lines are not
    shown)."""
    text, sha256 = project.read()
    hidden = bool(literal_secrets_of(text)) or unreadable(text) is not None
    listed = []
    for version in project.versions():
        item = version.as_dict()
        item["current"] = version.sha256 == sha256
        item["diff"] = (
            None if hidden else diff(version.text, text, f"version {version.id}", "the file now")
        )
        listed.append(item)
    return listed


def _allowed(request: Request, role: Role) -> Caller | Response:
    state = state_of(request)
    try:
        return state.auth.require(request, role)
    except AuthError as exc:
        return error(exc.status, exc.message)


def _project(request: Request) -> ProjectFile | Response:
    project = state_of(request).project
    return error(404, NO_PROJECT) if project is None else project


async def _json_object(request: Request, keys: tuple[str, ...]) -> dict[str, str] | Response:
    """The body's string fields ``keys`` (400 when it is not such a JSON object)."""
    example = "{" + ", ".join(f'"{key}": "..."' for key in keys) + "}"
    try:
        data = json.loads(await request.body())
    except ValueError:
        return error(400, f"the body must be JSON: {example}")
    if not isinstance(data, dict) or not all(isinstance(data.get(k), str) for k in keys):
        return error(400, f"the body must be a JSON object {example}")
    return {key: data[key] for key in keys}


async def _read_project(request: Request, read: Callable[[ProjectFile], Any]) -> Response:
    """An operator's read of the project file (``read`` runs off the event loop)."""
    caller = _allowed(request, Role.OPERATOR)
    if isinstance(caller, Response):
        return caller
    project = _project(request)
    if isinstance(project, Response):
        return project
    try:
        return JSONResponse(await asyncio.to_thread(read, project))
    except MogulsyncError as exc:
        return error(422, exc.user_message)


async def get_project(request: Request) -> Response:
    """
    ---
    summary: 'The project file: its text and hash (no text while it holds a secret in clear)'
    responses:
      200: {description: "{path, hash, text, literal_secrets, applied}"}
      404: {description: not started from a project file}
    """
    return await _read_project(request, current)


async def put_project(request: Request) -> Response:
    """
    ---
    summary: 'Save the project file ({"text", "hash"}: the hash it was read with), then reload'
    responses:
      200: {description: "{saved, hash, reload}"}
      400: {description: a body that is not such JSON}
      409: {description: the file changed since it was read, or it holds a secret in clear}
      422: {description: "the text is not valid, or holds a secret in clear: {problems}"}
    """
    caller = _allowed(request, Role.ADMIN)
    if isinstance(caller, Response):
        return caller
    body = await _json_object(request, ("text", "hash"))
    if isinstance(body, Response):
        return body
    state = state_of(request)
    try:
        saved = await save(state, body["text"], body["hash"], caller, request)
    except MogulsyncError as exc:
        return error(422, exc.user_message)
    return JSONResponse(saved.as_dict(), status_code=saved.status)


async def validate_project(request: Request) -> Response:
    """
    ---
    summary: 'Check a project file''s text as serve checks its file at start ({"text"})'
    responses:
      200: {description: "{valid, problems: [{path, line, message}], literal_secrets,
        warnings: mapping problems a run would fail on}"}
      400: {description: a body that is not such JSON}
    """
    caller = _allowed(request, Role.ADMIN)
    if isinstance(caller, Response):
        return caller
    project = _project(request)
    if isinstance(project, Response):
        return project
    body = await _json_object(request, ("text",))
    if isinstance(body, Response):
        return body
    checked = await asyncio.to_thread(project.check, body["text"])
    checked = await asyncio.to_thread(project.check_mappings, checked, body["text"])
    return JSONResponse(
        {
            "valid": checked.valid,
            "problems": [problem.as_dict() for problem in checked.problems],
            "literal_secrets": checked.literal_secrets,
            "warnings": [problem.as_dict() for problem in checked.warnings],
        }
    )


async def reload_project(request: Request) -> Response:
    """
    ---
    summary: 'Read the project file again and apply it (all of it, or nothing)'
    responses:
      200: {description: "{applied: true, syncs, schedules, message}"}
      409: {description: "it changes what only a restart applies: {restart_required}"}
      422: {description: "the file is not valid: {problems}"}
      503: {description: "nothing was reloaded (stopping, file unreadable, schedules unsaved)"}
    """
    caller = _allowed(request, Role.ADMIN)
    if isinstance(caller, Response):
        return caller
    state = state_of(request)
    if state.reload is None:
        return error(404, NO_PROJECT)
    result = await state.reload()
    status = reload_status(result)
    body = result.as_dict()
    if status != 200:
        body["error"] = result.message
    return JSONResponse(body, status_code=status)


def reload_status(result: Reload) -> int:
    """The HTTP status of a reload's outcome."""
    if result.applied:
        return 200
    if result.problems:
        return 422
    if result.restart_required:
        return 409
    return 503


async def list_versions(request: Request) -> Response:
    """
    ---
    summary: 'The versions kept (the latest 20), newest first, each with a diff against now'
    responses:
      200: {description: "[{id, saved_at, by: {role, remote}, hash, current, diff}]"}
    """
    return await _read_project(request, versions)


async def get_version(request: Request) -> Response:
    """
    ---
    summary: 'One kept version with its text (revert: PUT it with the file''s hash)'
    responses:
      200: {description: "{id, saved_at, by, hash, text}"}
      404: {description: no such version kept}
    """
    caller = _allowed(request, Role.OPERATOR)
    if isinstance(caller, Response):
        return caller
    project = _project(request)
    if isinstance(project, Response):
        return project
    try:
        version_id = int(request.path_params["version"])
    except ValueError:
        version_id = -1
    version = await asyncio.to_thread(project.version, version_id)
    if version is None:
        return error(404, "no such version (the latest 20 are kept)")
    return JSONResponse({**version.as_dict(), "text": version.text})


routes: list[BaseRoute] = [
    Route("/api/v1/project", get_project, methods=["GET"]),
    Route("/api/v1/project", put_project, methods=["PUT"]),
    Route("/api/v1/project/validate", validate_project, methods=["POST"]),
    Route("/api/v1/project/reload", reload_project, methods=["POST"]),
    Route("/api/v1/project/versions", list_versions, methods=["GET"]),
    Route("/api/v1/project/versions/{version}", get_version, methods=["GET"]),
]

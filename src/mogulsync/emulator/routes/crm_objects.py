"""Customer notes, opportunities and tasks: ``/v1/customer_notes``, ``/v1/opportunities``,
``/v1/tasks``.

Three small CRM resources with the same life cycle, so one table of :class:`Resource`
specs drives them: ``POST`` (201, the object), ``GET /{id}``, ``PATCH /{id}`` (200, the
object), ``DELETE /{id}`` (200 ``{}``) and ``GET ?customer_uuid=`` (``{entries, cursor,
has_more}``, newest first as the recorded cursors show). Shapes follow the recordings of the
official clients (chartmogul-ruby cassettes, chartmogul-go fixtures; see
tests/conformance/replay/README.md): notes have ``note_`` uuids and an ``author`` built
from ``author_email``; opportunities turn ``custom: [{key, value}]`` into a map; tasks are
keyed by ``task_uuid`` and carry ``completed_at``. Validation messages are ours [U].
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mogulsync.emulator._http import (
    error_fields,
    error_not_found,
    iso_millis,
    json_body,
    new_uuid,
    ok,
    page_rows,
    parse_time,
)
from mogulsync.emulator.routes._listing import fetcher
from mogulsync.emulator.routes._lookup import require_customer
from mogulsync.emulator.routes._validation import FieldChecker
from mogulsync.emulator.state import Emulator, emulator_of
from mogulsync.emulator.store import JSONDict, Row

NOTE_TYPES = ("note", "call")
MAX_NOTE_LENGTH = 10_000
DEFAULT_AUTHOR = "emulator@example.com"


def _author(email: str) -> str:
    """``Name (email)`` as recorded; the emulator has no staff names, so the local part."""
    return f"{email.split('@', 1)[0]} ({email})"


def _date(checker: FieldChecker, field: str) -> str | None:
    """A calendar date ``YYYY-MM-DD`` (opportunities' ``estimated_close_date``)."""
    value = checker.payload.get(field)
    if value is None:
        return None
    moment = parse_time(value)
    if moment is None:
        checker.fail(field, f"{field} must be a date (YYYY-MM-DD).")
        return None
    return f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}"


def _custom(checker: FieldChecker, field: str = "custom") -> JSONDict | None:
    """``[{key, value}]`` (or already a map) → ``{key: value}``."""
    value = checker.payload.get(field)
    if value is None:
        return None
    if isinstance(value, dict):
        return dict(value)
    if isinstance(value, list) and all(
        isinstance(item, dict) and isinstance(item.get("key"), str) for item in value
    ):
        return {item["key"]: item.get("value") for item in value}
    checker.fail(field, "custom must be a list of {key, value} objects.")
    return None


def _int(checker: FieldChecker, field: str) -> int | None:
    value = checker.payload.get(field)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        checker.fail(field, f"{field} must be an integer.")
        return None
    return value


#: ``call_duration`` of a call created without one, as every recorded call shows
DEFAULT_CALL_DURATION = 60


def _note_fields(checker: FieldChecker, creating: bool) -> JSONDict:
    fields: JSONDict = {}
    payload = checker.payload
    if creating or "type" in payload:
        kind = payload.get("type", "note")
        if kind not in NOTE_TYPES:
            checker.fail("type", "type must be note or call.")
        fields["type"] = kind
    if "text" in payload:
        fields["text"] = checker.text("text", max_length=MAX_NOTE_LENGTH)
    if creating or "call_duration" in payload:
        duration = _int(checker, "call_duration")
        if duration is None and creating:
            # calls created without a duration read 60, notes 0 (chartmogul-ruby note cassettes)
            duration = DEFAULT_CALL_DURATION if fields.get("type") == "call" else 0
        fields["call_duration"] = duration or 0
    if creating or "author_email" in payload:
        email = checker.email("author_email") or DEFAULT_AUTHOR
        fields["author"] = _author(email)
    return fields


def _opportunity_fields(checker: FieldChecker, creating: bool) -> JSONDict:
    del creating
    payload = checker.payload
    fields: JSONDict = {}
    for name in ("owner", "pipeline", "pipeline_stage", "currency", "type", "forecast_category"):
        if name in payload:
            fields[name] = checker.text(name)
    if "estimated_close_date" in payload:
        fields["estimated_close_date"] = _date(checker, "estimated_close_date")
    for name in ("amount_in_cents", "win_likelihood"):
        if name in payload:
            fields[name] = _int(checker, name)
    if "custom" in payload:
        fields["custom"] = _custom(checker)
    return fields


def _task_fields(checker: FieldChecker, creating: bool) -> JSONDict:
    payload = checker.payload
    fields: JSONDict = {}
    for name in ("task_details", "assignee"):
        if name in payload:
            fields[name] = checker.text(name, max_length=MAX_NOTE_LENGTH)
    for name in ("due_date", "completed_at"):
        if name in payload or (creating and name == "completed_at"):
            fields[name] = checker.timestamp(name)
    return fields


@dataclass(frozen=True, slots=True)
class Resource:
    """One CRM resource: where it lives and how its fields are read and ordered."""

    path: str
    kind: str
    thing: str
    id_key: str
    prefix: str
    keys: tuple[str, ...]
    fields: Callable[[FieldChecker, bool], JSONDict]
    required: tuple[str, ...]


NOTES = Resource(
    "/v1/customer_notes",
    "customer_note",
    "Note",
    "uuid",
    "note",
    ("type", "text", "call_duration", "author"),
    _note_fields,
    (),
)
OPPORTUNITIES = Resource(
    "/v1/opportunities",
    "opportunity",
    "Opportunity",
    "uuid",
    "",
    (
        "owner",
        "pipeline",
        "pipeline_stage",
        "estimated_close_date",
        "currency",
        "amount_in_cents",
        "type",
        "forecast_category",
        "win_likelihood",
        "custom",
    ),
    _opportunity_fields,
    ("owner", "pipeline", "pipeline_stage", "estimated_close_date", "currency"),
)
TASKS = Resource(
    "/v1/tasks",
    "task",
    "Task",
    "task_uuid",
    "",
    ("task_details", "assignee", "due_date", "completed_at"),
    _task_fields,
    ("task_details", "assignee", "due_date"),
)


def _render(spec: Resource, row: Row) -> JSONDict:
    body = row.body
    rendered: JSONDict = {spec.id_key: row.uuid, "customer_uuid": body.get("customer_uuid")}
    rendered.update({key: body.get(key) for key in spec.keys})
    rendered["created_at"] = body.get("created_at")
    rendered["updated_at"] = body.get("updated_at")
    return rendered


def _checked(spec: Resource, payload: JSONDict, *, creating: bool) -> JSONDict:
    checker = FieldChecker(payload)
    fields = spec.fields(checker, creating)
    if creating:
        for name in spec.required:
            if payload.get(name) in (None, ""):
                checker.fail(name, f"{name} is required.")
    checker.raise_if_any()
    return fields


def _require(emulator: Emulator, spec: Resource, uuid: str) -> Row:
    row = emulator.store.get(spec.kind, uuid)
    if row is None:
        raise error_not_found(spec.thing)
    return row


def _handlers(spec: Resource) -> list[Route]:
    async def create(request: Request) -> Response:
        emulator = emulator_of(request)
        payload = await json_body(request)
        if payload.get("customer_uuid") in (None, ""):
            raise error_fields({"customer_uuid": "customer_uuid is required."})
        customer = require_customer(emulator, payload.get("customer_uuid"), "customer_uuid")
        fields = _checked(spec, payload, creating=True)
        stamp = iso_millis(emulator.clock())
        body: JSONDict = {
            "customer_uuid": customer.uuid,
            **dict.fromkeys(spec.keys),
            **fields,
            "created_at": stamp,
            "updated_at": stamp,
        }
        uuid = new_uuid(spec.prefix)
        row = emulator.store.insert(spec.kind, uuid, body, parent_uuid=customer.uuid)
        return ok(_render(spec, row), 201)

    async def retrieve(request: Request) -> Response:
        row = _require(emulator_of(request), spec, request.path_params["uuid"])
        return ok(_render(spec, row))

    async def update(request: Request) -> Response:
        emulator = emulator_of(request)
        row = _require(emulator, spec, request.path_params["uuid"])
        fields = _checked(spec, await json_body(request), creating=False)
        body = {**row.body, **fields, "updated_at": iso_millis(emulator.clock())}
        emulator.store.update(spec.kind, row.uuid, body)
        return ok(_render(spec, Row(row.seq, row.uuid, body)))

    async def destroy(request: Request) -> Response:
        emulator = emulator_of(request)
        row = _require(emulator, spec, request.path_params["uuid"])
        emulator.store.delete(spec.kind, row.uuid)
        return ok({})

    async def list_all(request: Request) -> Response:
        emulator = emulator_of(request)
        query = request.query_params
        keep = _task_filter(query) if spec is TASKS else None
        fetch, count = fetcher(
            emulator.store,
            spec.kind,
            keep,
            descending=True,
            parent_uuid=query.get("customer_uuid"),
        )
        return ok(page_rows(request, fetch, count, lambda row: _render(spec, row), key="entries"))

    return [
        Route(spec.path, create, methods=["POST"]),
        Route(spec.path, list_all, methods=["GET"]),
        Route(f"{spec.path}/{{uuid}}", retrieve, methods=["GET"]),
        Route(f"{spec.path}/{{uuid}}", update, methods=["PATCH"]),
        Route(f"{spec.path}/{{uuid}}", destroy, methods=["DELETE"]),
    ]


def _task_filter(query: Any) -> Callable[[Row], bool] | None:
    """Tasks' own filters: ``assignee`` and ``completed`` (true/false)."""
    assignee = query.get("assignee")
    completed = query.get("completed")
    if assignee is None and completed is None:
        return None

    def keep(row: Row) -> bool:
        if assignee is not None and row.body.get("assignee") != assignee:
            return False
        if completed is not None:
            done = row.body.get("completed_at") is not None
            return bool(done == (str(completed).lower() == "true"))
        return True

    return keep


ROUTES = [route for spec in (NOTES, OPPORTUNITIES, TASKS) for route in _handlers(spec)]

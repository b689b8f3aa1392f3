"""Response helpers shared by the emulator's route modules.

ChartMogul's error bodies are not uniform; each helper here produces one documented shape
(numbers refer to the shapes in the API reference, section 3), so route modules pick the
shape the real endpoint uses instead of inventing their own.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import uuid as uuid_lib
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from mogulsync.emulator.store import JSONDict, Row

DEFAULT_PER_PAGE = 200
MAX_PER_PAGE = 200
#: deepest JSON nesting a request body may have; real payloads use three or four levels
MAX_JSON_DEPTH = 64
#: largest ``page`` / cursor position served; beyond it SQLite's 64-bit offsets overflow
MAX_POSITION = 2**53


class EmulatorHTTPError(Exception):
    """Raised inside a handler to answer with a prepared error response."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


# ---------------------------------------------------------------------- responses
def ok(body: Any, status: int = 200) -> JSONResponse:
    """A JSON response."""
    return JSONResponse(body, status_code=status)


def no_content() -> Response:
    """204 with an empty body."""
    return Response(status_code=204)


def error_code(status: int, message: str, param: str | None = None) -> EmulatorHTTPError:
    """Shape 1: ``{"code", "message", "param"}`` (401, 400, search 404, 429)."""
    return EmulatorHTTPError(
        JSONResponse({"code": status, "message": message, "param": param}, status_code=status)
    )


def error_fields(fields: dict[str, str], status: int = 422) -> EmulatorHTTPError:
    """Shape 2: ``{"errors": {field: message}}`` (import-API validation)."""
    return EmulatorHTTPError(JSONResponse({"errors": fields}, status_code=status))


def error_not_found(thing: str, param: str | None = None) -> EmulatorHTTPError:
    """Shape 3: ``{"error": "<Thing> not found"}`` with optional ``error_details``."""
    body: JSONDict = {"error": f"{thing} not found"}
    if param:
        body["error_details"] = [
            {"param": param, "code": "invalid", "message": f"{thing} not found"}
        ]
    return EmulatorHTTPError(JSONResponse(body, status_code=404))


def error_rails(
    fields: dict[str, list[str]], codes: dict[str, str] | None = None
) -> EmulatorHTTPError:
    """Shape 4: Rails-style field arrays plus ``error_details`` (plan groups)."""
    body: JSONDict = dict(fields)
    body["error_details"] = [
        {"param": field, "code": (codes or {}).get(field, "invalid"), "message": message}
        for field, messages in fields.items()
        for message in messages
    ]
    return EmulatorHTTPError(JSONResponse(body, status_code=422))


def error_message(status: int, message: str) -> EmulatorHTTPError:
    """Shape 5: ``{"message": "..."}`` (newer endpoints)."""
    return EmulatorHTTPError(JSONResponse({"message": message}, status_code=status))


def plain_error(status: int) -> Response:
    """Shape 6: gateway errors as plain text."""
    texts = {
        500: "Internal Server Error",
        502: "Bad Gateway",
        503: "Service Unavailable",
        504: "Gateway Timeout Error",
    }
    return PlainTextResponse(texts.get(status, "Error"), status_code=status)


# ---------------------------------------------------------------------- request bodies
async def json_body(request: Request, *, required: bool = True) -> JSONDict:
    """The request's JSON object; a 400 in shape 1 when it is not one."""
    raw = await request.body()
    if not raw.strip():
        if required:
            raise error_code(400, "Request body is missing or empty")
        return {}
    data = parse_json(raw)
    if not isinstance(data, dict):
        raise error_code(400, "Request body must be a JSON object")
    return data


def parse_json(raw: bytes) -> Any:
    """Decode a request body; every way it can be unreadable is a 400 in shape 1.

    Besides syntax errors this refuses what would otherwise crash a handler later: nesting
    deeper than :data:`MAX_JSON_DEPTH`, integers longer than Python's 4,300-digit limit, and
    the non-standard ``NaN`` / ``Infinity`` (and numbers such as ``1e400`` that overflow to
    them), which cannot be stored or echoed as JSON.
    """
    try:
        data = json.loads(raw, parse_constant=_refuse_constant, parse_float=_finite_float)
    except RecursionError as exc:
        raise error_code(400, _TOO_DEEP) from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise error_code(400, f"Invalid JSON in request body: {exc}") from exc
    except ValueError as exc:  # integer too long, NaN / Infinity
        raise error_code(400, f"Invalid JSON in request body: {exc}") from exc
    if _too_deep(data):
        raise error_code(400, _TOO_DEEP)
    return data


_TOO_DEEP = f"Invalid JSON in request body: nested deeper than {MAX_JSON_DEPTH} levels"


def _too_deep(data: Any) -> bool:
    """Whether containers nest past :data:`MAX_JSON_DEPTH` (iterative: no recursion)."""
    level: list[Any] = [data]
    for _ in range(MAX_JSON_DEPTH):
        level = [
            child
            for item in level
            if isinstance(item, dict | list)
            for child in (item.values() if isinstance(item, dict) else item)
        ]
        if not level:
            return False
    return any(isinstance(item, dict | list) for item in level)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"the number {text[:20]} is out of range")
    return value


# ---------------------------------------------------------------------- ids and time
def new_uuid(prefix: str) -> str:
    """A new ChartMogul-style identifier such as ``cus_<uuid>``."""
    return f"{prefix}_{uuid_lib.uuid1()}" if prefix else str(uuid_lib.uuid1())


def wall_clock() -> datetime:
    """Real UTC time. Only :class:`~mogulsync.emulator.state.Emulator` reads it: every
    timestamp the emulator produces comes from ``emulator.clock()``, which tests drive."""
    return datetime.now(UTC)


def parse_time(value: Any) -> datetime | None:
    """Parse ISO 8601 in the spellings ChartMogul accepts; None if it cannot be parsed."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    text = text.removesuffix(" UTC")
    text = text.replace("Z", "+00:00")
    # "2000-01-01 00:00:00 +0200" -> "2000-01-01 00:00:00+0200"
    if len(text) > 6 and text[-6] == " " and text[-5] in "+-":
        text = text[:-6] + text[-5:]
    try:
        parsed = datetime.fromisoformat(text)
        # "0001-01-01T00:00:00+23:59" parses but lies before year 1 in UTC: unreadable
        parsed = parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    except (ValueError, OverflowError):
        return None
    return parsed


def iso_millis(moment: datetime) -> str:
    """Import-object timestamps: ``2016-01-01T12:00:00.000Z``."""
    moment = moment.astimezone(UTC)
    # not strftime: glibc writes year 1 as "1", which no ISO 8601 reader accepts
    return f"{_date_time(moment)}.{moment.microsecond // 1000:03d}Z"


def iso_offset(moment: datetime) -> str:
    """Metrics-style timestamps: ``2016-01-01T12:00:00+00:00``."""
    return moment.astimezone(UTC).replace(microsecond=0).isoformat()


def iso_seconds(moment: datetime) -> str:
    """Subscription-event timestamps: ``2022-05-18T09:48:34Z``."""
    return f"{_date_time(moment.astimezone(UTC))}Z"


def _date_time(moment: datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SS`` with a four-digit year."""
    return (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}"
        f"T{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}"
    )


# ---------------------------------------------------------------------- pagination
def encode_cursor(seq: int, tag: str = "") -> str:
    """An opaque cursor for the row after ``seq``."""
    return base64.urlsafe_b64encode(f"{tag}&{seq}".encode()).decode()


def decode_cursor(cursor: str) -> int:
    """The sequence number a cursor points after; 400 when it is not one of ours."""
    try:
        _, _, seq = base64.urlsafe_b64decode(cursor.encode()).decode().rpartition("&")
        value = int(seq)
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise error_code(400, "Invalid cursor", "cursor") from exc
    if not 0 <= value <= MAX_POSITION:
        raise error_code(400, "Invalid cursor", "cursor")
    return value


def per_page(request: Request, *names: str) -> int:
    """``per_page`` (or an alias) defaulting to 200 and silently clamped to 200."""
    for name in (*names, "per_page"):
        raw = request.query_params.get(name)
        if raw is None:
            continue
        try:
            value = int(raw)
        except ValueError as exc:
            raise error_code(400, f'Parameter "{name}" must be an integer', name) from exc
        if value < 1:
            raise error_code(400, f'Parameter "{name}" must be positive', name)
        return min(value, MAX_PER_PAGE)
    return DEFAULT_PER_PAGE


def page_number(request: Request) -> int | None:
    """The deprecated ``page`` parameter (1-based), when the caller sent it."""
    raw = request.query_params.get("page")
    if raw is None:
        return None
    try:
        value = int(raw)
    except ValueError as exc:
        raise error_code(400, 'Parameter "page" must be an integer', "page") from exc
    if value > MAX_POSITION // MAX_PER_PAGE:
        raise error_code(400, 'Parameter "page" is out of range', "page")
    return max(value, 1)


LegacyFields = Callable[[int, int, int], JSONDict]
"""Builds the deprecated first-page fields from (total, per_page, page)."""


def legacy_customers(total: int, size: int, page: int) -> JSONDict:
    """``/customers`` first pages (an empty list still counts 1 page, as recorded)."""
    return {
        "per_page": size,
        "page": page,
        "current_page": page,
        "total_pages": _pages(total, size),
    }


def legacy_search(total: int, size: int, page: int) -> JSONDict:
    """``/customers/search`` first pages: as ``/customers``, but ``total_pages`` is null
    (recorded by chartmogul-go in 2023-08 and chartmogul-ruby in 2023-10)."""
    return {**legacy_customers(total, size, page), "total_pages": None}


def legacy_current_page(total: int, size: int, page: int) -> JSONDict:
    """``/plans``, ``/plan_groups``, ``/invoices``, ``/import/...`` first pages.

    An empty list counts 0 pages here (recorded for ``/import/customers/{uuid}/invoices``
    by chartmogul-go 2017 and chartmogul-ruby 2023), unlike ``/customers`` (1, above).
    """
    return {"current_page": page, "total_pages": -(-total // size)}


def legacy_page_per_page(total: int, size: int, page: int) -> JSONDict:
    """``/customers/{uuid}/activities|subscriptions`` first pages."""
    del total
    return {"page": page, "per_page": size}


def legacy_per_page(total: int, size: int, page: int) -> JSONDict:
    """``/activities`` first pages."""
    del total, page
    return {"per_page": size}


def _pages(total: int, size: int) -> int:
    return max(1, -(-total // size))


def page_rows(
    request: Request,
    fetch: Callable[..., list[Row]],
    count: Callable[[], int],
    render: Callable[[Row], JSONDict],
    *,
    key: str,
    legacy: LegacyFields | None = None,
    allow_page: bool = False,
) -> JSONDict:
    """One page of stored rows with ChartMogul's cursor contract.

    ``fetch(after_seq=, limit=, offset=)`` reads rows in order. The cursor is opaque, pages
    hold at most ``per_page`` rows, ``has_more`` says whether another page exists, and the
    last page still carries a cursor (clients must stop on ``has_more``). Lists that had the
    deprecated ``page`` parameter still serve it when ``allow_page`` is set.
    """
    size = per_page(request)
    page = page_number(request) if allow_page else None
    cursor = request.query_params.get("cursor")
    if page is not None and not cursor:
        rows = fetch(limit=size + 1, offset=(page - 1) * size)
    else:
        after = decode_cursor(cursor) if cursor else 0
        rows = fetch(after_seq=after, limit=size + 1)
    has_more = len(rows) > size
    rows = rows[:size]
    body: JSONDict = {key: [render(row) for row in rows]}
    if legacy is not None and not cursor:
        body.update(legacy(count(), size, page or 1))
    body["cursor"] = encode_cursor(rows[-1].seq) if rows else None
    body["has_more"] = has_more
    return body


def page_items(
    request: Request,
    items: Sequence[JSONDict],
    *,
    key: str,
    legacy: LegacyFields | None = None,
    allow_page: bool = False,
) -> JSONDict:
    """One page of a computed list (position in the list is the cursor key)."""
    size = per_page(request)
    page = page_number(request) if allow_page else None
    cursor = request.query_params.get("cursor")
    if page is not None and not cursor:
        start = (page - 1) * size
    else:
        start = decode_cursor(cursor) if cursor else 0
    chunk = list(items[start : start + size])
    body: JSONDict = {key: chunk}
    if legacy is not None and not cursor:
        body.update(legacy(len(items), size, page or 1))
    body["cursor"] = encode_cursor(start + len(chunk)) if chunk else None
    body["has_more"] = start + len(chunk) < len(items)
    return body

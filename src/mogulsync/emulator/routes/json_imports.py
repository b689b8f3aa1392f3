"""Bulk JSON import: ``/v1/data_sources/{ds}/json_imports``.

``POST`` takes ``{external_id, customers, plans, invoices, line_items, transactions,
subscription_events}`` (every array optional) of at most :data:`MAX_BODY_BYTES` (5 MB;
larger bodies get 413 with a JSON message) and answers 201 with ``{id, data_source_uuid,
status: "queued", external_id, status_details: {}, error_count, processed_count,
created_at, updated_at}`` [U: 200/201/202 are all plausible; 201 matches the other
creates]. The records are applied in the background (``emulator.spawn``): the import
stays ``queued`` for ``settings.json_import_step_s``, then is ``processing`` while the
records are written and for one more step, then ``completed`` with ``status_details``,
``processed_count`` (records handled) and ``error_count`` (records that failed). How the
records are applied and reported is described in ``_bulk_import``.

``GET .../json_imports/{id}`` accepts the returned ``id`` or the caller's ``external_id``
(the docs use one, the clients the other); an external id used twice names the latest
import. Stored rows are kind ``json_import`` holding exactly the API object; the records
themselves are kept only in memory until applied.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mogulsync.emulator._http import (
    error_code,
    error_fields,
    error_not_found,
    iso_seconds,
    new_uuid,
    ok,
    parse_json,
)
from mogulsync.emulator.routes._bulk_import import BulkImport
from mogulsync.emulator.routes.data_sources import require_data_source
from mogulsync.emulator.state import Emulator, emulator_of
from mogulsync.emulator.store import JSONDict

KIND = "json_import"
MAX_BODY_BYTES = 5 * 1024 * 1024
RECORD_KEYS = (
    "customers",
    "plans",
    "invoices",
    "line_items",
    "transactions",
    "subscription_events",
)
NOT_ARRAY = "must be an array"
THING = "Json import"

logger = logging.getLogger(__name__)


async def _read_limited(request: Request) -> bytes:
    """The body, or a 413 once it passes the limit (read to the end so the client can
    finish sending and see the answer)."""
    size = 0
    chunks: list[bytes] = []
    async for chunk in request.stream():
        size += len(chunk)
        if size <= MAX_BODY_BYTES:
            chunks.append(chunk)
    if size > MAX_BODY_BYTES:
        raise error_code(
            413,
            f"The JSON payload is {size} bytes; a bulk import accepts at most 5 MB"
            f" ({MAX_BODY_BYTES} bytes). Split the records over several imports.",
        )
    return b"".join(chunks)


def _parse(raw: bytes) -> JSONDict:
    if not raw.strip():
        raise error_code(400, "Request body is missing or empty")
    payload = parse_json(raw)
    if not isinstance(payload, dict):
        raise error_code(400, "Request body must be a JSON object")
    problems = {
        key: NOT_ARRAY
        for key in RECORD_KEYS
        if payload.get(key) is not None and not isinstance(payload[key], list)
    }
    external_id = payload.get("external_id")
    if external_id is not None and not isinstance(external_id, str):
        problems["external_id"] = "must be a string"
    if problems:
        raise error_fields(problems)
    return payload


async def create(request: Request) -> Response:
    """``POST /v1/data_sources/{ds}/json_imports`` → 201 queued import."""
    emulator = emulator_of(request)
    data_source = require_data_source(emulator, request.path_params["ds"], "data_source_uuid")
    payload = _parse(await _read_limited(request))
    uuid = new_uuid("")
    stamp = iso_seconds(emulator.clock())
    body: JSONDict = {
        "id": uuid,
        "data_source_uuid": data_source.uuid,
        "status": "queued",
        "external_id": payload.get("external_id"),
        "status_details": {},
        "error_count": 0,
        "processed_count": 0,
        "created_at": stamp,
        "updated_at": stamp,
    }
    emulator.store.insert(
        KIND, uuid, body, data_source_uuid=data_source.uuid, external_id=body["external_id"]
    )
    emulator.spawn(_run(emulator, uuid, payload))
    return ok(body, 201)


async def retrieve(request: Request) -> Response:
    """``GET /v1/data_sources/{ds}/json_imports/{id}`` (id or external_id)."""
    emulator = emulator_of(request)
    data_source = require_data_source(emulator, request.path_params["ds"], "data_source_uuid")
    name = request.path_params["id"]
    row = emulator.store.get(KIND, name)
    if row is None or row.body["data_source_uuid"] != data_source.uuid:
        by_external_id = emulator.store.find(
            KIND, data_source_uuid=data_source.uuid, external_id=name, descending=True, limit=1
        )
        row = by_external_id[0] if by_external_id else None
    if row is None:
        raise error_not_found(THING)
    return ok(row.body)


def _advance(emulator: Emulator, uuid: str, status: str, **changes: Any) -> bool:
    """Move a stored import to ``status``; False when it is gone (data source deleted)."""
    row = emulator.store.get(KIND, uuid)
    if row is None:
        return False
    body = {**row.body, **changes, "status": status, "updated_at": iso_seconds(emulator.clock())}
    emulator.store.update(KIND, uuid, body)
    return True


async def _run(emulator: Emulator, uuid: str, payload: JSONDict) -> None:
    """queued → processing (records applied) → completed, one settings step apart."""
    step = emulator.settings.json_import_step_s
    await asyncio.sleep(step)
    if not _advance(emulator, uuid, "processing"):
        return
    row = emulator.store.get(KIND, uuid)
    assert row is not None
    try:
        bulk = BulkImport(emulator, row.body["data_source_uuid"], payload)
        bulk.import_plans()
        for key in bulk.customer_keys():
            if emulator.store.get(KIND, uuid) is None:
                return
            bulk.import_customer(key)
            await asyncio.sleep(0)  # let API requests in between customers
    except Exception as exc:  # an emulator bug must not leave the import "processing"
        logger.exception("bulk import %s crashed", uuid)
        _advance(emulator, uuid, "failed", status_details={"error": repr(exc)})
        return
    await asyncio.sleep(step)
    _advance(
        emulator,
        uuid,
        "completed",
        status_details=bulk.status_details,
        error_count=bulk.error_count,
        processed_count=bulk.processed_count,
    )


ROUTES = [
    Route("/v1/data_sources/{ds}/json_imports", create, methods=["POST"]),
    Route("/v1/data_sources/{ds}/json_imports/{id}", retrieve, methods=["GET"]),
]

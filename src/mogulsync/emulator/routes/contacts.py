"""Contacts: ``/v1/contacts`` and ``/v1/customers/{uuid}/contacts``.

Contacts belong to a customer and a data source. ``position`` orders a customer's
contacts (1 = primary). Custom attributes come in as ``[{key, value}]`` and go out as a
map. Lists are newest first, as the recorded cursors (creation times, descending) show.
"""

from __future__ import annotations

import re
from functools import partial
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mogulsync.emulator._http import json_body, new_uuid, ok, page_rows
from mogulsync.emulator.routes._listing import fetcher
from mogulsync.emulator.routes._lookup import MERGED_META_KEY, require_contact, require_customer
from mogulsync.emulator.routes._validation import FieldChecker, require_keys
from mogulsync.emulator.routes.data_sources import require_data_source
from mogulsync.emulator.state import Emulator, emulator_of
from mogulsync.emulator.store import Filter, JSONDict, Row

TEXT_FIELDS = ("first_name", "last_name", "title", "phone", "linked_in", "twitter")
MAX_NOTES_LENGTH = 10_000
MERGED_NOTE = "This contact was merged"
CUSTOM_KEY = re.compile(r"^[A-Za-z0-9_]+$")


def contact_fields(payload: JSONDict, prefix: str = "") -> JSONDict:
    """Validated contact fields present in ``payload`` (422 listing every problem)."""
    checker = FieldChecker(payload, prefix)
    fields: JSONDict = {}
    for name in TEXT_FIELDS:
        if name in payload:
            fields[name] = checker.text(name)
    if "notes" in payload:
        fields["notes"] = checker.text("notes", max_length=MAX_NOTES_LENGTH)
    if "email" in payload:
        fields["email"] = checker.email()
    if "external_id" in payload:
        fields["external_id"] = checker.text("external_id")
    if "position" in payload:
        fields["position"] = checker.positive_int("position")
    if "last_active_at" in payload:
        fields["last_seen"] = checker.timestamp("last_active_at")
    if "custom" in payload:
        fields["custom"] = _custom_map(checker, payload["custom"])
    checker.raise_if_any()
    return fields


def _custom_map(checker: FieldChecker, entries: Any) -> dict[str, Any]:
    if not isinstance(entries, list):
        checker.fail("custom", "Custom must be a list of {key, value}.")
        return {}
    values: dict[str, Any] = {}
    for entry in entries:
        key = entry.get("key") if isinstance(entry, dict) else None
        if not isinstance(key, str) or not CUSTOM_KEY.match(key):
            checker.fail("custom", "Each custom entry needs a key of letters, digits or _.")
            continue
        values[key] = entry.get("value")
    return values


def insert_contact(
    emulator: Emulator, customer: Row, data_source_uuid: str, fields: JSONDict
) -> Row:
    """Store a contact of ``customer``; the next free position unless one is given."""
    uuid = new_uuid("con")
    position = fields.get("position") or _next_position(emulator, customer.uuid)
    body: JSONDict = {
        "uuid": uuid,
        "customer_uuid": customer.uuid,
        "data_source_uuid": data_source_uuid,
        "external_id": None,
        **dict.fromkeys(TEXT_FIELDS),
        "email": None,
        "notes": None,
        "last_seen": None,
        "custom": {},
    }
    body.update({key: value for key, value in fields.items() if key != "custom"})
    body["custom"] = dict(fields.get("custom") or {})
    body["position"] = position
    return emulator.store.insert(
        "contact",
        uuid,
        body,
        data_source_uuid=data_source_uuid,
        external_id=body["external_id"],
        email=body["email"],
        parent_uuid=customer.uuid,
    )


def apply_contact_update(emulator: Emulator, row: Row, fields: JSONDict) -> Row:
    """Write validated fields onto a stored contact (custom keys are merged)."""
    body = dict(row.body)
    custom = {**body.get("custom", {}), **fields.get("custom", {})}
    body.update({key: value for key, value in fields.items() if key != "custom"})
    body["custom"] = custom
    save_contact(emulator, Row(row.seq, row.uuid, body))
    return Row(row.seq, row.uuid, body)


def save_contact(emulator: Emulator, row: Row) -> None:
    """Persist a contact body, keeping the indexed columns in step."""
    body = row.body
    emulator.store.update(
        "contact",
        row.uuid,
        body,
        data_source_uuid=body["data_source_uuid"],
        external_id=body["external_id"],
        email=body["email"],
        parent_uuid=body["customer_uuid"],
    )


def render_contact(emulator: Emulator, row: Row) -> JSONDict:
    """The API shape of a contact (§5.4)."""
    body = row.body
    customer = emulator.store.get("customer", body["customer_uuid"] or "")
    return {
        "uuid": row.uuid,
        "customer_uuid": body["customer_uuid"],
        "customer_external_id": customer.body["external_id"] if customer else None,
        "data_source_uuid": body["data_source_uuid"],
        "position": body["position"],
        "external_id": body["external_id"],
        **{name: body.get(name) for name in TEXT_FIELDS[:3]},
        "email": body.get("email"),
        **{name: body.get(name) for name in TEXT_FIELDS[3:]},
        "notes": body.get("notes"),
        # ``last_seen`` (from ``last_active_at``) is stored but not shown: no recording
        # or official client has it on a contact
        "custom": dict(body.get("custom", {})),
    }


def _next_position(emulator: Emulator, customer_uuid: str) -> int:
    positions = [
        row.body.get("position") or 0
        for row in emulator.store.find("contact", parent_uuid=customer_uuid)
    ]
    return max(positions, default=0) + 1


# ---------------------------------------------------------------------- handlers
async def create(request: Request) -> Response:
    """``POST /v1/contacts`` → 201 (``customer_uuid`` and ``data_source_uuid`` required)."""
    emulator = emulator_of(request)
    payload = await json_body(request)
    require_keys(payload, "customer_uuid", "data_source_uuid")
    return _create(emulator, payload, require_customer(emulator, payload["customer_uuid"]))


async def create_for_customer(request: Request) -> Response:
    """``POST /v1/customers/{uuid}/contacts`` → 201 (the path names the customer)."""
    emulator = emulator_of(request)
    customer = require_customer(emulator, request.path_params["uuid"])
    payload = await json_body(request)
    require_keys(payload, "data_source_uuid")
    return _create(emulator, payload, customer)


def _create(emulator: Emulator, payload: JSONDict, customer: Row) -> Response:
    data_source = require_data_source(emulator, payload["data_source_uuid"])
    row = insert_contact(emulator, customer, data_source.uuid, contact_fields(payload))
    return ok(render_contact(emulator, row), 201)


async def list_all(request: Request) -> Response:
    """``GET /v1/contacts?customer_uuid=&data_source_uuid=&email=&customer_external_id=``."""
    emulator = emulator_of(request)
    query = request.query_params
    owners: Filter = query.get("customer_uuid")
    customer_external_id = query.get("customer_external_id")
    if customer_external_id is not None:
        # Customers whose own external id matches, plus any merged into one that does.
        matching = _customers_with_external_id(emulator, customer_external_id)
        owners = matching & {owners} if isinstance(owners, str) else matching
    fetch, count = fetcher(
        emulator.store,
        "contact",
        descending=True,
        parent_uuid=owners,
        data_source_uuid=query.get("data_source_uuid"),
        email=query.get("email"),
        external_id=query.get("external_id"),
    )
    render = partial(render_contact, emulator)
    return ok(page_rows(request, fetch, count, render, key="entries", allow_page=True))


def _customers_with_external_id(emulator: Emulator, external_id: str) -> frozenset[str]:
    owners = {row.uuid for row in emulator.store.find("customer", external_id=external_id)}
    if emulator.store.get_meta(MERGED_META_KEY) is not None:
        owners.update(
            row.uuid
            for row in emulator.store.iter_kind("customer")
            if external_id in row.body.get("external_ids", ())
        )
    return frozenset(owners)


async def list_for_customer(request: Request) -> Response:
    """``GET /v1/customers/{uuid}/contacts``."""
    emulator = emulator_of(request)
    customer = require_customer(emulator, request.path_params["uuid"])
    fetch, count = fetcher(emulator.store, "contact", descending=True, parent_uuid=customer.uuid)
    render = partial(render_contact, emulator)
    return ok(page_rows(request, fetch, count, render, key="entries", allow_page=True))


async def retrieve(request: Request) -> Response:
    """``GET /v1/contacts/{uuid}``."""
    emulator = emulator_of(request)
    return ok(render_contact(emulator, require_contact(emulator, request.path_params["uuid"])))


async def update(request: Request) -> Response:
    """``PATCH /v1/contacts/{uuid}`` → 200 with the updated contact."""
    emulator = emulator_of(request)
    row = require_contact(emulator, request.path_params["uuid"])
    fields = contact_fields(await json_body(request))
    return ok(render_contact(emulator, apply_contact_update(emulator, row, fields)))


async def destroy(request: Request) -> Response:
    """``DELETE /v1/contacts/{uuid}`` → 200 ``{}``."""
    emulator = emulator_of(request)
    row = require_contact(emulator, request.path_params["uuid"])
    emulator.store.delete("contact", row.uuid)
    return ok({})


async def merge(request: Request) -> Response:
    """``POST /v1/contacts/{into}/merge/{from}`` → 200 with the surviving contact.

    The surviving contact keeps its own values, takes the other's where it has none, and
    its notes record the merge as ChartMogul's do.
    """
    emulator = emulator_of(request)
    into = require_contact(emulator, request.path_params["into_uuid"])
    source = require_contact(emulator, request.path_params["from_uuid"])
    if into.uuid == source.uuid:
        return ok(render_contact(emulator, into))
    body = dict(into.body)
    for key in (*TEXT_FIELDS, "email", "external_id", "last_seen"):
        if body.get(key) is None:
            body[key] = source.body.get(key)
    body["custom"] = {**source.body.get("custom", {}), **into.body.get("custom", {})}
    notes = [text for text in (into.body.get("notes"), source.body.get("notes")) if text]
    kept_notes = "\n".join(dict.fromkeys(notes))
    body["notes"] = f"{kept_notes} {MERGED_NOTE}".strip()
    emulator.store.delete("contact", source.uuid)
    save_contact(emulator, Row(into.seq, into.uuid, body))
    # the merge answer names no customer (recorded: chartmogul-ruby and chartmogul-go
    # contact-merge recordings), though the contact keeps its customer
    return ok({**render_contact(emulator, Row(into.seq, into.uuid, body)), "customer_uuid": None})


ROUTES = [
    Route("/v1/contacts", create, methods=["POST"]),
    Route("/v1/contacts", list_all, methods=["GET"]),
    Route("/v1/contacts/{uuid}", retrieve, methods=["GET"]),
    Route("/v1/contacts/{uuid}", update, methods=["PATCH"]),
    Route("/v1/contacts/{uuid}", destroy, methods=["DELETE"]),
    Route("/v1/contacts/{into_uuid}/merge/{from_uuid}", merge, methods=["POST"]),
    Route("/v1/customers/{uuid}/contacts", create_for_customer, methods=["POST"]),
    Route("/v1/customers/{uuid}/contacts", list_for_customer, methods=["GET"]),
]

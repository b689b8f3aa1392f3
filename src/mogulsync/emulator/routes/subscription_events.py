"""Subscription events (custom data sources): ``/v1/subscription_events``.

- ``POST`` with ``{"subscription_event": {...}}`` → 201 with the flat event, whose integer
  ``id`` is the row's insertion number. A body without the envelope is accepted too,
  because chartmogul-python 4.11 sends whatever its caller passes.
- ``GET`` lists with the filters of reference section 5.10, the cursor contract and the
  legacy ``meta`` block (``next_key``, ``prev_key``, ``before_key``, ``page``,
  ``total_pages``).
- ``PATCH`` identifies the event by ``id`` or by ``external_id`` + ``data_source_uuid``
  inside the envelope and applies the other keys → 200 event.
- ``DELETE`` identifies it the same way, from the JSON body (Python, Node) or from
  ``subscription_event[...]`` query parameters (Ruby) → 204.
- ``PATCH /v1/subscription_events/{id}/disabled_state`` (or without the id, naming the
  event by ``external_id`` + ``data_source_uuid`` in the body) with ``{"disabled": bool}``
  → 200 event. A disabled event stays listed but must not count towards MRR;
  ``disabled_by`` stays null [U].

Unknown events give ``404 {"message": "Subscription event not found"}``. Validation
failures give 422 ``{"errors": {field: message}}`` [U: the real wrapper is not recorded].
Always required: ``data_source_uuid``, ``customer_external_id``,
``subscription_external_id``, ``event_type`` (one of :data:`EVENT_TYPES`), ``event_date``
and ``effective_date``; events that set a price also need ``plan_external_id``,
``currency`` and ``amount_in_cents``, and a retraction needs ``retracted_event_id`` [U].
``external_id`` is optional and unique per data source. A customer or plan that does not
exist in the data source is not refused: the event is stored with the problem in its
``errors`` object (which is what that field of the event is for) and the MRR engine
should skip events whose ``errors`` is not empty [U]. Stored rows are kind
``subscription_event`` holding exactly the API object, timestamps as
``2022-05-18T09:48:34Z``.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mogulsync.emulator._http import (
    decode_cursor,
    encode_cursor,
    error_fields,
    error_message,
    iso_millis,
    iso_seconds,
    json_body,
    new_uuid,
    no_content,
    ok,
    parse_time,
    per_page,
)
from mogulsync.emulator.routes._billing_validation import NOT_TIME, FieldReader
from mogulsync.emulator.routes._lookup import customer_by_external_id
from mogulsync.emulator.routes.data_sources import require_data_source
from mogulsync.emulator.state import Emulator, emulator_of
from mogulsync.emulator.store import JSONDict, Row, Store

KIND = "subscription_event"
ENVELOPE = "subscription_event"
NOT_FOUND = "Subscription event not found"
MISSING_IDENTITY = "Please pass 'id' or both 'external_id' and 'data_source_uuid'"
TAKEN = "has already been taken"
CUSTOMER_MISSING = "Customer not found in this data source"
PLAN_MISSING = "Plan not found in this data source"

EVENT_TYPES = (
    "subscription_start",
    "subscription_start_scheduled",
    "scheduled_subscription_start_retracted",
    "subscription_cancelled",
    "subscription_cancellation_scheduled",
    "scheduled_subscription_cancellation_retracted",
    "subscription_updated",
    "subscription_update_scheduled",
    "scheduled_subscription_update_retracted",
    "subscription_event_retracted",
)
PRICED_EVENT_TYPES = frozenset(
    {
        "subscription_start",
        "subscription_start_scheduled",
        "subscription_updated",
        "subscription_update_scheduled",
    }
)
RETRACTION = "subscription_event_retracted"
#: query filters compared with the stored event's field of the same name
TEXT_FILTERS = (
    "customer_external_id",
    "subscription_external_id",
    "plan_external_id",
    "event_type",
)
DATE_FILTERS = ("event_date", "effective_date")
#: fields a PATCH may not change
FIXED_FIELDS = frozenset({"id", "data_source_uuid", "created_at", "updated_at", "errors"})


def _check(emulator: Emulator, payload: JSONDict, own_uuid: str | None = None) -> JSONDict:
    """The normalised event fields, or a 422 naming every bad field."""
    fields = FieldReader(payload)
    data_source_uuid = fields.text("data_source_uuid", required=True)
    event_type = fields.choice("event_type", EVENT_TYPES, required=True)
    priced = event_type in PRICED_EVENT_TYPES
    event_date = fields.moment("event_date", required=True)
    effective_date = fields.moment("effective_date", required=True)
    value: JSONDict = {
        "data_source_uuid": data_source_uuid,
        "customer_external_id": fields.text("customer_external_id", required=True),
        "subscription_set_external_id": fields.text("subscription_set_external_id"),
        "subscription_external_id": fields.text("subscription_external_id", required=True),
        "plan_external_id": fields.text("plan_external_id", required=priced),
        "event_date": iso_seconds(event_date) if event_date else None,
        "effective_date": iso_seconds(effective_date) if effective_date else None,
        "event_type": event_type,
        "external_id": fields.text("external_id"),
        "quantity": fields.integer("quantity"),
        "currency": fields.currency("currency", required=priced),
        "amount_in_cents": fields.integer("amount_in_cents", required=priced),
        "tax_amount_in_cents": fields.integer("tax_amount_in_cents"),
        "retracted_event_id": fields.text("retracted_event_id", required=event_type == RETRACTION),
        "event_order": fields.integer("event_order"),
    }
    if data_source_uuid and value["external_id"]:
        found = emulator.store.find_one(
            KIND, data_source_uuid=data_source_uuid, external_id=value["external_id"]
        )
        if found is not None and found.uuid != own_uuid:
            fields.fail("external_id", TAKEN)
    if fields.errors:
        raise error_fields(fields.errors)
    # an optional field sent as "" is stored and echoed as "" (recorded: chartmogul-ruby
    # subscription-event cassettes), not turned into null
    for name, current in value.items():
        if current is None and payload.get(name) == "":
            value[name] = ""
    return value


def _reference_errors(emulator: Emulator, value: JSONDict) -> dict[str, str]:
    """Unknown customer or plan: stored in the event's ``errors``, not refused [U]."""
    data_source_uuid = value["data_source_uuid"]
    customer_id, plan_id = value["customer_external_id"], value["plan_external_id"]
    errors = {}
    if not customer_by_external_id(emulator, data_source_uuid, customer_id):
        errors["customer_external_id"] = CUSTOMER_MISSING
    if plan_id and not emulator.store.find_one(
        "plan", data_source_uuid=data_source_uuid, external_id=plan_id
    ):
        errors["plan_external_id"] = PLAN_MISSING
    return errors


def create_subscription_event(emulator: Emulator, payload: JSONDict) -> JSONDict:
    """Validate and store one event; raise :class:`EmulatorHTTPError` when it is invalid."""
    store = emulator.store
    if payload.get("data_source_uuid"):
        require_data_source(emulator, str(payload["data_source_uuid"]))
    value = _check(emulator, payload)
    stamp = iso_seconds(emulator.clock())
    uuid = new_uuid("sev")  # internal key only; the API names events by integer id
    body = _render(emulator, 0, value, {"created_at": stamp})
    row = store.insert(
        KIND,
        uuid,
        body,
        data_source_uuid=value["data_source_uuid"],
        external_id=value["external_id"],
    )
    body["id"] = row.seq
    store.update(KIND, uuid, body)
    return body


def _render(emulator: Emulator, event_id: int, value: JSONDict, previous: JSONDict) -> JSONDict:
    """The API object; ``previous`` supplies what an update keeps (creation, disabled)."""
    return {
        "id": event_id,
        **value,
        "errors": _reference_errors(emulator, value),
        "created_at": previous["created_at"],
        "updated_at": iso_seconds(emulator.clock()),
        "disabled": previous.get("disabled", False),
        "disabled_at": previous.get("disabled_at"),
        "disabled_by": previous.get("disabled_by"),
    }


async def set_disabled(request: Request) -> Response:
    """``PATCH /v1/subscription_events[/{id}]/disabled_state {"disabled": bool}`` → 200."""
    emulator = emulator_of(request)
    store = emulator.store
    payload = _unwrap(await json_body(request))
    spec = dict(payload)
    if "id" in request.path_params:
        spec["id"] = request.path_params["id"]
    row = _find(store, spec)
    disabled = payload.get("disabled")
    if not isinstance(disabled, bool):
        raise error_fields({"disabled": "must be true or false"})
    stamp = iso_seconds(emulator.clock())
    body = {
        **row.body,
        "disabled": disabled,
        "disabled_at": stamp if disabled else None,
        "updated_at": stamp,
    }
    store.update(KIND, row.uuid, body)
    return ok(body)


def _unwrap(payload: JSONDict) -> JSONDict:
    inner = payload.get(ENVELOPE, payload)
    if not isinstance(inner, dict):
        raise error_fields({ENVELOPE: "must be an object"})
    return inner


def _find(store: Store, spec: JSONDict) -> Row:
    """The event named by ``id`` or by ``external_id`` + ``data_source_uuid``."""
    raw_id = spec.get("id")
    if raw_id is not None:
        try:
            event_id = int(raw_id)
        except (TypeError, ValueError):
            raise error_message(404, NOT_FOUND) from None
        rows = store.find(KIND, after_seq=event_id - 1, limit=1)
        if rows and rows[0].seq == event_id:
            return rows[0]
        raise error_message(404, NOT_FOUND)
    external_id = spec.get("external_id")
    data_source_uuid = spec.get("data_source_uuid")
    if not external_id or not data_source_uuid:
        raise error_message(400, MISSING_IDENTITY)
    row = store.find_one(KIND, data_source_uuid=str(data_source_uuid), external_id=str(external_id))
    if row is None:
        raise error_message(404, NOT_FOUND)
    return row


async def create(request: Request) -> Response:
    """``POST /v1/subscription_events`` → 201 event."""
    emulator = emulator_of(request)
    payload = _unwrap(await json_body(request))
    return ok(create_subscription_event(emulator, payload), 201)


async def modify(request: Request) -> Response:
    """``PATCH /v1/subscription_events`` → 200 event."""
    emulator = emulator_of(request)
    store = emulator.store
    changes = _unwrap(await json_body(request))
    row = _find(store, changes)
    merged = {**row.body, **{k: v for k, v in changes.items() if k not in FIXED_FIELDS}}
    value = _check(emulator, merged, own_uuid=row.uuid)
    body = _render(emulator, row.seq, value, row.body)
    store.update(KIND, row.uuid, body, external_id=value["external_id"])
    return ok(body)


async def destroy(request: Request) -> Response:
    """``DELETE /v1/subscription_events`` → 204."""
    store = emulator_of(request).store
    spec = _unwrap(await json_body(request, required=False))
    for name in ("id", "external_id", "data_source_uuid"):
        value = request.query_params.get(f"{ENVELOPE}[{name}]", request.query_params.get(name))
        if value is not None:
            spec.setdefault(name, value)
    row = _find(store, spec)
    store.delete(KIND, row.uuid)
    return no_content()


def _matching(store: Store, request: Request) -> list[Row]:
    query = request.query_params
    rows = store.find(
        KIND, data_source_uuid=query.get("data_source_uuid"), external_id=query.get("external_id")
    )
    wanted: dict[str, str] = {name: query[name] for name in TEXT_FILTERS if name in query}
    customer_uuid = query.get("customer_uuid")
    if customer_uuid is not None:
        customer = store.get("customer", customer_uuid)
        if customer is None:
            return []
        wanted["customer_external_id"] = str(customer.body.get("external_id"))
        wanted["data_source_uuid"] = str(customer.body.get("data_source_uuid"))
    for name in DATE_FILTERS:
        if name in query:
            moment = parse_time(query[name])
            if moment is None:
                raise error_fields({name: NOT_TIME}, status=400)
            wanted[name] = iso_seconds(moment)
    return [row for row in rows if all(row.body.get(k) == v for k, v in wanted.items())]


async def list_all(request: Request) -> Response:
    """``GET /v1/subscription_events`` → ``{subscription_events, meta, cursor, has_more}``.

    Newest first, as the real list is. The legacy ``meta`` block is on the first page only
    (cursor pages of the newer API carry ``cursor`` and ``has_more`` alone); its
    ``before_key`` is the time of the request in milliseconds, as recorded.
    """
    emulator = emulator_of(request)
    store = emulator.store
    size = per_page(request)
    cursor = request.query_params.get("cursor")
    before = decode_cursor(cursor) if cursor else None
    matching = sorted(_matching(store, request), key=lambda row: row.seq, reverse=True)
    remaining = [row for row in matching if before is None or row.seq < before]
    page = remaining[:size]
    has_more = len(remaining) > size
    body: JSONDict = {"subscription_events": [row.body for row in page]}
    if cursor is None:
        body["meta"] = {
            "next_key": page[-1].seq if has_more else None,
            "prev_key": None,
            "before_key": iso_millis(emulator.clock()),
            "page": 1,
            "total_pages": max(1, -(-len(matching) // size)),
        }
    body["cursor"] = encode_cursor(page[-1].seq) if page else None
    body["has_more"] = has_more
    return ok(body)


ROUTES = [
    Route("/v1/subscription_events", create, methods=["POST"]),
    Route("/v1/subscription_events", list_all, methods=["GET"]),
    Route("/v1/subscription_events", modify, methods=["PATCH"]),
    Route("/v1/subscription_events", destroy, methods=["DELETE"]),
    Route("/v1/subscription_events/disabled_state", set_disabled, methods=["PATCH"]),
    Route("/v1/subscription_events/{id}/disabled_state", set_disabled, methods=["PATCH"]),
]

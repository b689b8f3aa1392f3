"""Customer attributes: tags and typed custom attributes, by uuid or by e-mail.

By-email writes apply to every customer with that address (case-insensitive) and answer
``{"entries": [customers]}`` without pagination. When no customer has the address the
emulator answers like ``/customers/search`` (404, shape 1) — the real reply is not recorded.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mogulsync.emulator._http import error_code, error_fields, json_body, no_content, ok
from mogulsync.emulator.routes._custom_attributes import parse_typed, parse_untyped
from mogulsync.emulator.routes._lookup import require_customer
from mogulsync.emulator.routes._validation import FieldChecker, require_keys
from mogulsync.emulator.routes.customers import render_customer, save_customer
from mogulsync.emulator.state import Emulator, emulator_of
from mogulsync.emulator.store import JSONDict, Row


def _attributes(row: Row) -> JSONDict:
    return dict(row.body["attributes"])


def _save_attributes(emulator: Emulator, row: Row, attributes: JSONDict) -> Row:
    body = {**row.body, "attributes": attributes}
    save_customer(emulator, row.uuid, body)
    return Row(row.seq, row.uuid, body)


def _tags_from(payload: JSONDict) -> list[str]:
    require_keys(payload, "tags")
    checker = FieldChecker(payload)
    tags = checker.string_list("tags", payload["tags"])
    checker.raise_if_any()
    return tags


def _customers_with_email(emulator: Emulator, payload: JSONDict) -> list[Row]:
    require_keys(payload, "email")
    email = payload["email"]
    rows = emulator.store.find("customer", email=email) if isinstance(email, str) else []
    if not rows:
        raise error_code(404, f'Can\'t find any customers with email: "{email}"', "email")
    return rows


def _add_tags(emulator: Emulator, row: Row, tags: list[str]) -> Row:
    attributes = _attributes(row)
    attributes["tags"] = list(dict.fromkeys([*attributes["tags"], *tags]))
    return _save_attributes(emulator, row, attributes)


def _add_custom(emulator: Emulator, row: Row, values: dict[str, Any]) -> Row:
    attributes = _attributes(row)
    attributes["custom"] = {**attributes["custom"], **values}
    return _save_attributes(emulator, row, attributes)


# ---------------------------------------------------------------------- handlers
async def retrieve(request: Request) -> Response:
    """``GET /v1/customers/{uuid}/attributes`` → ``{tags, stripe, custom}``: no ``clearbit``
    group, as chartmogul-ruby's 2026 cassettes of this endpoint record (customer objects
    still carry it under ``attributes``, as recorded up to 2025)."""
    row = require_customer(emulator_of(request), request.path_params["uuid"])
    attributes = _attributes(row)
    return ok({"tags": attributes["tags"], "stripe": {}, "custom": attributes["custom"]})


async def add_tags(request: Request) -> Response:
    """``POST /v1/customers/{uuid}/attributes/tags {tags}`` → every tag after the add."""
    emulator = emulator_of(request)
    row = require_customer(emulator, request.path_params["uuid"])
    updated = _add_tags(emulator, row, _tags_from(await json_body(request)))
    return ok({"tags": _attributes(updated)["tags"]})


async def remove_tags(request: Request) -> Response:
    """``DELETE /v1/customers/{uuid}/attributes/tags {tags}`` → the remaining tags."""
    emulator = emulator_of(request)
    row = require_customer(emulator, request.path_params["uuid"])
    unwanted = set(_tags_from(await json_body(request)))
    attributes = _attributes(row)
    attributes["tags"] = [tag for tag in attributes["tags"] if tag not in unwanted]
    _save_attributes(emulator, row, attributes)
    return ok({"tags": attributes["tags"]})


async def add_tags_by_email(request: Request) -> Response:
    """``POST /v1/customers/attributes/tags {email, tags}`` → ``{entries: [customers]}``."""
    emulator = emulator_of(request)
    payload = await json_body(request)
    tags = _tags_from(payload)
    rows = [_add_tags(emulator, row, tags) for row in _customers_with_email(emulator, payload)]
    return ok({"entries": [render_customer(emulator, row) for row in rows]})


async def add_custom(request: Request) -> Response:
    """``POST /v1/customers/{uuid}/attributes/custom {custom: [{type, key, value}]}``."""
    emulator = emulator_of(request)
    row = require_customer(emulator, request.path_params["uuid"])
    payload = await json_body(request)
    require_keys(payload, "custom")
    updated = _add_custom(emulator, row, parse_typed(emulator.store, payload["custom"]))
    return ok({"custom": _attributes(updated)["custom"]})


async def add_custom_by_email(request: Request) -> Response:
    """``POST /v1/customers/attributes/custom {email, custom}`` → ``{entries: [customers]}``."""
    emulator = emulator_of(request)
    payload = await json_body(request)
    require_keys(payload, "custom")
    rows = _customers_with_email(emulator, payload)
    values = parse_typed(emulator.store, payload["custom"])
    rows = [_add_custom(emulator, row, values) for row in rows]
    return ok({"entries": [render_customer(emulator, row) for row in rows]})


async def update_custom(request: Request) -> Response:
    """``PUT /v1/customers/{uuid}/attributes/custom {custom: {key: value}}`` (existing keys)."""
    emulator = emulator_of(request)
    row = require_customer(emulator, request.path_params["uuid"])
    payload = await json_body(request)
    require_keys(payload, "custom")
    current = _attributes(row)["custom"]
    values = parse_untyped(emulator.store, payload["custom"], current)
    updated = _add_custom(emulator, row, values)
    return ok({"custom": _attributes(updated)["custom"]})


async def remove_custom(request: Request) -> Response:
    """``DELETE /v1/customers/{uuid}/attributes/custom {custom: [keys]}`` → 204 (as recorded).

    Removing a key from a customer does not unlock its type: the type belongs to the
    account's attribute definition, not to one customer's value.
    """
    emulator = emulator_of(request)
    row = require_customer(emulator, request.path_params["uuid"])
    payload = await json_body(request)
    require_keys(payload, "custom")
    keys = payload["custom"]
    if not isinstance(keys, list) or not all(isinstance(key, str) for key in keys):
        raise error_fields({"custom": "Custom must be a list of attribute keys."})
    attributes = _attributes(row)
    attributes["custom"] = {
        key: value for key, value in attributes["custom"].items() if key not in keys
    }
    _save_attributes(emulator, row, attributes)
    return no_content()


ROUTES = [
    Route("/v1/customers/attributes/tags", add_tags_by_email, methods=["POST"]),
    Route("/v1/customers/attributes/custom", add_custom_by_email, methods=["POST"]),
    Route("/v1/customers/{uuid}/attributes", retrieve, methods=["GET"]),
    Route("/v1/customers/{uuid}/attributes/tags", add_tags, methods=["POST"]),
    Route("/v1/customers/{uuid}/attributes/tags", remove_tags, methods=["DELETE"]),
    Route("/v1/customers/{uuid}/attributes/custom", add_custom, methods=["POST"]),
    Route("/v1/customers/{uuid}/attributes/custom", update_custom, methods=["PUT"]),
    Route("/v1/customers/{uuid}/attributes/custom", remove_custom, methods=["DELETE"]),
]

"""Edits of imported billing records (the 2025-26 API additions the official clients call).

- ``PATCH /v1/invoices/{uuid}`` changes an invoice's own fields (``external_id``,
  ``date``, ``due_date``, ``currency``, ``collection_method``);
- ``PATCH /v1/line_items/{uuid}`` and ``PATCH /v1/transactions/{uuid}`` apply the given
  fields to the stored object and re-validate it exactly as an import would (a line item
  moved to another ``subscription_external_id`` joins or creates that subscription);
- ``PATCH .../{uuid}/disabled_state {"disabled": bool}`` flags an invoice, line item or
  transaction as disabled (``disabled_at`` set, ``disabled_by`` stays null [U]); the MRR
  engine must leave disabled records out;
- ``PUT /v1/data_sources/{ds}/invoices/{external_id}/status {"status": "..."}`` sets an
  invoice's ``status`` (any non-empty text: the allowed values are not documented [U]).

Every endpoint also names its object by ``?data_source_uuid=&external_id=`` instead of the
path uuid, as the clients do. All answer 200 with the updated object; validation failures
are 422 ``{"errors": {field: message}}`` and unknown objects the import API's 404s.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mogulsync.emulator._http import (
    error_fields,
    error_not_found,
    iso_seconds,
    json_body,
    ok,
)
from mogulsync.emulator.routes._billing_records import (
    INVOICE_KIND,
    LINE_ITEM_KIND,
    TRANSACTION_KIND,
    owning_invoice,
    replace_line_item,
    replace_transaction,
    require_addressed,
    set_disabled,
)
from mogulsync.emulator.routes._billing_shapes import public_invoice, public_line_item
from mogulsync.emulator.routes._billing_validation import (
    NOT_BOOLEAN,
    ExternalIds,
    check_invoice_fields,
    check_line_item,
    check_transaction,
)
from mogulsync.emulator.routes.data_sources import require_data_source
from mogulsync.emulator.state import emulator_of
from mogulsync.emulator.store import JSONDict

THINGS = {INVOICE_KIND: "Invoice", LINE_ITEM_KIND: "Line item", TRANSACTION_KIND: "Transaction"}
#: keys a PATCH cannot change: identity, links and the disabled flags (own endpoint)
FIXED_KEYS = frozenset(
    {
        "uuid",
        "customer_uuid",
        "data_source_uuid",
        "subscription_uuid",
        "errors",
        "line_items",
        "transactions",
        "disabled",
        "disabled_at",
        "disabled_by",
    }
)


def _merged(current: JSONDict, changes: JSONDict) -> JSONDict:
    return {**current, **{key: value for key, value in changes.items() if key not in FIXED_KEYS}}


async def modify_invoice(request: Request) -> Response:
    """``PATCH /v1/invoices/{uuid}`` → 200 invoice."""
    store = emulator_of(request).store
    row = require_addressed(store, request, INVOICE_KIND, THINGS[INVOICE_KIND])
    ids = ExternalIds(store, row.body["data_source_uuid"], own_uuid=row.uuid)
    checked = check_invoice_fields(ids, _merged(row.body, await json_body(request)))
    if checked.errors:
        raise error_fields(checked.errors)
    body = {**row.body, **checked.value}
    store.update(INVOICE_KIND, row.uuid, body, external_id=body["external_id"])
    return ok(public_invoice(body))


async def modify_line_item(request: Request) -> Response:
    """``PATCH /v1/line_items/{uuid}`` → 200 line item."""
    store = emulator_of(request).store
    row = require_addressed(store, request, LINE_ITEM_KIND, THINGS[LINE_ITEM_KIND])
    data_source_uuid = owning_invoice(store, "line_items", row.uuid).body["data_source_uuid"]
    ids = ExternalIds(store, data_source_uuid, own_uuid=row.uuid)
    checked = check_line_item(ids, _merged(row.body, await json_body(request)))
    if checked.errors:
        raise error_fields(checked.errors)
    return ok(public_line_item(replace_line_item(store, row, checked.value)))


async def modify_transaction(request: Request) -> Response:
    """``PATCH /v1/transactions/{uuid}`` → 200 transaction."""
    store = emulator_of(request).store
    row = require_addressed(store, request, TRANSACTION_KIND, THINGS[TRANSACTION_KIND])
    data_source_uuid = owning_invoice(store, "transactions", row.uuid).body["data_source_uuid"]
    ids = ExternalIds(store, data_source_uuid, own_uuid=row.uuid)
    checked = check_transaction(ids, _merged(row.body, await json_body(request)))
    if checked.errors:
        raise error_fields(checked.errors)
    return ok(replace_transaction(store, row, checked.value))


def _public(kind: str, body: JSONDict) -> JSONDict:
    """``body`` as the API shows an object of ``kind``."""
    if kind == INVOICE_KIND:
        return public_invoice(body)
    return public_line_item(body) if kind == LINE_ITEM_KIND else body


def _disabled_state(kind: str) -> Callable[[Request], Awaitable[Response]]:
    async def handler(request: Request) -> Response:
        emulator = emulator_of(request)
        store = emulator.store
        row = require_addressed(store, request, kind, THINGS[kind])
        disabled = (await json_body(request)).get("disabled")
        if not isinstance(disabled, bool):
            raise error_fields({"disabled": NOT_BOOLEAN})
        stamp = iso_seconds(emulator.clock())
        return ok(_public(kind, set_disabled(store, kind, row, disabled, stamp)))

    handler.__doc__ = f"``PATCH .../disabled_state`` for a {THINGS[kind].lower()} → 200."
    return handler


async def update_invoice_status(request: Request) -> Response:
    """``PUT /v1/data_sources/{ds}/invoices/{external_id}/status`` → 200 invoice."""
    emulator = emulator_of(request)
    data_source = require_data_source(emulator, request.path_params["ds"], "data_source_uuid")
    row = emulator.store.find_one(
        INVOICE_KIND,
        data_source_uuid=data_source.uuid,
        external_id=request.path_params["external_id"],
    )
    if row is None:
        raise error_not_found(THINGS[INVOICE_KIND])
    status = (await json_body(request)).get("status")
    if not isinstance(status, str) or not status.strip():
        raise error_fields({"status": "can't be blank"})
    body = {**row.body, "status": status}
    emulator.store.update(INVOICE_KIND, row.uuid, body)
    return ok(public_invoice(body))


def _edit_routes(
    path: str, kind: str, modify: Callable[[Request], Awaitable[Response]]
) -> list[Route]:
    """The uuid and external-id forms of one object's edit endpoints."""
    disabled_state = _disabled_state(kind)
    return [
        Route(f"{path}/disabled_state", disabled_state, methods=["PATCH"]),
        Route(f"{path}/{{uuid}}/disabled_state", disabled_state, methods=["PATCH"]),
        Route(path, modify, methods=["PATCH"]),
        Route(f"{path}/{{uuid}}", modify, methods=["PATCH"]),
    ]


ROUTES = [
    *_edit_routes("/v1/invoices", INVOICE_KIND, modify_invoice),
    *_edit_routes("/v1/line_items", LINE_ITEM_KIND, modify_line_item),
    *_edit_routes("/v1/transactions", TRANSACTION_KIND, modify_transaction),
    Route(
        "/v1/data_sources/{ds}/invoices/{external_id}/status",
        update_invoice_status,
        methods=["PUT"],
    ),
]

"""Transactions: ``POST /v1/import/invoices/{uuid}/transactions`` and ``/v1/transactions``.

A transaction added here joins the invoice's embedded ``transactions`` list and is stored
as its own ``transaction`` row (see ``_billing_records``). Validation is the invoice
import's (``_billing_validation``) with bare field names, answered as 422 ``{"errors":
{field: message}}``; a reused external id gives ``{"errors": {"external_id": "has already
been taken"}}``. Unknown uuids give ``404 {"error": "Transaction not found"}``;
``GET|DELETE /v1/transactions?data_source_uuid=&external_id=`` address a transaction by
external id, as the official clients do.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mogulsync.emulator._http import error_fields, json_body, no_content, ok
from mogulsync.emulator.routes._billing_records import (
    TRANSACTION_KIND,
    add_transaction,
    delete_transaction,
    require_addressed,
    require_invoice,
)
from mogulsync.emulator.routes._billing_validation import ExternalIds, check_transaction
from mogulsync.emulator.state import emulator_of

THING = "Transaction"


async def create(request: Request) -> Response:
    """``POST /v1/import/invoices/{uuid}/transactions`` → 201 transaction."""
    store = emulator_of(request).store
    invoice = require_invoice(store, request.path_params["uuid"])
    payload = await json_body(request)
    checked = check_transaction(ExternalIds(store, invoice.body["data_source_uuid"]), payload)
    if checked.errors:
        raise error_fields(checked.errors)
    return ok(add_transaction(store, invoice, checked.value), 201)


async def retrieve(request: Request) -> Response:
    """``GET /v1/transactions/{uuid}`` (or by external id)."""
    store = emulator_of(request).store
    return ok(require_addressed(store, request, TRANSACTION_KIND, THING).body)


async def destroy(request: Request) -> Response:
    """``DELETE /v1/transactions/{uuid}`` (or by external id) → 204."""
    store = emulator_of(request).store
    delete_transaction(store, require_addressed(store, request, TRANSACTION_KIND, THING))
    return no_content()


ROUTES = [
    Route("/v1/import/invoices/{uuid}/transactions", create, methods=["POST"]),
    Route("/v1/transactions", retrieve, methods=["GET"]),
    Route("/v1/transactions", destroy, methods=["DELETE"]),
    Route("/v1/transactions/{uuid}", retrieve, methods=["GET"]),
    Route("/v1/transactions/{uuid}", destroy, methods=["DELETE"]),
]

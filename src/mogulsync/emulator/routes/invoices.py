"""Invoices and their line items: import, list, retrieve and delete.

- ``POST /v1/import/customers/{uuid}/invoices {"invoices": [...]}`` → 201
  ``{"invoices": [...]}``. Every invoice is checked (see ``_billing_validation``) before
  anything is written. The import is **all-or-nothing** [U]: when any invoice fails, the
  answer is 422 ``{"invoices": [{"external_id", "errors": {field: message}}]}`` listing the
  failing invoices only, and nothing is stored. ChartMogul's real partial-success
  behaviour is not recorded anywhere we could find, and all-or-nothing lets a client
  retry the corrected request without first cleaning up half an import.
- ``GET /v1/invoices`` (filters ``customer_uuid``, ``data_source_uuid``, ``external_id``,
  ``validation_type``) and ``GET /v1/import/customers/{uuid}/invoices`` page with the
  cursor contract plus the legacy ``current_page``/``total_pages`` on first pages.
  Invalid invoices are never stored, so ``validation_type=invalid`` lists nothing.
- ``GET|DELETE /v1/invoices/{uuid}``, ``DELETE /v1/invoices?data_source_uuid=&external_id=``
  and ``DELETE /v1/data_sources/{ds}/customers/{cus}/invoices`` (204).
- ``POST /v1/import/invoices/{uuid}/line_items`` → 201 line item, joining the invoice's
  embedded list (a ``subscription`` line item creates or reuses the subscription as the
  invoice import does); invalid input gives 422 ``{"errors": {field: message}}`` with
  bare field names. ``GET|DELETE /v1/line_items/{uuid}`` and the external-id variants
  ``/v1/line_items?data_source_uuid=&external_id=``; unknown ones give
  ``404 {"error": "Line item not found"}``.

Stored shapes are described in ``_billing_records``.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mogulsync.emulator._http import (
    error_code,
    error_fields,
    error_not_found,
    json_body,
    legacy_current_page,
    no_content,
    ok,
    page_rows,
)
from mogulsync.emulator.routes._billing_records import (
    INVOICE_KIND,
    LINE_ITEM_KIND,
    add_line_item,
    customer_data_source,
    delete_customer_invoices,
    delete_invoice,
    delete_line_item,
    require_addressed,
    require_customer,
    require_invoice,
    store_invoice,
)
from mogulsync.emulator.routes._billing_shapes import public_invoice, public_line_item
from mogulsync.emulator.routes._billing_validation import (
    ExternalIds,
    check_invoice,
    check_line_item,
)
from mogulsync.emulator.routes._listing import fetcher, nothing
from mogulsync.emulator.routes.data_sources import require_data_source
from mogulsync.emulator.state import emulator_of
from mogulsync.emulator.store import JSONDict, Row

VALIDATION_TYPES = ("valid", "invalid", "all")
LINE_ITEM = "Line item"


def _render(row: Row) -> JSONDict:
    return public_invoice(row.body)


def _render_listed(row: Row) -> JSONDict:
    """``GET /v1/invoices`` entries: line items also carry ``balance_transfer`` (null when
    unset), as the recorded list does; single-invoice reads do not show it."""
    body = public_invoice(row.body)
    body["line_items"] = [{**line, "balance_transfer": None} for line in body["line_items"]]
    return body


async def import_invoices(request: Request) -> Response:
    """``POST /v1/import/customers/{uuid}/invoices``."""
    emulator = emulator_of(request)
    store = emulator.store
    customer = require_customer(store, request.path_params["uuid"])
    payload = await json_body(request)
    entries = payload.get("invoices")
    if entries is None:
        raise error_code(400, 'Parameter "invoices" is missing', "invoices")
    if not isinstance(entries, list):
        raise error_code(400, 'Parameter "invoices" must be an array', "invoices")
    ids = ExternalIds(store, customer_data_source(customer))
    checked = [check_invoice(ids, entry) for entry in entries]
    failed = [
        {"external_id": invoice.value.get("external_id"), "errors": invoice.errors}
        for invoice in checked
        if invoice.errors
    ]
    if failed:
        return ok({"invoices": failed}, 422)
    stored = [store_invoice(store, customer, invoice) for invoice in checked]
    return ok({"invoices": [public_invoice(body) for body in stored]}, 201)


async def list_all(request: Request) -> Response:
    """``GET /v1/invoices`` with optional filters."""
    store = emulator_of(request).store
    query = request.query_params
    validation_type = query.get("validation_type", "valid")
    if validation_type not in VALIDATION_TYPES:
        raise error_code(
            400,
            'Parameter "validation_type" must be one of: valid, invalid, all',
            "validation_type",
        )
    # Invalid invoices are never stored, so asking for them lists nothing.
    fetch, count = (
        nothing()
        if validation_type == "invalid"
        else fetcher(
            store,
            INVOICE_KIND,
            descending=True,  # newest first, as the recorded cursors (creation times) show
            parent_uuid=query.get("customer_uuid"),
            data_source_uuid=query.get("data_source_uuid"),
            external_id=query.get("external_id"),
        )
    )
    body = page_rows(
        request,
        fetch,
        count,
        _render_listed,
        key="invoices",
        legacy=legacy_current_page,
        allow_page=True,
    )
    return ok(body)


async def list_for_customer(request: Request) -> Response:
    """``GET /v1/import/customers/{uuid}/invoices``."""
    store = emulator_of(request).store
    customer = require_customer(store, request.path_params["uuid"])
    fetch, count = fetcher(store, INVOICE_KIND, parent_uuid=customer.uuid)
    page = page_rows(
        request,
        fetch,
        count,
        _render,
        key="invoices",
        legacy=legacy_current_page,
        allow_page=True,
    )
    return ok({"customer_uuid": customer.uuid, **page})


async def retrieve(request: Request) -> Response:
    """``GET /v1/invoices/{uuid}``."""
    row = require_invoice(emulator_of(request).store, request.path_params["uuid"])
    return ok(public_invoice(row.body))


async def destroy(request: Request) -> Response:
    """``DELETE /v1/invoices/{uuid}`` → 204, with its line items and transactions."""
    store = emulator_of(request).store
    delete_invoice(store, require_invoice(store, request.path_params["uuid"]))
    return no_content()


async def destroy_by_external_id(request: Request) -> Response:
    """``DELETE /v1/invoices?data_source_uuid=&external_id=`` → 204."""
    store = emulator_of(request).store
    delete_invoice(store, require_addressed(store, request, INVOICE_KIND, "Invoice"))
    return no_content()


async def destroy_all(request: Request) -> Response:
    """``DELETE /v1/data_sources/{ds}/customers/{cus}/invoices`` → 204."""
    emulator = emulator_of(request)
    data_source = require_data_source(emulator, request.path_params["ds"], "data_source_uuid")
    customer = require_customer(emulator.store, request.path_params["cus"])
    # a merged customer lists every data source it has records in
    sources = customer.body.get("data_source_uuids") or [customer_data_source(customer)]
    if data_source.uuid not in sources:
        raise error_not_found("Customer", "customer_uuid")
    delete_customer_invoices(emulator.store, customer.uuid, data_source.uuid)
    return no_content()


# ---------------------------------------------------------------------- line items
async def create_line_item(request: Request) -> Response:
    """``POST /v1/import/invoices/{uuid}/line_items`` → 201 line item."""
    store = emulator_of(request).store
    invoice = require_invoice(store, request.path_params["uuid"])
    payload = await json_body(request)
    checked = check_line_item(ExternalIds(store, invoice.body["data_source_uuid"]), payload)
    if checked.errors:
        raise error_fields(checked.errors)
    return ok(public_line_item(add_line_item(store, invoice, checked.value)), 201)


async def retrieve_line_item(request: Request) -> Response:
    """``GET /v1/line_items/{uuid}`` (or by external id)."""
    store = emulator_of(request).store
    return ok(public_line_item(require_addressed(store, request, LINE_ITEM_KIND, LINE_ITEM).body))


async def destroy_line_item(request: Request) -> Response:
    """``DELETE /v1/line_items/{uuid}`` (or by external id) → 204."""
    store = emulator_of(request).store
    delete_line_item(store, require_addressed(store, request, LINE_ITEM_KIND, LINE_ITEM))
    return no_content()


ROUTES = [
    Route("/v1/import/customers/{uuid}/invoices", import_invoices, methods=["POST"]),
    Route("/v1/import/customers/{uuid}/invoices", list_for_customer, methods=["GET"]),
    Route("/v1/invoices", list_all, methods=["GET"]),
    Route("/v1/invoices", destroy_by_external_id, methods=["DELETE"]),
    Route("/v1/invoices/{uuid}", retrieve, methods=["GET"]),
    Route("/v1/invoices/{uuid}", destroy, methods=["DELETE"]),
    Route("/v1/data_sources/{ds}/customers/{cus}/invoices", destroy_all, methods=["DELETE"]),
    Route("/v1/import/invoices/{uuid}/line_items", create_line_item, methods=["POST"]),
    Route("/v1/line_items", retrieve_line_item, methods=["GET"]),
    Route("/v1/line_items", destroy_line_item, methods=["DELETE"]),
    Route("/v1/line_items/{uuid}", retrieve_line_item, methods=["GET"]),
    Route("/v1/line_items/{uuid}", destroy_line_item, methods=["DELETE"]),
]

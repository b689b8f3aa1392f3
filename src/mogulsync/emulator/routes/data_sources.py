"""Data sources: ``/v1/data_sources``."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mogulsync.emulator._http import (
    error_code,
    error_fields,
    error_not_found,
    iso_millis,
    json_body,
    new_uuid,
    no_content,
    ok,
)
from mogulsync.emulator.routes._customer_purge import delete_crm_objects
from mogulsync.emulator.state import Emulator, emulator_of
from mogulsync.emulator.store import JSONDict, Row, UnstorableValueError

CUSTOM_SYSTEM = "Custom"
#: kinds that belong to a data source and go when it is deleted
DEPENDENT_KINDS = (
    "customer",
    "contact",
    "plan",
    "invoice",
    "line_item",
    "transaction",
    "subscription",
    "subscription_event",
    "json_import",
)


def require_data_source(
    emulator: Emulator, uuid: str | None, param: str = "data_source_uuid"
) -> Row:
    """The data source, or the 404 ChartMogul answers for an unknown one."""
    try:
        row = emulator.store.get("data_source", uuid) if uuid else None
    except UnstorableValueError as exc:  # a list or object from a JSON body
        raise UnstorableValueError(param) from exc
    if row is None:
        raise error_not_found("Data source", param)
    return row


def _render(row: Row, request: Request) -> JSONDict:
    body = dict(row.body)
    flags = request.query_params
    if flags.get("with_processing_status") == "true":
        body["processing_status"] = {"processed": 0, "pending": 0, "failed": 0}
    if flags.get("with_auto_churn_subscription_setting") == "true":
        body["auto_churn_subscription_setting"] = {"enabled": False, "interval": None}
    if flags.get("with_invoice_handling_setting") == "true":
        # recorded shape (chartmogul-ruby data source cassette, 2025): the invoice status
        # that creates / updates a subscription, as a string
        handling = {
            "create_subscription_when_invoice_is": "open",
            "update_subscription_when_invoice_is": "open",
            "prevent_subscription_for_invoice_voided": True,
            "prevent_subscription_for_invoice_refunded": False,
            "prevent_subscription_for_invoice_written_off": True,
        }
        body["invoice_handling_setting"] = {"manual": handling, "automatic": handling}
    return body


async def create(request: Request) -> Response:
    """``POST /v1/data_sources {name}`` → 201."""
    emulator = emulator_of(request)
    payload = await json_body(request)
    if "name" not in payload:
        raise error_code(400, 'Parameter "name" is missing', "name")
    name = payload["name"]
    if not isinstance(name, str) or not name.strip():
        raise error_fields({"name": "A name is required for each data source."})
    if any(row.body["name"] == name for row in emulator.store.iter_kind("data_source")):
        raise error_fields({"name": "Has already been taken."})
    uuid = new_uuid("ds")
    body = {
        "uuid": uuid,
        "name": name,
        "system": CUSTOM_SYSTEM,
        "created_at": iso_millis(emulator.clock()),
        "status": "idle",
    }
    emulator.store.insert("data_source", uuid, body)
    return ok(body, 201)


async def list_all(request: Request) -> Response:
    """``GET /v1/data_sources[?name=&system=]`` (not paginated; ``page`` is refused)."""
    emulator = emulator_of(request)
    if "page" in request.query_params:
        raise error_code(400, 'Parameter "page" is deprecated', "page")
    name = request.query_params.get("name")
    system = request.query_params.get("system")
    entries = [
        _render(row, request)
        for row in emulator.store.iter_kind("data_source")
        if (name is None or row.body["name"] == name)
        and (system is None or row.body["system"] == system)
    ]
    return ok({"data_sources": entries})


async def retrieve(request: Request) -> Response:
    """``GET /v1/data_sources/{uuid}``."""
    row = require_data_source(emulator_of(request), request.path_params["uuid"], "uuid")
    return ok(_render(row, request))


async def destroy(request: Request) -> Response:
    """``DELETE /v1/data_sources/{uuid}`` → 204, with everything imported into it."""
    emulator = emulator_of(request)
    uuid = request.path_params["uuid"]
    if emulator.store.get("data_source", uuid) is None:
        raise error_not_found("Data source")
    _delete_dependents(emulator, uuid)
    emulator.store.delete("data_source", uuid)
    return no_content()


async def empty(request: Request) -> Response:
    """``DELETE /v1/data_sources/{uuid}/all`` → 204: everything imported, the source stays."""
    emulator = emulator_of(request)
    uuid = request.path_params["uuid"]
    require_data_source(emulator, uuid, "uuid")
    _delete_dependents(emulator, uuid)
    return no_content()


def _delete_dependents(emulator: Emulator, uuid: str) -> None:
    """Everything imported into the source, and the CRM objects of its customers (they
    hold no data source, so they are found through the customers before those go)."""
    store = emulator.store
    customers = frozenset(row.uuid for row in store.find("customer", data_source_uuid=uuid))
    delete_crm_objects(store, customers)
    for kind in DEPENDENT_KINDS:
        store.delete_where(kind, data_source_uuid=uuid)


ROUTES = [
    Route("/v1/data_sources", create, methods=["POST"]),
    Route("/v1/data_sources", list_all, methods=["GET"]),
    Route("/v1/data_sources/{uuid}", retrieve, methods=["GET"]),
    Route("/v1/data_sources/{uuid}", destroy, methods=["DELETE"]),
    Route("/v1/data_sources/{uuid}/all", empty, methods=["DELETE"]),
]

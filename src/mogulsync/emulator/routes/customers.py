"""Customers: ``/v1/customers`` create, list, search, retrieve, update and delete.

:func:`create_customer_record` and :func:`render_customer` are also the bulk JSON import's
way in, so a customer imported in bulk is validated and shown exactly like one created
with ``POST /v1/customers``. Revenue fields (mrr, arr, status, customer-since, currency)
come from the MRR engine; a customer without subscriptions shows its lead status.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mogulsync.emulator._http import (
    error_code,
    error_fields,
    iso_offset,
    json_body,
    legacy_customers,
    legacy_search,
    new_uuid,
    no_content,
    ok,
    page_rows,
)
from mogulsync.emulator.routes._countries import country_name, state_in_country, state_name
from mogulsync.emulator.routes._custom_attributes import parse_typed, parse_untyped
from mogulsync.emulator.routes._customer_purge import purge_customer
from mogulsync.emulator.routes._listing import fetcher, sources_with_system
from mogulsync.emulator.routes._lookup import (
    MERGED_META_KEY,
    customer_by_external_id,
    require_customer,
)
from mogulsync.emulator.routes._validation import FieldChecker, require_keys
from mogulsync.emulator.routes.contacts import apply_contact_update, contact_fields, insert_contact
from mogulsync.emulator.routes.data_sources import CUSTOM_SYSTEM, require_data_source
from mogulsync.emulator.state import Emulator, emulator_of
from mogulsync.emulator.store import Filter, JSONDict, Row

DUPLICATE_EXTERNAL_ID = "The external ID for this customer already exists in our system."
LEAD_STATUSES = ("New Lead", "Working Lead", "Qualified Lead", "Unqualified Lead")
DEFAULT_LEAD_STATUS = LEAD_STATUSES[0]
APP_CUSTOMER_URL = "https://app.chartmogul.com/#/customers/"
CURRENCY_SIGNS = {
    "USD": "$",
    "EUR": "€",
    "GBP": "£",
    "JPY": "¥",
    "CNY": "¥",
    "INR": "₹",
    "KRW": "₩",
    "BRL": "R$",
    "AUD": "A$",
    "CAD": "C$",
    "PLN": "zł",
}
PLAIN_TEXT_FIELDS = ("company", "state", "city", "zip")
NAME_LENGTH = 255


def normalise_status(raw: str) -> str:
    """``New_Lead`` / ``new lead`` → ``new lead`` for comparisons."""
    return raw.replace("_", " ").strip().lower()


# ---------------------------------------------------------------------- records
def create_customer_record(emulator: Emulator, payload: JSONDict) -> Row:
    """Validate and store a customer exactly as ``POST /v1/customers`` does.

    Raises ``EmulatorHTTPError``: 400 for a missing ``data_source_uuid``/``external_id``,
    404 for an unknown data source, 422 for invalid fields or a reused external id.
    """
    require_keys(payload, "data_source_uuid", "external_id")
    data_source = require_data_source(emulator, payload["data_source_uuid"])
    checker = FieldChecker(payload)
    external_id = checker.required_text("external_id", "An external ID is required.")
    body = _blank_body(external_id, data_source.uuid)
    body.update(_field_updates(checker, payload))
    attributes, primary = _nested_objects(checker, payload)
    tags = checker.string_list("attributes.tags", attributes.get("tags"))
    checker.raise_if_any()
    contact = contact_fields(primary, "primary_contact.") if primary else None
    if customer_by_external_id(emulator, data_source.uuid, external_id) is not None:
        raise error_fields({"external_id": DUPLICATE_EXTERNAL_ID})
    custom = parse_typed(emulator.store, attributes.get("custom") or [], "attributes.custom")
    body["attributes"] = {"tags": tags, "custom": custom}
    uuid = body["uuid"]
    row = emulator.store.insert(
        "customer",
        uuid,
        body,
        data_source_uuid=data_source.uuid,
        external_id=external_id,
        email=body["email"],
    )
    if contact is not None:
        insert_contact(emulator, row, data_source.uuid, {"position": 1, **contact})
    return row


def _nested_objects(checker: FieldChecker, payload: JSONDict) -> tuple[JSONDict, JSONDict | None]:
    """``attributes`` (``{}`` when absent) and ``primary_contact`` when they are objects."""
    attributes = payload.get("attributes") or {}
    if not isinstance(attributes, dict):
        checker.fail("attributes", "Attributes must be an object with tags and custom.")
        attributes = {}
    primary = payload.get("primary_contact")
    if primary is not None and not isinstance(primary, dict):
        checker.fail("primary_contact", "Primary contact must be an object.")
        primary = None
    return attributes, primary


def _blank_body(external_id: str, data_source_uuid: str) -> JSONDict:
    return {
        "uuid": new_uuid("cus"),
        "external_id": external_id,
        "data_source_uuid": data_source_uuid,
        "external_ids": [external_id],
        "data_source_uuids": [data_source_uuid],
        "name": "",
        "email": None,
        **dict.fromkeys(PLAIN_TEXT_FIELDS),
        "country": None,
        "lead_created_at": None,
        "free_trial_started_at": None,
        "owner": None,
        "website_url": None,
        "lead_status": DEFAULT_LEAD_STATUS,
        "attributes": {"tags": [], "custom": {}},
        "merges": [],
    }


def _field_updates(checker: FieldChecker, payload: JSONDict) -> JSONDict:
    """Validated values of the plain customer fields present in ``payload``."""
    validators: dict[str, Callable[[], Any]] = {
        "name": lambda: checker.text("name", max_length=NAME_LENGTH) or "",
        **{name: partial(checker.text, name) for name in PLAIN_TEXT_FIELDS},
        "email": checker.email,
        "owner": partial(checker.email, "owner"),
        "country": checker.country,
        "lead_created_at": partial(checker.timestamp, "lead_created_at"),
        "free_trial_started_at": partial(checker.timestamp, "free_trial_started_at"),
        "website_url": partial(checker.url, "website_url"),
    }
    updates = {name: check() for name, check in validators.items() if name in payload}
    if payload.get("status") is not None:
        status = _lead_status(payload["status"])
        if status is None:
            checker.fail("status", f"Status must be one of {', '.join(LEAD_STATUSES)}.")
        else:
            updates["lead_status"] = status
    return updates


def _lead_status(raw: Any) -> str | None:
    if not isinstance(raw, str):
        return None
    wanted = normalise_status(raw)
    return next((status for status in LEAD_STATUSES if status.lower() == wanted), None)


def update_customer_record(emulator: Emulator, row: Row, payload: JSONDict) -> Row:
    """Apply a ``PATCH /v1/customers/{uuid}`` payload; returns the stored result."""
    checker = FieldChecker(payload)
    body = dict(row.body)
    body.update(_field_updates(checker, payload))
    attributes, primary = _nested_objects(checker, payload)
    current = dict(body["attributes"])
    if "tags" in attributes:
        current["tags"] = checker.string_list("attributes.tags", attributes["tags"])
    checker.raise_if_any()
    contact = contact_fields(primary, "primary_contact.") if primary else None
    if attributes.get("custom") is not None:
        custom = current["custom"]
        changes = parse_untyped(emulator.store, attributes["custom"], custom, "attributes.custom")
        current["custom"] = {**custom, **changes}
    body["attributes"] = current
    save_customer(emulator, row.uuid, body)
    if contact is not None:
        _upsert_primary_contact(emulator, Row(row.seq, row.uuid, body), contact)
    return Row(row.seq, row.uuid, body)


def _upsert_primary_contact(emulator: Emulator, customer: Row, fields: JSONDict) -> None:
    primary = emulator.store.find("contact", parent_uuid=customer.uuid)
    first = min(primary, key=lambda row: row.body.get("position") or 0, default=None)
    if first is None:
        data_source_uuid = customer.body["data_source_uuid"]
        insert_contact(emulator, customer, data_source_uuid, {"position": 1, **fields})
    else:
        apply_contact_update(emulator, first, fields)


def save_customer(emulator: Emulator, uuid: str, body: JSONDict) -> None:
    """Persist a customer body, keeping the indexed columns in step."""
    emulator.store.update(
        "customer",
        uuid,
        body,
        data_source_uuid=body["data_source_uuid"],
        external_id=body["external_id"],
        email=body["email"],
    )


def customer_status(emulator: Emulator, row: Row) -> str:
    """Subscription status from the MRR engine, else the stored lead status."""
    revenue_status = emulator.mrr.customer(row.uuid).status
    return revenue_status or row.body.get("lead_status") or DEFAULT_LEAD_STATUS


def render_customer(emulator: Emulator, row: Row) -> JSONDict:
    """The full API shape of a stored customer (reference §5.3, key order as recorded)."""
    body = row.body
    revenue = emulator.mrr.customer(row.uuid)
    country = body.get("country")
    state = state_in_country(country, body.get("state"))
    display = (body.get("company") or body.get("name") or "").replace(" ", "_")
    data_source = emulator.store.get("data_source", body["data_source_uuid"])
    system = data_source.body.get("system", CUSTOM_SYSTEM) if data_source else CUSTOM_SYSTEM
    attributes = body["attributes"]
    return {
        "id": row.seq,
        "uuid": row.uuid,
        "external_id": body["external_id"],
        "name": body.get("name") or "",
        "email": body.get("email") or "",
        "status": revenue.status or body.get("lead_status") or DEFAULT_LEAD_STATUS,
        "customer-since": iso_offset(revenue.customer_since) if revenue.customer_since else None,
        "attributes": {
            "custom": dict(attributes["custom"]),
            "clearbit": {},
            "stripe": {},
            "tags": list(attributes["tags"]),
        },
        "data_source_uuid": body["data_source_uuid"],
        "data_source_uuids": list(body["data_source_uuids"]),
        "external_ids": list(body["external_ids"]),
        "company": body.get("company") or "",
        "country": country,
        "state": state,
        "city": body.get("city"),
        "zip": body.get("zip"),
        "lead_created_at": body.get("lead_created_at"),
        "free_trial_started_at": body.get("free_trial_started_at"),
        "address": {
            "country": country_name(country),
            "state": state_name(country, state),
            "city": body.get("city"),
            "address_zip": body.get("zip"),
        },
        "mrr": revenue.mrr,
        "arr": revenue.arr,
        "billing-system-url": None,
        "chartmogul-url": f"{APP_CUSTOMER_URL}{row.seq}-{display}",
        "billing-system-type": system,
        "currency": revenue.currency,
        "currency-sign": CURRENCY_SIGNS.get(revenue.currency, revenue.currency),
        "owner": body.get("owner"),
        "website_url": body.get("website_url"),
    }


# ---------------------------------------------------------------------- handlers
async def create(request: Request) -> Response:
    """``POST /v1/customers`` → 201 with the customer."""
    emulator = emulator_of(request)
    row = create_customer_record(emulator, await json_body(request))
    return ok(render_customer(emulator, row), 201)


async def list_all(request: Request) -> Response:
    """``GET /v1/customers?data_source_uuid=&external_id=&status=&system=``.

    Served with cursors and, because Airbyte's connector still pages this list with it,
    the deprecated ``page`` parameter; first pages carry the legacy offset fields.
    """
    emulator = emulator_of(request)
    query = request.query_params
    data_source_uuid = query.get("data_source_uuid")
    external_id = query.get("external_id")
    status = query.get("status")
    system = query.get("system")

    merged = emulator.store.get_meta(MERGED_META_KEY) is not None
    # A customer's primary data source and external id are indexed columns. Until a merge
    # gives some customer several, SQLite does all the filtering; after one, membership in
    # the merged lists is checked while scanning. ``system`` belongs to the primary data
    # source, so it is always an indexed ``IN`` over the data sources of that system.
    sources: Filter = None if merged else data_source_uuid
    if system is not None:
        with_system = sources_with_system(emulator.store, system)
        sources = with_system & {sources} if isinstance(sources, str) else with_system
    indexed: dict[str, Any] = {  # Any: mypy would match these keys against fetcher's own
        "data_source_uuid": sources,
        "external_id": None if merged else external_id,
    }

    def keep(row: Row) -> bool:
        body = row.body
        if merged and data_source_uuid not in (None, *body["data_source_uuids"]):
            return False
        if merged and external_id not in (None, *body["external_ids"]):
            return False
        wanted = normalise_status(status) if status is not None else None
        return wanted is None or normalise_status(customer_status(emulator, row)) == wanted

    # The status comes from the MRR engine, so that filter is applied while scanning.
    scan = status is not None or (merged and (data_source_uuid or external_id) is not None)
    fetch, count = fetcher(emulator.store, "customer", keep if scan else None, **indexed)
    render = partial(render_customer, emulator)
    body = page_rows(
        request, fetch, count, render, key="entries", legacy=legacy_customers, allow_page=True
    )
    return ok(body)


async def search(request: Request) -> Response:
    """``GET /v1/customers/search?email=`` → entries, or the recorded 404 (shape 1)."""
    emulator = emulator_of(request)
    email = request.query_params.get("email")
    if not email:
        raise error_code(400, 'Parameter "email" is missing', "email")
    fetch, count = fetcher(emulator.store, "customer", email=email)
    if count() == 0:
        raise error_code(404, f'Can\'t find any customers with email: "{email}"', "email")
    render = partial(render_customer, emulator)
    body = page_rows(
        request, fetch, count, render, key="entries", legacy=legacy_search, allow_page=True
    )
    return ok(body)


async def retrieve(request: Request) -> Response:
    """``GET /v1/customers/{uuid}``."""
    emulator = emulator_of(request)
    row = require_customer(emulator, request.path_params["uuid"])
    return ok(render_customer(emulator, row))


async def update(request: Request) -> Response:
    """``PATCH /v1/customers/{uuid}`` → 200 with the full customer."""
    emulator = emulator_of(request)
    row = require_customer(emulator, request.path_params["uuid"])
    updated = update_customer_record(emulator, row, await json_body(request))
    return ok(render_customer(emulator, updated))


async def destroy(request: Request) -> Response:
    """``DELETE /v1/customers/{uuid}`` → 204, taking its dependent data with it."""
    emulator = emulator_of(request)
    row = require_customer(emulator, request.path_params["uuid"])
    purge_customer(emulator.store, row)
    return no_content()


ROUTES = [
    Route("/v1/customers", create, methods=["POST"]),
    Route("/v1/customers", list_all, methods=["GET"]),
    # before /v1/customers/{uuid}, which would otherwise take "search" for a uuid
    Route("/v1/customers/search", search, methods=["GET"]),
    Route("/v1/customers/{uuid}", retrieve, methods=["GET"]),
    Route("/v1/customers/{uuid}", update, methods=["PATCH"]),
    Route("/v1/customers/{uuid}", destroy, methods=["DELETE"]),
]

"""Receiver for Segment's "ChartMogul (Actions)" destination.

``POST /webhooks/segment/{data_source_uuid}`` takes the flat snake_case payloads the
destination sends (peers reference §2), one event per request and without an auth header
(the path is outside ``/v1``, so the app's key check does not apply):

- **Send Customer** (from ``group`` calls): ``group_id`` is the customer's external id in
  this data source; the customer is created or its name, email, website, address and
  lead date (from ``created_at``) are updated.
- **Send Contact** (from ``identify`` calls): ``user_id`` (else ``anonymous_id``) is the
  contact's external id; ``company.id`` names the customer it belongs to (created when
  new). Without a company, a new contact gets a customer of its own keyed by the same id,
  as ChartMogul's "create company when a user is created" setting does.

Invalid payloads get 400 (malformed) or 422 (the destination's own rules) with
``{"message": ...}``. An empty ``{}`` is the destination's connection test and gets 200.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mogulsync.emulator._http import error_message, json_body, ok, parse_time
from mogulsync.emulator.routes._lookup import customer_by_external_id
from mogulsync.emulator.routes.contacts import (
    apply_contact_update,
    contact_fields,
    insert_contact,
    save_contact,
)
from mogulsync.emulator.routes.customers import create_customer_record, update_customer_record
from mogulsync.emulator.routes.data_sources import require_data_source
from mogulsync.emulator.state import Emulator, emulator_of
from mogulsync.emulator.store import JSONDict, Row

SEND_CUSTOMER = "Send Customer"
SEND_CONTACT = "Send Contact"
REQUIRED = ("message_id", "timestamp", "sent_at")
TIME_FIELDS = ("timestamp", "sent_at")
#: type, message_id, timestamp, sent_at and one id carry no contact data
BOOKKEEPING_KEYS = 5
MISSING_IDS = "The user_id and/or anonymous_id must be present."
NOTHING_OF_INTEREST = "The event contains no information of interest to Chartmogul."
#: contact field ← payload keys (Segment traits may be snake_case or camelCase)
CONTACT_KEYS = {
    "email": ("email",),
    "first_name": ("first_name", "firstName"),
    "last_name": ("last_name", "lastName"),
    "title": ("title",),
    "phone": ("phone",),
    "linked_in": ("linked_in", "linkedIn"),
    "twitter": ("twitter",),
}
ADDRESS_KEYS = {"city": "city", "state": "state", "postal_code": "zip", "country": "country"}


async def receive(request: Request) -> Response:
    """Apply one Segment event to the data source in the path; 200 ``{"status": "ok"}``."""
    emulator = emulator_of(request)
    data_source = require_data_source(emulator, request.path_params["data_source_uuid"])
    payload = await json_body(request, required=False)
    if not payload:
        return ok({"status": "ok"})
    kind = payload.get("type")
    if kind == SEND_CUSTOMER:
        _check_envelope(payload, ("user_id", "group_id"))
        _send_customer(emulator, data_source.uuid, payload)
    elif kind == SEND_CONTACT:
        _check_envelope(payload, ())
        _send_contact(emulator, data_source.uuid, payload)
    else:
        raise error_message(
            400, f'Unsupported type {kind!r}: expected "{SEND_CUSTOMER}" or "{SEND_CONTACT}".'
        )
    return ok({"status": "ok"})


def _check_envelope(payload: JSONDict, ids: tuple[str, ...]) -> None:
    for name in (*REQUIRED, *ids):
        value = payload.get(name)
        if value is None or value == "":
            raise error_message(400, f'The "{name}" field is required.')
    for name in TIME_FIELDS:
        if parse_time(payload[name]) is None:
            raise error_message(400, f'The "{name}" field must be an ISO 8601 date-time.')


def _send_customer(emulator: Emulator, data_source_uuid: str, payload: JSONDict) -> None:
    fields: JSONDict = {}
    for source, target in (("name", "name"), ("email", "email"), ("website", "website_url")):
        if payload.get(source) is not None:
            fields[target] = payload[source]
    if payload.get("created_at") is not None:
        fields["lead_created_at"] = payload["created_at"]
    address = payload.get("address")
    if address is not None and not isinstance(address, dict):
        raise error_message(400, 'The "address" field must be an object.')
    for source, target in ADDRESS_KEYS.items():
        if address and address.get(source) is not None:
            fields[target] = address[source]
    external_id = str(payload["group_id"])
    existing = customer_by_external_id(emulator, data_source_uuid, external_id)
    if existing is None:
        create_customer_record(
            emulator, {"data_source_uuid": data_source_uuid, "external_id": external_id, **fields}
        )
    else:
        update_customer_record(emulator, existing, fields)


def _send_contact(emulator: Emulator, data_source_uuid: str, payload: JSONDict) -> None:
    external_id = payload.get("user_id") or payload.get("anonymous_id")
    if not external_id:
        raise error_message(422, MISSING_IDS)
    event = {key: value for key, value in payload.items() if value is not None}
    company = event.get("company")
    if not (isinstance(company, dict) and company.get("id")):
        # the destination drops a company without an id before sending
        event.pop("company", None)
        company = None
    if len(event) <= BOOKKEEPING_KEYS:
        raise error_message(422, NOTHING_OF_INTEREST)
    fields = contact_fields(_contact_values(event))
    external_id = str(external_id)
    contact = emulator.store.find_one(
        "contact", data_source_uuid=data_source_uuid, external_id=external_id
    )
    if company is not None:
        customer = _company_customer(emulator, data_source_uuid, company)
    elif contact is None:
        customer = _own_customer(emulator, data_source_uuid, external_id, fields)
    else:
        customer = None
    if contact is None:
        assert customer is not None
        insert_contact(emulator, customer, data_source_uuid, {"external_id": external_id, **fields})
        return
    contact = apply_contact_update(emulator, contact, fields)
    if customer is not None and contact.body["customer_uuid"] != customer.uuid:
        moved = {**contact.body, "customer_uuid": customer.uuid}
        save_contact(emulator, Row(contact.seq, contact.uuid, moved))


def _contact_values(event: JSONDict) -> JSONDict:
    values: JSONDict = {}
    for field, keys in CONTACT_KEYS.items():
        for key in keys:
            if event.get(key) is not None:
                values[field] = event[key]
                break
    name = event.get("name")
    if isinstance(name, str) and name.strip() and not ({"first_name", "last_name"} & set(values)):
        first, _, last = name.strip().partition(" ")
        values["first_name"] = first
        values["last_name"] = last.strip() or None
    return values


def _company_customer(emulator: Emulator, data_source_uuid: str, company: JSONDict) -> Row:
    external_id = str(company["id"])
    found = customer_by_external_id(emulator, data_source_uuid, external_id)
    if found is not None:
        return found
    payload: dict[str, Any] = {"data_source_uuid": data_source_uuid, "external_id": external_id}
    if company.get("name") is not None:
        payload["name"] = company["name"]
    return create_customer_record(emulator, payload)


def _own_customer(
    emulator: Emulator, data_source_uuid: str, external_id: str, fields: JSONDict
) -> Row:
    found = customer_by_external_id(emulator, data_source_uuid, external_id)
    if found is not None:
        return found
    full_name = " ".join(
        part for part in (fields.get("first_name"), fields.get("last_name")) if part
    )
    payload: dict[str, Any] = {
        "data_source_uuid": data_source_uuid,
        "external_id": external_id,
        "name": full_name or fields.get("email") or external_id,
    }
    if fields.get("email"):
        payload["email"] = fields["email"]
    return create_customer_record(emulator, payload)


ROUTES = [
    Route("/webhooks/segment/{data_source_uuid}", receive, methods=["POST"]),
]

"""Customer merges and unmerges, and connecting a customer's subscriptions.

ChartMogul merges asynchronously and answers ``202 {}``; the emulator merges before it
answers, so a client that reads right after the 202 already sees the result (a client
that waits or polls sees the same thing).

A merge moves the source customer's contacts, invoices and subscriptions to the target,
adds its external id and data source to the target's ``external_ids`` /
``data_source_uuids``, tags the target ``merged-customer`` (as recorded) and deletes the
source. The target keeps a snapshot of the source and of what moved (``merges`` in its
stored body, never rendered), so ``/customers/unmerges`` can split it off again.

Connected subscriptions share a ``connection_group`` id in their stored body, which the
MRR engine may use to treat them as one continuing subscription.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mogulsync.emulator._http import (
    error_code,
    error_fields,
    error_not_found,
    json_body,
    new_uuid,
    ok,
)
from mogulsync.emulator.routes._lookup import (
    MERGED_META_KEY,
    customer_by_external_id,
    remember_merged_id,
    require_customer,
)
from mogulsync.emulator.routes._validation import require_keys
from mogulsync.emulator.routes.customers import save_customer
from mogulsync.emulator.state import Emulator, emulator_of
from mogulsync.emulator.store import JSONDict, Row

MERGED_TAG = "merged-customer"
#: kinds whose rows hang off a customer through ``parent_uuid`` and move with a merge
MOVED_KINDS = ("contact", "invoice", "subscription")
MIN_CONNECTED = 2
#: customer fields the target takes from the source when it has no value of its own
FILLABLE_FIELDS = (
    "name",
    "email",
    "company",
    "country",
    "state",
    "city",
    "zip",
    "lead_created_at",
    "free_trial_started_at",
    "owner",
    "website_url",
)


# ---------------------------------------------------------------------- merge
def _identify(emulator: Emulator, spec: Any, param: str) -> Row:
    """The customer named by ``{customer_uuid}`` or ``{data_source_uuid, external_id}``."""
    if not isinstance(spec, dict):
        raise error_code(400, f'Parameter "{param}" is missing', param)
    if spec.get("customer_uuid"):
        return require_customer(emulator, spec["customer_uuid"], param)
    data_source_uuid, external_id = spec.get("data_source_uuid"), spec.get("external_id")
    if not (isinstance(data_source_uuid, str) and isinstance(external_id, str)):
        raise error_code(
            400,
            f'Parameter "{param}" needs customer_uuid, or data_source_uuid and external_id',
            param,
        )
    row = customer_by_external_id(emulator, data_source_uuid, external_id)
    if row is None:
        raise error_not_found("Customer", param)
    return row


def _move(emulator: Emulator, kind: str, uuids: list[str], target_uuid: str) -> None:
    for uuid in uuids:
        row = emulator.store.get(kind, uuid)
        if row is None:
            continue
        body = dict(row.body)
        if "customer_uuid" in body:
            body["customer_uuid"] = target_uuid
        emulator.store.update(kind, uuid, body, parent_uuid=target_uuid)


def _renumber_contacts(emulator: Emulator, customer_uuid: str) -> None:
    """Positions 1..n in their current order, so moved contacts do not collide."""
    rows = emulator.store.find("contact", parent_uuid=customer_uuid)
    ordered = sorted(rows, key=lambda row: (row.body.get("position") or 0, row.seq))
    for position, row in enumerate(ordered, start=1):
        if row.body.get("position") != position:
            emulator.store.update("contact", row.uuid, {**row.body, "position": position})


def merge_customers(emulator: Emulator, source: Row, target: Row) -> None:
    """Fold ``source`` into ``target`` and delete ``source``."""
    moved: dict[str, list[str]] = {}
    for kind in MOVED_KINDS:
        moved[kind] = [row.uuid for row in emulator.store.find(kind, parent_uuid=source.uuid)]
        _move(emulator, kind, moved[kind], target.uuid)
    _renumber_contacts(emulator, target.uuid)
    body = dict(target.body)
    src = source.body
    for name in FILLABLE_FIELDS:
        if not body.get(name) and src.get(name):
            body[name] = src[name]
    body["external_ids"] = list(dict.fromkeys([*body["external_ids"], *src["external_ids"]]))
    # From now on a customer can answer to ids outside its indexed columns (see list_all).
    emulator.store.set_meta(MERGED_META_KEY, "1")
    body["data_source_uuids"] = list(
        dict.fromkeys([*body["data_source_uuids"], *src["data_source_uuids"]])
    )
    tags = [*body["attributes"]["tags"], *src["attributes"]["tags"], MERGED_TAG]
    custom = {**src["attributes"]["custom"], **body["attributes"]["custom"]}
    body["attributes"] = {"tags": list(dict.fromkeys(tags)), "custom": custom}
    snapshot = {key: value for key, value in src.items() if key != "merges"}
    record = {
        "external_id": src["external_id"],
        "data_source_uuid": src["data_source_uuid"],
        "customer": snapshot,
        "moved": moved,
    }
    body["merges"] = [*body["merges"], *src.get("merges", []), record]
    for item in body["merges"]:
        remember_merged_id(emulator, item["data_source_uuid"], item["external_id"], target.uuid)
    emulator.store.delete("customer", source.uuid)
    save_customer(emulator, target.uuid, body)


async def merge(request: Request) -> Response:
    """``POST /v1/customers/merges {from, into, move_to_new_customer?}`` → 202 ``{}``."""
    emulator = emulator_of(request)
    payload = await json_body(request)
    source = _identify(emulator, payload.get("from"), "from")
    target = _identify(emulator, payload.get("into"), "into")
    if source.uuid == target.uuid:
        raise error_fields({"from": "A customer cannot be merged into itself."})
    merge_customers(emulator, source, target)
    return ok({}, 202)


# ---------------------------------------------------------------------- unmerge
async def unmerge(request: Request) -> Response:
    """``POST /v1/customers/unmerges {customer_uuid, data_source_uuid, external_id,
    move_to_new_customer}`` → 202 ``{}``.

    The merged-in customer comes back (with a new uuid) with the contacts, invoices and
    subscriptions it brought. ``move_to_new_customer`` names CRM items (tasks, notes,
    opportunities) the emulator does not hold, so it is validated and otherwise unused.
    """
    emulator = emulator_of(request)
    payload = await json_body(request)
    require_keys(payload, "customer_uuid", "data_source_uuid", "external_id")
    customer = require_customer(emulator, payload["customer_uuid"], "customer_uuid")
    extras = payload.get("move_to_new_customer", [])
    if not isinstance(extras, list) or not all(isinstance(item, str) for item in extras):
        raise error_fields({"move_to_new_customer": "Must be a list of strings."})
    key = (payload["data_source_uuid"], payload["external_id"])
    records = customer.body.get("merges", [])
    record = next(
        (item for item in records if (item["data_source_uuid"], item["external_id"]) == key),
        None,
    )
    if record is None:
        raise error_fields(
            {"external_id": "This external ID was not merged into the given customer."}
        )
    restored = {**record["customer"], "uuid": new_uuid("cus"), "merges": []}
    emulator.store.insert(
        "customer",
        restored["uuid"],
        restored,
        data_source_uuid=restored["data_source_uuid"],
        external_id=restored["external_id"],
        email=restored["email"],
    )
    for kind, uuids in record["moved"].items():
        still_here = [
            uuid
            for uuid in uuids
            if (row := emulator.store.get(kind, uuid))
            and row.body.get("customer_uuid")
            in (
                customer.uuid,
                None,
            )
        ]
        _move(emulator, kind, still_here, restored["uuid"])
    _renumber_contacts(emulator, restored["uuid"])
    body = dict(customer.body)
    body["merges"] = [item for item in records if item is not record]
    body["external_ids"] = [ext for ext in body["external_ids"] if ext != key[1]]
    remaining_sources = {body["data_source_uuid"]} | {
        item["data_source_uuid"] for item in body["merges"]
    }
    body["data_source_uuids"] = [
        uuid for uuid in body["data_source_uuids"] if uuid in remaining_sources
    ]
    save_customer(emulator, customer.uuid, body)
    remember_merged_id(emulator, key[0], key[1], None)
    return ok({}, 202)


# ---------------------------------------------------------------------- connections
def _customer_subscriptions(emulator: Emulator, customer: Row, payload: JSONDict) -> list[Row]:
    """Resolve ``subscriptions: [{data_source_uuid, uuid | external_id}]`` of a customer."""
    specs = payload.get("subscriptions")
    if not isinstance(specs, list) or not specs:
        raise error_code(400, 'Parameter "subscriptions" is missing', "subscriptions")
    rows: list[Row] = []
    for spec in specs:
        row = None
        if isinstance(spec, dict) and spec.get("uuid"):
            row = emulator.store.get("subscription", str(spec["uuid"]))
        elif isinstance(spec, dict) and spec.get("external_id"):
            row = emulator.store.find_one(
                "subscription",
                data_source_uuid=spec.get("data_source_uuid"),
                external_id=str(spec["external_id"]),
                parent_uuid=customer.uuid,
            )
        if row is None:
            raise error_not_found("Subscription", "subscriptions")
        if row.body.get("customer_uuid") != customer.uuid:
            raise error_fields(
                {"subscriptions": f"Subscription {row.uuid} does not belong to this customer."}
            )
        rows.append(row)
    return list({row.uuid: row for row in rows}.values())


async def connect(request: Request) -> Response:
    """``POST /v1/customers/{uuid}/connect_subscriptions`` → 202 ``{}``."""
    emulator = emulator_of(request)
    customer = require_customer(emulator, request.path_params["uuid"])
    rows = _customer_subscriptions(emulator, customer, await json_body(request))
    if len(rows) < MIN_CONNECTED:
        raise error_fields({"subscriptions": "At least two subscriptions are needed to connect."})
    groups = {row.body["connection_group"] for row in rows if row.body.get("connection_group")}
    members = {row.uuid: row for row in rows}
    for sibling in emulator.store.find("subscription", parent_uuid=customer.uuid):
        if sibling.body.get("connection_group") in groups:
            members[sibling.uuid] = sibling
    group = new_uuid("")
    for row in members.values():
        emulator.store.update("subscription", row.uuid, {**row.body, "connection_group": group})
    return ok({}, 202)


async def disconnect(request: Request) -> Response:
    """``POST /v1/customers/{uuid}/disconnect_subscriptions`` → 202 ``{}``."""
    emulator = emulator_of(request)
    customer = require_customer(emulator, request.path_params["uuid"])
    rows = _customer_subscriptions(emulator, customer, await json_body(request))
    groups = {row.body.get("connection_group") for row in rows} - {None}
    for row in rows:
        body = {key: value for key, value in row.body.items() if key != "connection_group"}
        emulator.store.update("subscription", row.uuid, body)
    for sibling in emulator.store.find("subscription", parent_uuid=customer.uuid):
        group = sibling.body.get("connection_group")
        if group not in groups:
            continue
        # a group of one is no connection at all
        mates = [
            row
            for row in emulator.store.find("subscription", parent_uuid=customer.uuid)
            if row.body.get("connection_group") == group
        ]
        if len(mates) < MIN_CONNECTED:
            body = {key: value for key, value in sibling.body.items() if key != "connection_group"}
            emulator.store.update("subscription", sibling.uuid, body)
    return ok({}, 202)


ROUTES = [
    Route("/v1/customers/merges", merge, methods=["POST"]),
    Route("/v1/customers/unmerges", unmerge, methods=["POST"]),
    Route("/v1/customers/{uuid}/connect_subscriptions", connect, methods=["POST"]),
    Route("/v1/customers/{uuid}/disconnect_subscriptions", disconnect, methods=["POST"]),
]

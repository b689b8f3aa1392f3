"""Activities (MRR movements): the account-wide list, one customer's list, and exports.

- ``GET /v1/activities?start-date=&end-date=&type=&order=date|-date`` pages with
  ``per_page`` (or legacy ``per-page``) and either ``cursor`` or the legacy anchor
  ``start-after=<activity uuid>``; both mean "the entries after this activity in the current
  order", and the cursor we hand out is the last entry's uuid, as observed [O]. Pages
  requested without a cursor add ``per_page``.
- ``GET /v1/customers/{uuid}/activities`` → entries with an integer ``id`` and
  ``currency-sign`` but no customer fields; first pages add ``page``/``per_page``.
- ``POST /v1/activities_export`` → 200 pending export; ``GET /v1/activities_export/{id}``
  → succeeded, with a ``file_url`` served by this emulator (CSV, no auth, like a signed
  URL) and ``expires_at`` seven days after creation.

Activities come from :class:`~mogulsync.emulator.mrr.MrrEngine`; rules in
``docs/emulator-mrr.md``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mogulsync.emulator._http import (
    error_code,
    error_not_found,
    iso_offset,
    iso_seconds,
    json_body,
    legacy_page_per_page,
    new_uuid,
    ok,
    page_items,
    parse_time,
    per_page,
)
from mogulsync.emulator.mrr_facts import MONTHS_PER_YEAR, Facts
from mogulsync.emulator.mrr_store import stable_int
from mogulsync.emulator.mrr_timeline import MOVEMENT_TYPES, Activity, describe
from mogulsync.emulator.routes._lookup import require_customer
from mogulsync.emulator.routes.customers import CURRENCY_SIGNS
from mogulsync.emulator.state import emulator_of
from mogulsync.emulator.store import JSONDict

ORDERS = ("date", "-date")
EXPORT_KIND = "activities_export"
#: stored beside the API object: the selection exactly as the caller sent it
SELECTION_KEY = "_selection"
EXPORT_LIFETIME = timedelta(days=7)
EXPORT_FILE_PATH = "/files/activities_export/{id}.csv"
#: length of a date-only value such as 2016-01-01: as an end date it covers the whole day
DATE_ONLY_LENGTH = 10
EXPORT_COLUMNS = (
    "uuid",
    "date",
    "type",
    "description",
    "activity-mrr-movement",
    "activity-mrr",
    "activity-arr",
    "currency",
    "subscription-external-id",
    "subscription-set-external-id",
    "plan-external-id",
    "customer-name",
    "customer-uuid",
    "customer-external-id",
    "billing-connector-uuid",
)


# ---------------------------------------------------------------------- rendering
def render_activity(activity: Activity, facts: Facts) -> JSONDict:
    """An account-wide activity entry (keys as recorded; absent values are left out)."""
    subscription = facts.subscriptions.get(activity.subscription_uuid)
    customer = facts.customers.get(activity.customer_uuid)
    plan = facts.plans.get(activity.plan_uuid or "")
    optional = {
        "subscription-external-id": subscription.external_id if subscription else None,
        "subscription-set-external-id": subscription.set_external_id if subscription else None,
        "plan-external-id": plan.external_id if plan else None,
        "customer-name": customer.name if customer else None,
        "customer-uuid": activity.customer_uuid,
        "customer-external-id": customer.external_id if customer else None,
        "billing-connector-uuid": subscription.data_source_uuid if subscription else None,
    }
    return {
        "description": describe(activity, CURRENCY_SIGNS.get(activity.currency, "")),
        "activity-mrr-movement": activity.movement,
        "activity-mrr": activity.customer_mrr,
        "activity-arr": activity.customer_mrr * MONTHS_PER_YEAR,
        "date": iso_offset(activity.date),
        "type": activity.type,
        "currency": activity.currency,
        **{key: value for key, value in optional.items() if value is not None},
        "uuid": activity.uuid,
    }


def render_customer_activity(activity: Activity, facts: Facts) -> JSONDict:
    """A customer-scoped activity entry: integer ``id``, ``currency-sign``, no customer."""
    subscription = facts.subscriptions.get(activity.subscription_uuid)
    body: JSONDict = {
        "id": stable_int(activity.uuid),
        "activity-arr": activity.customer_mrr * MONTHS_PER_YEAR,
        "activity-mrr": activity.customer_mrr,
        "activity-mrr-movement": activity.movement,
        "currency": activity.currency,
        "currency-sign": CURRENCY_SIGNS.get(activity.currency, activity.currency),
        "date": iso_offset(activity.date),
        "description": describe(activity, CURRENCY_SIGNS.get(activity.currency, "")),
        "type": activity.type,
    }
    if subscription and subscription.external_id is not None:
        body["subscription-external-id"] = subscription.external_id
    return body


# ---------------------------------------------------------------------- filtering
def _moment(params: Any, name: str, *, whole_day: bool) -> datetime | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    parsed = parse_time(raw)
    if parsed is None:
        raise error_code(400, f'Parameter "{name}" is not a valid date', name)
    if whole_day and len(raw.strip()) == DATE_ONLY_LENGTH:
        return parsed + timedelta(days=1) - timedelta(microseconds=1)
    return parsed


def select_activities(activities: Sequence[Activity], params: Any) -> list[Activity]:
    """Apply the ``start-date``, ``end-date``, ``type`` and ``order`` parameters."""
    start = _moment(params, "start-date", whole_day=False)
    end = _moment(params, "end-date", whole_day=True)
    kind = params.get("type")
    if kind is not None and kind not in MOVEMENT_TYPES:
        raise error_code(
            400, f'Parameter "type" must be one of: {", ".join(MOVEMENT_TYPES)}', "type"
        )
    order = params.get("order", "date")
    if order not in ORDERS:
        raise error_code(400, 'Parameter "order" must be "date" or "-date"', "order")
    chosen = [
        activity
        for activity in activities
        if (start is None or activity.date >= start)
        and (end is None or activity.date <= end)
        and (kind is None or activity.type == kind)
    ]
    if order == "-date":
        chosen.reverse()
    return chosen


def _anchored_page(request: Request, chosen: Sequence[Activity], facts: Facts) -> JSONDict:
    size = per_page(request, "per-page")
    cursor = request.query_params.get("cursor")
    anchor_name = "cursor" if cursor else "start-after"
    anchor = cursor or request.query_params.get("start-after")
    start = 0
    if anchor:
        index = next((i for i, a in enumerate(chosen) if a.uuid == anchor), None)
        if index is None:
            raise error_code(400, f'Parameter "{anchor_name}" is not a known activity', anchor_name)
        start = index + 1
    chunk = chosen[start : start + size]
    body: JSONDict = {
        "entries": [render_activity(activity, facts) for activity in chunk],
        "has_more": start + len(chunk) < len(chosen),
    }
    if not cursor:
        body["per_page"] = size
    body["cursor"] = chunk[-1].uuid if chunk else None
    return body


# ---------------------------------------------------------------------- handlers
async def list_all(request: Request) -> Response:
    """``GET /v1/activities``."""
    engine = emulator_of(request).mrr
    chosen = select_activities(engine.activities(), request.query_params)
    return ok(_anchored_page(request, chosen, engine.facts()))


async def list_for_customer(request: Request) -> Response:
    """``GET /v1/customers/{uuid}/activities``."""
    emulator = emulator_of(request)
    customer = require_customer(emulator, request.path_params["uuid"])
    facts, _ = emulator.mrr.customer_scope(customer.uuid)
    entries = [
        render_customer_activity(activity, facts)
        for activity in emulator.mrr.customer_activities(customer.uuid)
    ]
    body = page_items(request, entries, key="entries", legacy=legacy_page_per_page, allow_page=True)
    return ok(body)


async def create_export(request: Request) -> Response:
    """``POST /v1/activities_export {"start-date", "end-date", "type"}`` → 200 pending."""
    emulator = emulator_of(request)
    payload = await json_body(request, required=False)
    params: JSONDict = {
        key: payload[key] for key in ("start-date", "end-date", "type") if key in payload
    }
    select_activities((), params)  # validates the parameters the way the list does
    export_id = new_uuid("")
    body = {
        "id": export_id,
        "status": "pending",
        "file_url": None,
        "params": {"kind": "activities", "params": _echoed(params)},
        "expires_at": None,
        "created_at": iso_offset(emulator.clock()),
    }
    # the selection as sent, for the download; never part of the API object
    emulator.store.insert(EXPORT_KIND, export_id, {**body, SELECTION_KEY: params})
    return ok(body)


def _echoed(params: JSONDict) -> JSONDict:
    """The export's ``params.params`` as recorded: ``activity_type``, ``start_date``,
    ``end_date``, dates as ``2020-01-01 00:00:00 +0000`` (only those sent)."""
    echoed: JSONDict = {}
    if "type" in params:
        echoed["activity_type"] = params["type"]
    for sent, shown in (("start-date", "start_date"), ("end-date", "end_date")):
        if sent in params:
            moment = parse_time(params[sent])
            echoed[shown] = (
                f"{iso_seconds(moment)[:10]} {iso_seconds(moment)[11:19]} +0000"
                if moment is not None
                else params[sent]
            )
    return echoed


def _require_export(request: Request) -> JSONDict:
    row = emulator_of(request).store.get(EXPORT_KIND, request.path_params["id"])
    if row is None:
        raise error_not_found("Activities export")
    return row.body


def _selection(body: JSONDict) -> JSONDict:
    """What the export selects (exports stored before the echo fix kept it in params)."""
    selection = body.get(SELECTION_KEY)
    return dict(selection) if isinstance(selection, dict) else dict(body["params"]["params"])


async def retrieve_export(request: Request) -> Response:
    """``GET /v1/activities_export/{id}`` → succeeded with a download URL."""
    body = dict(_require_export(request))
    body.pop(SELECTION_KEY, None)
    created = parse_time(body["created_at"]) or emulator_of(request).clock()
    path = EXPORT_FILE_PATH.format(id=body["id"])
    body.update(
        status="succeeded",
        file_url=f"{str(request.base_url).rstrip('/')}{path}",
        expires_at=iso_offset(created + EXPORT_LIFETIME),
    )
    return ok(body)


async def download_export(request: Request) -> Response:
    """The export file: the selected activities as CSV, computed when downloaded."""
    body = _require_export(request)
    engine = emulator_of(request).mrr
    facts = engine.facts()
    chosen = select_activities(engine.activities(), _selection(body))
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=EXPORT_COLUMNS, extrasaction="ignore")
    writer.writeheader()
    for activity in chosen:
        writer.writerow(render_activity(activity, facts))
    return Response(out.getvalue(), media_type="text/csv")


ROUTES = [
    Route("/v1/activities", list_all, methods=["GET"]),
    Route("/v1/customers/{uuid}/activities", list_for_customer, methods=["GET"]),
    Route("/v1/activities_export", create_export, methods=["POST"]),
    Route("/v1/activities_export/{id}", retrieve_export, methods=["GET"]),
    Route(EXPORT_FILE_PATH, download_export, methods=["GET"]),
]

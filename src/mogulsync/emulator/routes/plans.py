"""Plans (``/v1/plans``) and plan groups (``/v1/plan_groups``).

Plans belong to a data source; their ``external_id`` is unique there and auto-generated
when omitted (the recorded API uses the plan uuid's suffix). Plan groups are a newer,
Rails-backed endpoint: created with 200, and their 422s use field arrays plus
``error_details`` (shape 4).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mogulsync.emulator._http import (
    error_fields,
    error_rails,
    json_body,
    legacy_current_page,
    new_uuid,
    no_content,
    ok,
    page_items,
    page_rows,
)
from mogulsync.emulator.routes._listing import fetcher, sources_with_system
from mogulsync.emulator.routes._lookup import require_plan, require_row
from mogulsync.emulator.routes._validation import FieldChecker, require_keys
from mogulsync.emulator.routes.data_sources import require_data_source
from mogulsync.emulator.state import Emulator, emulator_of
from mogulsync.emulator.store import Filter, JSONDict, Row

DUPLICATE_EXTERNAL_ID = "A plan with this identifier already exists in our system."
#: the 422 for deleting a plan in use [U: the rule is documented, the answer is not]
IN_USE = "The plan is used by subscriptions or invoices and cannot be deleted"
IN_USE_FIX = "Delete those invoices and subscription events first, or stop deleting the plan."
INTERVAL_UNITS = ("day", "month", "year")


# ---------------------------------------------------------------------- plans
def create_plan_record(emulator: Emulator, payload: JSONDict) -> Row:
    """Validate and store a plan exactly as ``POST /v1/plans`` does.

    Raises ``EmulatorHTTPError``: 400 without ``data_source_uuid``, 404 for an unknown data
    source, 422 for invalid fields or an external id already used in that data source.
    """
    require_keys(payload, "data_source_uuid")
    data_source = require_data_source(emulator, payload["data_source_uuid"])
    checker = FieldChecker(payload)
    name = checker.required_text("name", "A name is required for each plan.")
    interval = _interval(checker, payload, creating=True)
    external_id = checker.text("external_id") if payload.get("external_id") else None
    checker.raise_if_any()
    uuid = new_uuid("pl")
    external_id = external_id or uuid.removeprefix("pl_")
    taken = emulator.store.find_one(
        "plan", data_source_uuid=data_source.uuid, external_id=external_id
    )
    if taken is not None:
        raise error_fields({"external_id": DUPLICATE_EXTERNAL_ID})
    body = {
        "external_id": external_id,
        "name": name,
        **interval,
        "data_source_uuid": data_source.uuid,
        "uuid": uuid,
    }
    return emulator.store.insert(
        "plan", uuid, body, data_source_uuid=data_source.uuid, external_id=external_id
    )


def _interval(checker: FieldChecker, payload: JSONDict, *, creating: bool) -> JSONDict:
    """Validated ``interval_count`` / ``interval_unit`` present in (or required by) payload."""
    values: JSONDict = {}
    if creating or "interval_count" in payload:
        count = payload.get("interval_count")
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            checker.fail("interval_count", "Interval count must be an integer greater than 0.")
        else:
            values["interval_count"] = count
    if creating or "interval_unit" in payload:
        unit = payload.get("interval_unit")
        if unit not in INTERVAL_UNITS:
            checker.fail(
                "interval_unit", f"Interval unit must be one of {', '.join(INTERVAL_UNITS)}."
            )
        else:
            values["interval_unit"] = unit
    return values


async def create_plan(request: Request) -> Response:
    """``POST /v1/plans`` → 201."""
    row = create_plan_record(emulator_of(request), await json_body(request))
    return ok(row.body, 201)


async def list_plans(request: Request) -> Response:
    """``GET /v1/plans?data_source_uuid=&external_id=&system=`` (cursor or legacy ``page``)."""
    emulator = emulator_of(request)
    query = request.query_params
    system = query.get("system")
    sources: Filter = query.get("data_source_uuid")
    if system is not None:
        with_system = sources_with_system(emulator.store, system)
        sources = with_system & {sources} if isinstance(sources, str) else with_system
    fetch, count = fetcher(
        emulator.store,
        "plan",
        data_source_uuid=sources,
        external_id=query.get("external_id"),
    )
    body = page_rows(
        request,
        fetch,
        count,
        _plan_body,
        key="plans",
        legacy=legacy_current_page,
        allow_page=True,
    )
    return ok(body)


def _plan_body(row: Row) -> JSONDict:
    return dict(row.body)


async def retrieve_plan(request: Request) -> Response:
    """``GET /v1/plans/{uuid}``."""
    return ok(require_plan(emulator_of(request), request.path_params["uuid"]).body)


async def update_plan(request: Request) -> Response:
    """``PATCH /v1/plans/{uuid} {name?, interval_count?, interval_unit?}`` → 202 with the plan."""
    emulator = emulator_of(request)
    row = require_plan(emulator, request.path_params["uuid"])
    payload = await json_body(request)
    checker = FieldChecker(payload)
    body = dict(row.body)
    if "name" in payload:
        body["name"] = checker.required_text("name", "A name is required for each plan.")
    body.update(_interval(checker, payload, creating=False))
    checker.raise_if_any()
    emulator.store.update("plan", row.uuid, body)
    return ok(body, 202)


async def delete_plan(request: Request) -> Response:
    """``DELETE /v1/plans/{uuid}`` → 204, or 422 while subscriptions or invoices use it."""
    emulator = emulator_of(request)
    row = require_plan(emulator, request.path_params["uuid"])
    uses = _uses(emulator, row)
    if uses:
        raise error_fields({"plan_uuid": f"{IN_USE} ({', '.join(uses)}). {IN_USE_FIX}"})
    emulator.store.delete("plan", row.uuid)
    return no_content()


def _uses(emulator: Emulator, plan: Row) -> list[str]:
    """What refers to the plan, counted: ChartMogul deletes a plan only when no
    subscription or invoice does (documented; a deleted plan left them pointing nowhere).
    Subscriptions come from line items or events, so those two are what is counted."""
    store = emulator.store
    counts = (
        (store.count_holding("line_item", "plan_uuid", plan.uuid), "invoice line item"),
        (
            store.count_holding(
                "subscription_event",
                "plan_external_id",
                plan.body["external_id"],
                data_source_uuid=plan.body["data_source_uuid"],
            ),
            "subscription event",
        ),
    )
    return [f"{count} {thing}{'s' if count > 1 else ''}" for count, thing in counts if count]


# ---------------------------------------------------------------------- plan groups
def _require_group(emulator: Emulator, uuid: str) -> Row:
    return require_row(emulator, "plan_group", "Plan group", uuid, None)


def _group_plans(emulator: Emulator, group: Row) -> list[Row]:
    """The group's plans that still exist, in the order they were given."""
    rows = (emulator.store.get("plan", uuid) for uuid in group.body["plans"])
    return [row for row in rows if row is not None]


def _render_group(emulator: Emulator, group: Row) -> JSONDict:
    plans_count = len(_group_plans(emulator, group))
    return {"name": group.body["name"], "uuid": group.uuid, "plans_count": plans_count}


def _group_fields(emulator: Emulator, payload: JSONDict, *, creating: bool) -> JSONDict:
    """Validated ``name`` / ``plans``; 422 in the Rails shape the endpoint uses."""
    errors: dict[str, list[str]] = {}
    codes: dict[str, str] = {}
    fields: JSONDict = {}
    if creating or "name" in payload:
        name = payload.get("name")
        if not isinstance(name, str) or not name.strip():
            errors["name"], codes["name"] = ["Name can't be blank"], "blank"
        else:
            fields["name"] = name
    if creating or "plans" in payload:
        plans: Any = payload.get("plans")
        if not isinstance(plans, list) or not plans:
            errors["plan_ids"], codes["plan_ids"] = ["Plan ids can't be blank"], "blank"
        else:
            unknown = [
                uuid
                for uuid in plans
                if not isinstance(uuid, str) or emulator.store.get("plan", uuid) is None
            ]
            if unknown:
                errors["plan_ids"] = [f"Plan ids are invalid: {', '.join(map(str, unknown))}"]
            else:
                fields["plans"] = list(dict.fromkeys(plans))
    if errors:
        raise error_rails(errors, codes)
    return fields


async def create_group(request: Request) -> Response:
    """``POST /v1/plan_groups {name, plans}`` → 200 ``{name, uuid, plans_count}``."""
    emulator = emulator_of(request)
    fields = _group_fields(emulator, await json_body(request, required=False), creating=True)
    uuid = new_uuid("plg")
    row = emulator.store.insert("plan_group", uuid, {"uuid": uuid, **fields})
    return ok(_render_group(emulator, row))


async def list_groups(request: Request) -> Response:
    """``GET /v1/plan_groups`` (cursor or legacy ``page``)."""
    emulator = emulator_of(request)
    fetch, count = fetcher(emulator.store, "plan_group")

    def render(row: Row) -> JSONDict:
        return _render_group(emulator, row)

    body = page_rows(
        request,
        fetch,
        count,
        render,
        key="plan_groups",
        legacy=legacy_current_page,
        allow_page=True,
    )
    return ok(body)


async def retrieve_group(request: Request) -> Response:
    """``GET /v1/plan_groups/{uuid}``."""
    emulator = emulator_of(request)
    return ok(_render_group(emulator, _require_group(emulator, request.path_params["uuid"])))


async def update_group(request: Request) -> Response:
    """``PATCH /v1/plan_groups/{uuid} {name?, plans?}`` → 200 (``plans`` replaces membership)."""
    emulator = emulator_of(request)
    row = _require_group(emulator, request.path_params["uuid"])
    fields = _group_fields(emulator, await json_body(request), creating=False)
    body = {**row.body, **fields}
    emulator.store.update("plan_group", row.uuid, body)
    return ok(_render_group(emulator, Row(row.seq, row.uuid, body)))


async def delete_group(request: Request) -> Response:
    """``DELETE /v1/plan_groups/{uuid}`` → 204."""
    emulator = emulator_of(request)
    row = _require_group(emulator, request.path_params["uuid"])
    emulator.store.delete("plan_group", row.uuid)
    return no_content()


async def group_plans(request: Request) -> Response:
    """``GET /v1/plan_groups/{uuid}/plans`` → ``{plans, cursor, has_more}``."""
    emulator = emulator_of(request)
    row = _require_group(emulator, request.path_params["uuid"])
    plans = [dict(plan.body) for plan in _group_plans(emulator, row)]
    return ok(page_items(request, plans, key="plans", legacy=legacy_current_page, allow_page=True))


ROUTES = [
    Route("/v1/plans", create_plan, methods=["POST"]),
    Route("/v1/plans", list_plans, methods=["GET"]),
    Route("/v1/plans/{uuid}", retrieve_plan, methods=["GET"]),
    Route("/v1/plans/{uuid}", update_plan, methods=["PATCH"]),
    Route("/v1/plans/{uuid}", delete_plan, methods=["DELETE"]),
    Route("/v1/plan_groups", create_group, methods=["POST"]),
    Route("/v1/plan_groups", list_groups, methods=["GET"]),
    Route("/v1/plan_groups/{uuid}", retrieve_group, methods=["GET"]),
    Route("/v1/plan_groups/{uuid}", update_group, methods=["PATCH"]),
    Route("/v1/plan_groups/{uuid}", delete_group, methods=["DELETE"]),
    Route("/v1/plan_groups/{uuid}/plans", group_plans, methods=["GET"]),
]

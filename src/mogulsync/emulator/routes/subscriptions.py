"""Import-API subscriptions: the list view and cancellation.

Subscriptions are created by ``subscription`` line items (see ``_billing_records`` for the
stored shape). This module serves:

- ``GET /v1/import/customers/{uuid}/subscriptions`` → ``{customer_uuid, subscriptions:
  [{uuid, external_id, subscription_set_external_id, plan_uuid, data_source_uuid,
  cancellation_dates}], cursor, has_more}`` plus ``current_page``/``total_pages`` on the
  first page; ``subscription_set_external_id`` only when the subscription has one;
- ``PATCH /v1/import/subscriptions/{uuid}`` with ``{"cancelled_at": ts}`` (adds a
  cancellation date) or ``{"cancellation_dates": [ts, ...]}`` (replaces them; ``[]``
  clears) → 202 with the subscription including ``customer_uuid`` and without
  ``subscription_set_external_id``.

Both as chartmogul-ruby recorded them: the 2023 cassette lists a subscription with its set
id and answers the PATCH without it; the 2025 cassettes list subscriptions without a set
and no such key.

The metrics view ``/v1/customers/{uuid}/subscriptions`` belongs to the MRR engine.
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
    iso_millis,
    json_body,
    legacy_current_page,
    ok,
    page_rows,
    parse_time,
)
from mogulsync.emulator.routes._billing_records import SUBSCRIPTION_KIND, require_customer
from mogulsync.emulator.routes._listing import fetcher
from mogulsync.emulator.state import emulator_of
from mogulsync.emulator.store import JSONDict, Row

LIST_KEYS = (
    "uuid",
    "external_id",
    "subscription_set_external_id",
    "plan_uuid",
    "data_source_uuid",
    "cancellation_dates",
)
NOT_TIME = "is not a valid ISO 8601 date/time"
NOT_ARRAY = "must be an array of ISO 8601 date/times"


#: the PATCH answer's keys (no ``subscription_set_external_id``, even when set)
CANCEL_KEYS = ("uuid", "external_id", "plan_uuid", "data_source_uuid", "cancellation_dates")
_SET_ID = "subscription_set_external_id"


def _render_listed(row: Row) -> JSONDict:
    return {
        key: row.body.get(key)
        for key in LIST_KEYS
        if key != _SET_ID or row.body.get(key) is not None
    }


async def list_for_customer(request: Request) -> Response:
    """``GET /v1/import/customers/{uuid}/subscriptions``."""
    store = emulator_of(request).store
    customer = require_customer(store, request.path_params["uuid"])
    fetch, count = fetcher(store, SUBSCRIPTION_KIND, parent_uuid=customer.uuid)
    page = page_rows(
        request,
        fetch,
        count,
        _render_listed,
        key="subscriptions",
        legacy=legacy_current_page,
        allow_page=True,
    )
    return ok({"customer_uuid": customer.uuid, **page})


def _timestamp(value: Any) -> str | None:
    parsed = parse_time(value)
    return iso_millis(parsed) if parsed else None


def _cancellation_dates(payload: JSONDict, current: list[str]) -> list[str]:
    """The new cancellation dates a PATCH body asks for."""
    if "cancellation_dates" in payload:
        dates = payload["cancellation_dates"]
        if not isinstance(dates, list):
            raise error_fields({"cancellation_dates": NOT_ARRAY})
        parsed = [_timestamp(value) for value in dates]
        valid = [value for value in parsed if value is not None]
        if len(valid) != len(parsed):
            raise error_fields({"cancellation_dates": NOT_ARRAY})
        return sorted(set(valid))
    if "cancelled_at" in payload:
        cancelled_at = _timestamp(payload["cancelled_at"])
        if cancelled_at is None:
            raise error_fields({"cancelled_at": NOT_TIME})
        return sorted({*current, cancelled_at})
    raise error_code(
        400, 'Parameter "cancelled_at" or "cancellation_dates" is missing', "cancelled_at"
    )


async def cancel(request: Request) -> Response:
    """``PATCH /v1/import/subscriptions/{uuid}`` → 202 subscription."""
    store = emulator_of(request).store
    row = store.get(SUBSCRIPTION_KIND, request.path_params["uuid"])
    if row is None:
        raise error_not_found("Subscription")
    payload = await json_body(request)
    body = dict(row.body)
    body["cancellation_dates"] = _cancellation_dates(payload, body["cancellation_dates"])
    store.update(SUBSCRIPTION_KIND, row.uuid, body)
    return ok({key: body.get(key) for key in (*CANCEL_KEYS, "customer_uuid")}, 202)


ROUTES = [
    Route("/v1/import/customers/{uuid}/subscriptions", list_for_customer, methods=["GET"]),
    Route("/v1/import/subscriptions/{uuid}", cancel, methods=["PATCH"]),
]

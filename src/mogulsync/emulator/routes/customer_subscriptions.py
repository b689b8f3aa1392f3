"""The metrics view of a customer's subscriptions: ``GET /v1/customers/{uuid}/subscriptions``.

Entries (reference §5.9): integer ``id`` (the subscription row's sequence number), a bare
``uuid`` (the import API's ``sub_`` prefix dropped, as recorded), ``external_id``,
``subscription_set_external_id``, ``plan`` (plan name), ``quantity``, ``mrr``, ``arr``,
``status`` (``active`` while a service period covers today, else ``inactive``),
``billing-cycle`` and ``billing-cycle-count`` (the plan's interval), ``start-date`` (first
service period start), ``end-date`` (end of the last service period, or the cancellation
date), ``currency`` and ``currency-sign``. Paged with the cursor contract; first pages
add ``page``/``per_page``. Unknown customers get ``404 {"error": "Customer not found"}``.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mogulsync.emulator._http import iso_offset, legacy_page_per_page, ok, page_items
from mogulsync.emulator.mrr import SubscriptionState
from mogulsync.emulator.mrr_facts import MONTHS_PER_YEAR
from mogulsync.emulator.routes._lookup import require_customer
from mogulsync.emulator.routes.customers import CURRENCY_SIGNS
from mogulsync.emulator.state import emulator_of
from mogulsync.emulator.store import JSONDict

IMPORT_PREFIX = "sub_"


def render_subscription(state: SubscriptionState) -> JSONDict:
    """One metrics-view subscription entry."""
    subscription, plan = state.subscription, state.plan
    return {
        "id": subscription.seq,
        "uuid": subscription.uuid.removeprefix(IMPORT_PREFIX),
        "external_id": subscription.external_id,
        "subscription_set_external_id": subscription.set_external_id,
        "plan": plan.name if plan else None,
        "quantity": state.quantity,
        "mrr": state.mrr,
        "arr": state.mrr * MONTHS_PER_YEAR,
        "status": "active" if state.active else "inactive",
        "billing-cycle": plan.interval_unit if plan else None,
        "billing-cycle-count": plan.interval_count if plan else None,
        "start-date": iso_offset(state.start) if state.start else None,
        "end-date": iso_offset(state.end) if state.end else None,
        "currency": state.currency,
        "currency-sign": CURRENCY_SIGNS.get(state.currency, state.currency),
    }


async def list_for_customer(request: Request) -> Response:
    """``GET /v1/customers/{uuid}/subscriptions``."""
    emulator = emulator_of(request)
    customer = require_customer(emulator, request.path_params["uuid"])
    entries = [render_subscription(s) for s in emulator.mrr.subscriptions(customer.uuid)]
    body = page_items(request, entries, key="entries", legacy=legacy_page_per_page, allow_page=True)
    return ok(body)


ROUTES = [
    Route("/v1/customers/{uuid}/subscriptions", list_for_customer, methods=["GET"]),
]

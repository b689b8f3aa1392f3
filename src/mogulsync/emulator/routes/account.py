"""``/v1/ping`` and ``/v1/account``."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mogulsync.emulator._http import error_message, ok
from mogulsync.emulator.state import emulator_of

#: ``?include=`` settings. ``churn_when_zero_mrr`` is a boolean: the chartmogul-python and
#: chartmogul-node account tests both answer one (false / true) and the python schema
#: reads it raw; which value a new account has is not recorded [U].
ACCOUNT_INCLUDES: dict[str, str | bool] = {
    "churn_recognition": "immediate",
    "churn_when_zero_mrr": False,
    "auto_churn_subscription": "disabled",
    "refund_handling": "no_impact",
    "proximate_movement_reclassification": "enabled",
}


async def ping(request: Request) -> Response:
    """``GET /v1/ping``."""
    del request
    return ok({"data": "pong!"})


async def account(request: Request) -> Response:
    """``GET /v1/account[?include=...]``."""
    emulator = emulator_of(request)
    body: dict[str, str | bool] = {
        "id": emulator.account_uuid,
        "name": emulator.settings.account_name,
        "currency": emulator.settings.currency,
        "time_zone": "UTC",
        "week_start_on": "monday",
    }
    include = request.query_params.get("include")
    if include:
        for item in (part.strip() for part in include.split(",")):
            if item not in ACCOUNT_INCLUDES:
                raise error_message(400, f"Invalid include parameter: {item}")
            body[item] = ACCOUNT_INCLUDES[item]
    return ok(body)


ROUTES = [
    Route("/v1/ping", ping, methods=["GET"]),
    Route("/v1/account", account, methods=["GET"]),
]

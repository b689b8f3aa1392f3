"""The Metrics API: ``/v1/metrics/{all,mrr,arr,arpa,asp,customer-count,...}``.

Every endpoint takes ``start-date`` and ``end-date`` (required; ``YYYY-MM-DD`` or ISO 8601,
400 in shape 1 naming the parameter when missing or invalid), ``interval``
(``day|week|month|quarter|year``; default ``day`` for mrr, arr, arpa and customer-count
and ``month`` for the rest, as observed), and the ``plans`` and ``geo`` filters.
``filters`` (ChartMogul Filter Language) is not emulated and answers 400.

One entry per reporting window (see :func:`~mogulsync.emulator.mrr_metrics.windows`), each
``{date, <metric>, percentage-change}``; ``summary`` compares the last window with the
whole period before it. Definitions are in ``docs/emulator-mrr.md``.
"""

from __future__ import annotations

from datetime import date

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mogulsync.emulator._http import error_code, ok, parse_time
from mogulsync.emulator.mrr_metrics import (
    INTERVALS,
    Ledger,
    PeriodValues,
    Window,
    evaluate,
    percentage_change,
    previous_window,
    windows,
)
from mogulsync.emulator.mrr_store import MetricsFilter
from mogulsync.emulator.state import emulator_of
from mogulsync.emulator.store import JSONDict

#: endpoint name → the key its entries carry
ENDPOINT_KEYS = {
    "mrr": "mrr",
    "arr": "arr",
    "arpa": "arpa",
    "asp": "asp",
    "customer-count": "customers",
    "customer-churn-rate": "customer-churn-rate",
    "mrr-churn-rate": "mrr-churn-rate",
    "ltv": "ltv",
}
DAILY_BY_DEFAULT = frozenset({"mrr", "arr", "arpa", "customer-count"})
#: the dates a metrics request may name: the summary compares with the whole period before
#: the last window (a year back) and reads the day before that (see ``_day``)
FIRST_DAY, LAST_DAY = date(3, 1, 1), date(9998, 12, 31)
#: ``/metrics/all`` key order, as recorded
ALL_KEYS = (
    "mrr",
    "arr",
    "customer-churn-rate",
    "mrr-churn-rate",
    "ltv",
    "customers",
    "asp",
    "arpa",
)
MRR_MOVEMENT_KEYS = (
    "mrr-new-business",
    "mrr-expansion",
    "mrr-contraction",
    "mrr-churn",
    "mrr-reactivation",
)

Number = int | float


def _values(values: PeriodValues) -> dict[str, Number]:
    return {
        "mrr": values.mrr,
        "arr": values.arr,
        "customer-churn-rate": values.customer_churn_rate,
        "mrr-churn-rate": values.mrr_churn_rate,
        "ltv": values.ltv,
        "customers": values.customers,
        "asp": values.asp,
        "arpa": values.arpa,
    }


def _movements(values: PeriodValues) -> dict[str, int]:
    flow = values.flow
    amounts = (flow.new_business, flow.expansion, flow.contraction, flow.churn, flow.reactivation)
    return dict(zip(MRR_MOVEMENT_KEYS, amounts, strict=True))


def _day(request: Request, name: str) -> date:
    raw = request.query_params.get(name)
    if raw is None or not raw.strip():
        raise error_code(400, f'Parameter "{name}" is missing', name)
    parsed = parse_time(raw)
    if parsed is None:
        raise error_code(400, f'Parameter "{name}" is not a valid date', name)
    day = parsed.date()
    # windows reach back a period and a day, and forward to their period's end: the first
    # and last years would leave the calendar (a 500) [U: ChartMogul's bounds are unknown]
    if not FIRST_DAY <= day <= LAST_DAY:
        raise error_code(
            400, f'Parameter "{name}" must be a date from {FIRST_DAY} to {LAST_DAY}', name
        )
    return day


class _Query:
    """The validated parameters of one metrics request."""

    def __init__(self, request: Request, default_interval: str) -> None:
        params = request.query_params
        self.start = _day(request, "start-date")
        self.end = _day(request, "end-date")
        if self.end < self.start:
            raise error_code(400, 'Parameter "end-date" must not be before start-date', "end-date")
        self.interval = params.get("interval") or default_interval
        if self.interval not in INTERVALS:
            raise error_code(
                400, f'Parameter "interval" must be one of: {", ".join(INTERVALS)}', "interval"
            )
        if params.get("filters"):
            raise error_code(400, 'Parameter "filters" is not supported by the emulator', "filters")
        wanted = MetricsFilter.parse(params.get("plans"), params.get("geo"))
        self.ledger: Ledger = emulator_of(request).mrr.ledger(wanted)
        self.windows: list[Window] = windows(self.start, self.end, self.interval)

    def series(self) -> list[PeriodValues]:
        return [evaluate(self.ledger, window) for window in self.windows]

    def previous(self) -> PeriodValues:
        return evaluate(self.ledger, previous_window(self.windows[-1], self.interval))


async def _single(request: Request, endpoint: str) -> Response:
    query = _Query(request, "day" if endpoint in DAILY_BY_DEFAULT else "month")
    key = ENDPOINT_KEYS[endpoint]
    entries: list[JSONDict] = []
    earlier: Number | None = None
    series = query.series()
    for values in series:
        value = _values(values)[key]
        entry: JSONDict = {"date": values.date.isoformat(), key: value}
        entry["percentage-change"] = 0.0 if earlier is None else percentage_change(earlier, value)
        if endpoint == "mrr":
            entry.update(_movements(values))
        entries.append(entry)
        earlier = value
    current, previous = _values(series[-1])[key], _values(query.previous())[key]
    summary = {
        "current": current,
        "previous": previous,
        "percentage-change": percentage_change(previous, current),
    }
    return ok({"entries": entries, "summary": summary})


async def all_metrics(request: Request) -> Response:
    """``GET /v1/metrics/all``: every metric per window, plus a combined summary."""
    query = _Query(request, "month")
    series = [_values(values) for values in query.series()]
    entries: list[JSONDict] = []
    for index, values in enumerate(series):
        entry: JSONDict = {"date": query.windows[index].end.isoformat()}
        for key in ALL_KEYS:
            entry[key] = values[key]
            entry[f"{key}-percentage-change"] = (
                percentage_change(series[index - 1][key], values[key]) if index else 0.0
            )
        entries.append(entry)
    previous = _values(query.previous())
    summary: JSONDict = {}
    for key in ALL_KEYS:
        summary[f"current-{key}"] = series[-1][key]
        summary[f"previous-{key}"] = previous[key]
        summary[f"{key}-percentage-change"] = percentage_change(previous[key], series[-1][key])
    return ok({"entries": entries, "summary": summary})


def _endpoint(name: str) -> Route:
    async def handler(request: Request) -> Response:
        return await _single(request, name)

    handler.__name__ = f"metrics_{name.replace('-', '_')}"
    handler.__doc__ = f"``GET /v1/metrics/{name}``."
    return Route(f"/v1/metrics/{name}", handler, methods=["GET"])


ROUTES = [
    Route("/v1/metrics/all", all_metrics, methods=["GET"]),
    *(_endpoint(name) for name in ENDPOINT_KEYS),
]

"""Activities, metrics and the subscriptions view over real HTTP, from API-imported invoices.

The scenario (all USD, service periods at midnight UTC):

- Acme (GB), subscription ``acme-sub`` on monthly plans: Basic 1000 in January 2023 (new
  business), Pro 2500 in February (expansion), Basic 2000 from March 1st (contraction),
  cancelled on March 20th (churn), Basic 1000 again from May 10th (reactivation).
- Beta (US), subscription ``beta-sub``: Annual plan, 120000 a year from 2023-02-15 (new
  business of 10000 a month).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import httpx
import pytest

MONTHLY_2023 = {"start-date": "2023-01-01", "end-date": "2023-05-31", "interval": "month"}
MONTH_ENDS = ["2023-01-31", "2023-02-28", "2023-03-31", "2023-04-30", "2023-05-31"]
MANY = 210


@dataclass(frozen=True)
class Scenario:
    """The uuids the tests need."""

    ds: str
    acme: str
    beta: str


def _create(api: httpx.Client, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = api.post(path, json=body)
    assert response.status_code == 201, response.text
    return response.json()


def _line(sub: str, plan: str, start: str, end: str, amount: int, **extra: Any) -> dict[str, Any]:
    return {
        "type": "subscription",
        "subscription_external_id": sub,
        "plan_uuid": plan,
        "service_period_start": f"{start} 00:00:00",
        "service_period_end": f"{end} 00:00:00",
        "amount_in_cents": amount,
        "quantity": 1,
        **extra,
    }


def _import(api: httpx.Client, customer: str, lines: list[dict[str, Any]], prefix: str) -> None:
    invoices = [
        {
            "external_id": f"{prefix}-{index}",
            "date": line["service_period_start"],
            "currency": "USD",
            "line_items": [{**line, "external_id": f"{prefix}-{index}-li"}],
        }
        for index, line in enumerate(lines)
    ]
    response = api.post(f"/import/customers/{customer}/invoices", json={"invoices": invoices})
    assert response.status_code == 201, response.text


def _plan(api: httpx.Client, ds: str, name: str, unit: str = "month") -> str:
    body = {"data_source_uuid": ds, "name": name, "external_id": name.lower(),
            "interval_count": 1, "interval_unit": unit}  # fmt: skip
    return str(_create(api, "/plans", body)["uuid"])


def _customer(api: httpx.Client, ds: str, external_id: str, name: str, country: str) -> str:
    body = {"data_source_uuid": ds, "external_id": external_id, "name": name, "country": country}
    return str(_create(api, "/customers", body)["uuid"])


@pytest.fixture
def scenario(api: httpx.Client) -> Scenario:
    """The billing history described in the module docstring, imported through the API."""
    ds = _create(api, "/data_sources", {"name": "Billing"})["uuid"]
    basic, pro = _plan(api, ds, "Basic"), _plan(api, ds, "Pro")
    annual = _plan(api, ds, "Annual", "year")
    acme = _customer(api, ds, "acme", "Acme", "GB")
    beta = _customer(api, ds, "beta", "Beta", "US")
    _import(api, acme, [
        _line("acme-sub", basic, "2023-01-01", "2023-02-01", 1000),
        _line("acme-sub", pro, "2023-02-01", "2023-03-01", 2500),
        _line("acme-sub", basic, "2023-03-01", "2023-04-01", 2000,
              cancelled_at="2023-03-20 00:00:00"),
        _line("acme-sub", basic, "2023-05-10", "2023-06-10", 1000),
    ], "acme")  # fmt: skip
    _import(api, beta, [_line("beta-sub", annual, "2023-02-15", "2024-02-15", 120000)], "beta")
    return Scenario(ds, acme, beta)


def _metric(api: httpx.Client, name: str, **params: str) -> dict[str, Any]:
    response = api.get(f"/metrics/{name}", params={**MONTHLY_2023, **params})
    assert response.status_code == 200, response.text
    return response.json()


def _series(body: dict[str, Any], key: str) -> list[Any]:
    assert [entry["date"] for entry in body["entries"]] == MONTH_ENDS
    return [entry[key] for entry in body["entries"]]


def test_activities_cover_every_movement_type(api: httpx.Client, scenario: Scenario) -> None:
    """Each movement is one activity with exact amounts, running MRR and customer fields."""
    body = api.get("/activities").json()
    assert (body["has_more"], body["per_page"]) == (False, 200)
    summary = [
        (e["date"], e["type"], e["customer-external-id"], e["activity-mrr-movement"],
         e["activity-mrr"], e["activity-arr"], e["plan-external-id"])
        for e in body["entries"]
    ]  # fmt: skip
    assert summary == [
        ("2023-01-01T00:00:00+00:00", "new_biz", "acme", 1000, 1000, 12000, "basic"),
        ("2023-02-01T00:00:00+00:00", "expansion", "acme", 1500, 2500, 30000, "pro"),
        ("2023-02-15T00:00:00+00:00", "new_biz", "beta", 10000, 10000, 120000, "annual"),
        ("2023-03-01T00:00:00+00:00", "contraction", "acme", -500, 2000, 24000, "basic"),
        ("2023-03-20T00:00:00+00:00", "churn", "acme", -2000, 0, 0, "basic"),
        ("2023-05-10T00:00:00+00:00", "reactivation", "acme", 1000, 1000, 12000, "basic"),
    ]
    first = body["entries"][0]
    assert first["customer-uuid"] == scenario.acme
    assert first["billing-connector-uuid"] == scenario.ds
    assert (first["customer-name"], first["subscription-external-id"]) == ("Acme", "acme-sub")
    assert (first["currency"], first["description"]) == ("USD", "purchased the Basic plan")
    assert api.get("/activities").json()["entries"] == body["entries"]  # stable uuids


def test_activity_filters_and_order(api: httpx.Client, scenario: Scenario) -> None:
    """type, start-date/end-date (whole end day) and order=-date select and sort."""
    churn = api.get("/activities", params={"type": "churn"}).json()["entries"]
    assert [e["date"][:10] for e in churn] == ["2023-03-20"]
    window = api.get("/activities", params={"start-date": "2023-02-15", "end-date": "2023-03-01"})
    assert [e["type"] for e in window.json()["entries"]] == ["new_biz", "contraction"]
    newest = api.get("/activities", params={"order": "-date"}).json()["entries"]
    assert [e["type"] for e in newest][:2] == ["reactivation", "churn"]
    bad = api.get("/activities", params={"type": "upgrade"})
    assert (bad.status_code, bad.json()["param"]) == (400, "type")
    unknown = api.get("/activities", params={"start-after": "not-an-activity"})
    assert (unknown.status_code, unknown.json()["param"]) == (400, "start-after")


def test_customer_activities_and_subscriptions(api: httpx.Client, scenario: Scenario) -> None:
    """Customer-scoped activities and the metrics view of subscriptions."""
    body = api.get(f"/customers/{scenario.beta}/activities").json()
    (entry,) = body["entries"]
    assert isinstance(entry.pop("id"), int)
    assert entry == {
        "activity-arr": 120000, "activity-mrr": 10000, "activity-mrr-movement": 10000,
        "currency": "USD", "currency-sign": "$", "date": "2023-02-15T00:00:00+00:00",
        "description": "purchased the Annual plan", "type": "new_biz",
        "subscription-external-id": "beta-sub",
    }  # fmt: skip
    assert (body["page"], body["per_page"], body["has_more"]) == (1, 200, False)

    (sub,) = api.get(f"/customers/{scenario.acme}/subscriptions").json()["entries"]
    assert isinstance(sub.pop("id"), int)
    assert not sub.pop("uuid").startswith("sub_")
    assert sub == {
        "external_id": "acme-sub", "subscription_set_external_id": None, "plan": "Basic",
        "quantity": 1, "mrr": 1000, "arr": 12000, "status": "active", "billing-cycle": "month",
        "billing-cycle-count": 1, "start-date": "2023-01-01T00:00:00+00:00",
        "end-date": "2023-06-10T00:00:00+00:00", "currency": "USD", "currency-sign": "$",
    }  # fmt: skip
    customer = api.get(f"/customers/{scenario.acme}").json()
    assert (customer["mrr"], customer["arr"], customer["status"]) == (1000, 12000, "Active")
    assert customer["customer-since"] == "2023-01-01T00:00:00+00:00"
    missing = api.get("/customers/cus_00000000-0000-0000-0000-000000000000/subscriptions")
    assert (missing.status_code, missing.json()) == (404, {"error": "Customer not found"})


def test_mrr_series_with_movements(api: httpx.Client, scenario: Scenario) -> None:
    """Monthly MRR, its movement breakdown, percentage changes and the summary."""
    body = _metric(api, "mrr")
    assert _series(body, "mrr") == [1000, 12500, 10000, 10000, 11000]
    assert _series(body, "mrr-new-business") == [1000, 10000, 0, 0, 0]
    assert _series(body, "mrr-expansion") == [0, 1500, 0, 0, 0]
    assert _series(body, "mrr-contraction") == [0, 0, -500, 0, 0]
    assert _series(body, "mrr-churn") == [0, 0, -2000, 0, 0]
    assert _series(body, "mrr-reactivation") == [0, 0, 0, 0, 1000]
    assert _series(body, "percentage-change") == [0.0, 1150.0, -20.0, 0.0, 10.0]
    assert body["summary"] == {"current": 11000, "previous": 10000, "percentage-change": 10.0}
    assert _series(_metric(api, "arr"), "arr") == [12000, 150000, 120000, 120000, 132000]


def test_customer_metrics(api: httpx.Client, scenario: Scenario) -> None:
    """Customer count, ARPA, ASP, churn rates and LTV per month."""
    assert _series(_metric(api, "customer-count"), "customers") == [1, 2, 1, 1, 2]
    assert _series(_metric(api, "arpa"), "arpa") == [1000, 6250, 10000, 10000, 5500]
    assert _series(_metric(api, "asp"), "asp") == [1000, 10000, 0, 0, 0]
    churn = _metric(api, "customer-churn-rate")
    assert _series(churn, "customer-churn-rate") == [0.0, 0.0, 50.0, 0.0, 0.0]
    net = _series(_metric(api, "mrr-churn-rate"), "mrr-churn-rate")
    assert net == [0.0, -150.0, 20.0, 0.0, -10.0]
    assert _series(_metric(api, "ltv"), "ltv") == [0, 0, 20000, 0, 0]


def test_all_metrics_and_defaults(api: httpx.Client, scenario: Scenario) -> None:
    """/metrics/all combines every metric; mrr-like endpoints default to daily points."""
    body = api.get("/metrics/all", params={"start-date": "2023-01-01", "end-date": "2023-05-31"})
    may = body.json()["entries"][-1]
    assert (may["date"], may["mrr"], may["customers"], may["arpa"]) == (
        "2023-05-31",
        11000,
        2,
        5500,
    )
    assert (may["mrr-percentage-change"], may["customers-percentage-change"]) == (10.0, 100.0)
    summary = body.json()["summary"]
    assert (summary["current-mrr"], summary["previous-mrr"]) == (11000, 10000)
    assert summary["current-customer-churn-rate"] == 0.0
    daily = api.get("/metrics/customer-count",
                    params={"start-date": "2023-03-19", "end-date": "2023-03-21"}).json()  # fmt: skip
    assert [(e["date"], e["customers"]) for e in daily["entries"]] == [
        ("2023-03-19", 2), ("2023-03-20", 1), ("2023-03-21", 1),
    ]  # fmt: skip


def test_metric_filters(api: httpx.Client, scenario: Scenario) -> None:
    """geo keeps customers of those countries; plans keeps revenue on those plans."""
    assert _series(_metric(api, "mrr", geo="GB"), "mrr") == [1000, 2500, 0, 0, 1000]
    assert _series(_metric(api, "mrr", plans="Annual"), "mrr") == [0, 10000] + [10000] * 3
    assert _series(_metric(api, "customer-count", plans="basic,pro", geo="gb,us"), "customers") == [
        1, 1, 0, 0, 1,
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"end-date": "2023-01-31"}, "start-date"),
        ({"start-date": "2023-01-01"}, "end-date"),
        ({"start-date": "yesterday", "end-date": "2023-01-31"}, "start-date"),
        ({"start-date": "2023-02-01", "end-date": "2023-01-31"}, "end-date"),
        ({"start-date": "2023-01-01", "end-date": "2023-01-31", "interval": "hour"}, "interval"),
        ({"start-date": "2023-01-01", "end-date": "2023-01-31", "filters": "x"}, "filters"),
        # years 1 and 9999 left the calendar in the windows' arithmetic: a 500
        ({"start-date": "9999-01-01", "end-date": "9999-12-31"}, "start-date"),
        ({"start-date": "2023-01-01", "end-date": "9999-12-31"}, "end-date"),
        ({"start-date": "0001-01-15", "end-date": "2023-01-31"}, "start-date"),
        ({"start-date": "0002-06-01", "end-date": "0002-07-01", "interval": "year"}, "start-date"),
    ],
)
def test_metric_parameter_errors(api: httpx.Client, params: dict[str, str], param: str) -> None:
    """Missing or invalid parameters answer 400 in shape 1 naming the parameter."""
    response = api.get("/metrics/mrr", params=params)
    assert response.status_code == 400
    assert set(response.json()) == {"code", "message", "param"}
    assert (response.json()["code"], response.json()["param"]) == (400, param)


@pytest.mark.parametrize("interval", ["day", "week", "month", "quarter", "year"])
def test_metrics_at_the_first_and_last_dates_allowed(api: httpx.Client, interval: str) -> None:
    """The first and last dates a request may name are served (windows, the summary's
    period before, a day before each) without leaving the calendar."""
    for start, end in (("0003-01-01", "0003-01-31"), ("9998-12-01", "9998-12-31")):
        params = {"start-date": start, "end-date": end, "interval": interval}
        answer = api.get("/metrics/all", params=params)
        assert answer.status_code == 200, (params, answer.text)
        assert answer.json()["entries"][-1]["date"] == end


def test_activities_export(api: httpx.Client, scenario: Scenario) -> None:
    """An export is created pending, then succeeds with a CSV of the selected activities."""
    created = api.post("/activities_export", json={"start-date": "2023-01-01", "type": "churn"})
    assert created.status_code == 200
    export = created.json()
    assert (export["status"], export["file_url"], export["expires_at"]) == ("pending", None, None)
    # echoed as recorded (chartmogul-ruby activities-export cassettes): renamed keys, and
    # dates as "2023-01-01 00:00:00 +0000"
    assert export["params"] == {"kind": "activities", "params": {
        "activity_type": "churn", "start_date": "2023-01-01 00:00:00 +0000"}}  # fmt: skip
    done = api.get(f"/activities_export/{export['id']}").json()
    assert done["status"] == "succeeded"
    csv_text = httpx.get(done["file_url"], timeout=30).text.splitlines()
    assert csv_text[0].startswith("uuid,date,type,")
    assert [row.split(",")[2] for row in csv_text[1:]] == ["churn"]
    assert api.get("/activities_export/nope").status_code == 404
    invalid = api.post("/activities_export", json={"type": "upgrade"})
    assert (invalid.status_code, invalid.json()["param"]) == (400, "type")


def test_paging_more_than_one_page(api: httpx.Client) -> None:
    """210 activities page by per_page, cursor and the legacy start-after anchor."""
    ds = _create(api, "/data_sources", {"name": "Many"})["uuid"]
    plan = _plan(api, ds, "Flip")
    customer = _customer(api, ds, "flip", "Flip", "DE")
    start, lines = date(2000, 1, 1), []
    for index in range(MANY):
        end = start + timedelta(days=30)
        lines.append(_line("flip-sub", plan, start.isoformat(), end.isoformat(),
                           1000 if index % 2 == 0 else 2000))  # fmt: skip
        start = end
    _import(api, customer, lines, "flip")

    first = api.get("/activities", params={"start-date": "2000-01-01T00:00:00Z"}).json()
    assert (len(first["entries"]), first["has_more"], first["per_page"]) == (200, True, 200)
    assert first["cursor"] == first["entries"][-1]["uuid"]
    anchored = api.get("/activities", params={"start-after": first["cursor"], "per_page": 200})
    rest = anchored.json()
    assert (len(rest["entries"]), rest["has_more"], rest["per_page"]) == (MANY - 200, False, 200)
    by_cursor = api.get("/activities", params={"cursor": first["cursor"]}).json()
    assert by_cursor["entries"] == rest["entries"]
    assert "per_page" not in by_cursor
    everything = [e["uuid"] for e in [*first["entries"], *rest["entries"]]]
    assert len(set(everything)) == MANY
    dates = [e["date"] for e in [*first["entries"], *rest["entries"]]]
    assert dates == sorted(dates)
    types = [e["type"] for e in first["entries"][:3]]
    assert types == ["new_biz", "expansion", "contraction"]
    legacy = api.get("/activities", params={"per-page": 50}).json()
    assert (len(legacy["entries"]), legacy["per_page"]) == (50, 50)
    clamped = api.get("/activities", params={"per_page": 500}).json()
    assert len(clamped["entries"]) == 200

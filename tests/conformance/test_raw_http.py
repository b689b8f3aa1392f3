"""The API contract below the client: pagination, error bodies, limits, PATCH/DELETE bodies."""

from __future__ import annotations

import asyncio
from typing import Any

import chartmogul
import httpx
import pytest
from tests.conformance._support import api_failure
from tests.conformance.conftest import client_config

from mogulsync.emulator.server import EmulatorServer
from mogulsync.emulator.settings import EmulatorSettings, Limits

UNKNOWN = "00000000-0000-0000-0000-000000000000"
LEGACY_CUSTOMER_FIELDS = {"per_page", "page", "current_page", "total_pages"}
RATE_LIMITED = {
    "code": 429,
    "message": "Your request rate has exceeded our rate limit.",
    "param": None,
}
#: ChartMogul's documented cap on parallel connections
MAX_PARALLEL = 20
OVER_THE_CAP = MAX_PARALLEL + 5
SLOW_MS = 1000


def _data_source(api: httpx.Client, name: str = "Raw") -> str:
    created = api.post("/data_sources", json={"name": name})
    assert created.status_code == 201, created.text
    return str(created.json()["uuid"])


def _customers(api: httpx.Client, ds_uuid: str, count: int) -> list[str]:
    uuids = []
    for index in range(count):
        created = api.post(
            "/customers",
            json={"data_source_uuid": ds_uuid, "external_id": f"raw-{index:03d}", "name": "R"},
        )
        assert created.status_code == 201, created.text
        uuids.append(created.json()["uuid"])
    return uuids


def _subscribe(
    api: httpx.Client, ds_uuid: str, plan_uuid: str, customer_uuid: str, day: int
) -> None:
    """One paid monthly invoice starting on 2024-01-<day> (a new-business activity)."""
    start, end = f"2024-01-{day:02d} 00:00:00", f"2024-02-{day:02d} 00:00:00"
    invoice = {
        "external_id": f"{customer_uuid}-inv",
        "date": start,
        "currency": "USD",
        "line_items": [
            {
                "type": "subscription",
                "subscription_external_id": f"{customer_uuid}-sub",
                "plan_uuid": plan_uuid,
                "service_period_start": start,
                "service_period_end": end,
                "amount_in_cents": 1000 * day,
            }
        ],
        "transactions": [{"date": start, "type": "payment", "result": "successful"}],
    }
    answer = api.post(f"/import/customers/{customer_uuid}/invoices", json={"invoices": [invoice]})
    assert answer.status_code == 201, answer.text


# ---------------------------------------------------------------------- pagination
def test_per_page_clamp_last_page_and_past_the_end(api: httpx.Client) -> None:
    """per_page above 200 is clamped; the last page has has_more false, then an empty page."""
    ds_uuid = _data_source(api)
    created = _customers(api, ds_uuid, 205)
    first = api.get("/customers", params={"per_page": 1000})
    assert first.status_code == 200
    body = first.json()
    assert (len(body["entries"]), body["has_more"]) == (200, True)
    assert isinstance(body["cursor"], str)
    assert body["cursor"]

    last = api.get("/customers", params={"per_page": 1000, "cursor": body["cursor"]}).json()
    assert (len(last["entries"]), last["has_more"]) == (5, False)
    assert isinstance(last["cursor"], str), "the last page still carries a cursor"
    assert last["cursor"]
    assert [c["uuid"] for c in body["entries"] + last["entries"]] == created

    past = api.get("/customers", params={"cursor": last["cursor"]})
    assert past.status_code == 200
    assert (past.json()["entries"], past.json()["has_more"]) == ([], False)


def test_legacy_first_page_fields_and_deprecated_page(api: httpx.Client) -> None:
    """/customers' first page has the offset fields; `page` still serves offset pages."""
    ds_uuid = _data_source(api)
    created = _customers(api, ds_uuid, 25)
    first = api.get("/customers", params={"per_page": 10}).json()
    assert set(first) >= LEGACY_CUSTOMER_FIELDS
    assert (first["per_page"], first["current_page"], first["total_pages"]) == (10, 1, 3)
    second = api.get("/customers", params={"per_page": 10, "cursor": first["cursor"]}).json()
    assert set(second) == {"entries", "cursor", "has_more"}

    paged = api.get("/customers", params={"per_page": 10, "page": 2})
    assert paged.status_code == 200
    assert [c["uuid"] for c in paged.json()["entries"]] == created[10:20]
    assert paged.json()["current_page"] == 2
    assert [c["uuid"] for c in second["entries"]] == created[10:20]

    plans_first = api.get("/plans", params={"per_page": 10}).json()
    assert {"plans", "current_page", "total_pages", "cursor", "has_more"} <= set(plans_first)


def test_activities_start_after_and_cursor(api: httpx.Client) -> None:
    """/activities pages by `per-page` + `start-after=<uuid>` and by per_page + cursor."""
    ds_uuid = _data_source(api)
    plan = api.post(
        "/plans",
        json={
            "data_source_uuid": ds_uuid,
            "name": "P",
            "interval_count": 1,
            "interval_unit": "month",
        },
    ).json()
    for day, customer_uuid in enumerate(_customers(api, ds_uuid, 3), start=1):
        _subscribe(api, ds_uuid, plan["uuid"], customer_uuid, day)

    everything = api.get("/activities").json()
    uuids = [a["uuid"] for a in everything["entries"]]
    assert [a["activity-mrr"] for a in everything["entries"]] == [1000, 2000, 3000]
    assert everything["has_more"] is False

    first = api.get("/activities", params={"per-page": 1}).json()
    assert ([a["uuid"] for a in first["entries"]], first["has_more"]) == (uuids[:1], True)
    after = api.get("/activities", params={"per-page": 1, "start-after": uuids[0]}).json()
    assert [a["uuid"] for a in after["entries"]] == uuids[1:2]
    tail = api.get("/activities", params={"per-page": 5, "start-after": uuids[1]}).json()
    assert ([a["uuid"] for a in tail["entries"]], tail["has_more"]) == (uuids[2:], False)

    page = api.get("/activities", params={"per_page": 2}).json()
    assert page["per_page"] == 2
    rest = api.get("/activities", params={"per_page": 2, "cursor": page["cursor"]}).json()
    assert [a["uuid"] for a in page["entries"] + rest["entries"]] == uuids
    assert rest["has_more"] is False


def test_legacy_fields_of_other_first_pages(api: httpx.Client) -> None:
    """Other lists carry their own deprecated first-page fields and always cursor/has_more."""
    ds_uuid = _data_source(api)
    plan = api.post(
        "/plans",
        json={
            "data_source_uuid": ds_uuid,
            "name": "P",
            "interval_count": 1,
            "interval_unit": "month",
        },
    ).json()
    (customer_uuid,) = _customers(api, ds_uuid, 1)
    _subscribe(api, ds_uuid, plan["uuid"], customer_uuid, 1)
    expected = {
        "/invoices": {"invoices", "current_page", "total_pages"},
        f"/import/customers/{customer_uuid}/invoices": {
            "customer_uuid",
            "invoices",
            "current_page",
            "total_pages",
        },
        f"/customers/{customer_uuid}/subscriptions": {"entries", "page", "per_page"},
        f"/customers/{customer_uuid}/activities": {"entries", "page", "per_page"},
        "/subscription_events": {"subscription_events", "meta"},
    }
    for path, fields in expected.items():
        body = api.get(path).json()
        assert set(body) >= fields | {"cursor", "has_more"}, (path, body)
        assert body["has_more"] is False, path
    subscriptions = api.get(f"/customers/{customer_uuid}/subscriptions").json()
    assert isinstance(subscriptions["cursor"], str), "last pages keep a non-null cursor"
    meta = api.get("/subscription_events").json()["meta"]
    assert set(meta) >= {"next_key", "prev_key", "before_key", "page", "total_pages"}


# ---------------------------------------------------------------------- error bodies
@pytest.mark.parametrize(
    ("method", "path", "payload", "status", "expected", "exact"),
    [
        ("POST", "/data_sources", {}, 400,
         {"code": 400, "message": 'Parameter "name" is missing', "param": "name"}, True),
        ("POST", "/data_sources", {"name": None}, 422,
         {"errors": {"name": "A name is required for each data source."}}, True),
        ("DELETE", f"/data_sources/ds_{UNKNOWN}", None, 404,
         {"error": "Data source not found"}, True),
        ("GET", "/customers/search?email=ghost@example.com", None, 404,
         {"code": 404, "message": 'Can\'t find any customers with email: "ghost@example.com"',
          "param": "email"}, True),
        ("GET", f"/invoices/inv_{UNKNOWN}", None, 404, {"error": "Invoice not found"}, False),
        ("DELETE", f"/invoices/inv_{UNKNOWN}", None, 404, {"error": "Invoice not found"}, False),
        ("GET", f"/line_items/li_{UNKNOWN}", None, 404, {"error": "Line item not found"}, False),
        ("GET", f"/transactions/tr_{UNKNOWN}", None, 404,
         {"error": "Transaction not found"}, False),
        ("POST", "/plan_groups", {}, 422,
         {"name": ["Name can't be blank"], "plan_ids": ["Plan ids can't be blank"]}, False),
        ("GET", "/account?include=bogus", None, 400,
         {"message": "Invalid include parameter: bogus"}, True),
        ("PATCH", "/subscription_events", {"subscription_event": {"id": 987654}}, 404,
         {"message": "Subscription event not found"}, False),
    ],
)  # fmt: skip
def test_error_body_shapes(
    api: httpx.Client,
    method: str,
    path: str,
    payload: Any,
    status: int,
    expected: dict[str, Any],
    exact: bool,
) -> None:
    """Each endpoint answers errors in the body shape the real API uses for it."""
    answer = api.request(method, path, json=payload)
    assert answer.status_code == status, answer.text
    body = answer.json()
    if exact:
        assert body == expected
    else:
        assert {key: body.get(key) for key in expected} == expected, body


def test_plan_group_errors_carry_error_details(api: httpx.Client) -> None:
    """Rails-style plan group errors add an error_details entry per message."""
    body = api.post("/plan_groups", json={}).json()
    details = {(d["param"], d["code"], d["message"]) for d in body["error_details"]}
    assert ("name", "blank", "Name can't be blank") in details
    assert ("plan_ids", "blank", "Plan ids can't be blank") in details


def test_bad_key_on_any_endpoint(emulator_server: EmulatorServer) -> None:
    """Without a valid key every /v1 endpoint answers the shape-1 401."""
    base = f"{emulator_server.base_url}/v1"
    for path in ("/customers", "/metrics/mrr", "/data_sources"):
        answer = httpx.get(base + path, auth=("wrong", ""), timeout=30)
        assert answer.status_code == 401
        assert answer.json() == {"code": 401, "message": "No valid API key provided", "param": None}
    assert httpx.get(base + "/ping", timeout=30).status_code == 401


# ---------------------------------------------------------------------- limits
def test_rate_limit_429_reaches_the_client_unretried() -> None:
    """Past the rate limit the API answers 429; over http the client surfaces it at once."""
    settings = EmulatorSettings(limits=Limits(rate_limit=1, max_connections=MAX_PARALLEL))
    with (
        EmulatorServer(settings) as server,
        httpx.Client(
            base_url=f"{server.base_url}/v1", auth=(server.api_key, ""), timeout=30
        ) as raw,
    ):
        server.emulator.bucket.use_clock(lambda: 0.0)  # no token comes back during the test
        assert raw.get("/ping").status_code == 200  # the bucket holds one token
        failure = api_failure(chartmogul.Ping.ping(client_config(server)))
        assert (failure.status, failure.body) == (429, RATE_LIMITED)
        limited = raw.get("/ping")
        assert (limited.status_code, limited.json()) == (429, RATE_LIMITED)


@pytest.mark.anyio
async def test_more_than_twenty_parallel_requests_get_503() -> None:
    """With 20 requests in flight the next one is refused with 503; the 20 complete."""
    latency_ms = SLOW_MS
    while True:
        settings = EmulatorSettings(
            limits=Limits(rate_limit=0, max_connections=MAX_PARALLEL, latency_ms=latency_ms)
        )
        with EmulatorServer(settings) as server:
            async with httpx.AsyncClient(
                base_url=f"{server.base_url}/v1",
                auth=(server.api_key, ""),
                limits=httpx.Limits(max_connections=OVER_THE_CAP * 2),
                timeout=120,
            ) as client:
                held = [asyncio.create_task(client.get("/ping")) for _ in range(MAX_PARALLEL)]
                # the 21st goes out only once the emulator holds all 20 (observed, not timed)
                while server.emulator.stats.in_flight < MAX_PARALLEL and not any(  # noqa: ASYNC110
                    task.done() for task in held
                ):
                    await asyncio.sleep(0.01)
                full = server.emulator.stats.in_flight == MAX_PARALLEL
                extra = await client.get("/ping") if full else None
                answers = await asyncio.gather(*held)
            rejected = server.emulator.stats.concurrency_rejected
        assert [answer.status_code for answer in answers] == [200] * MAX_PARALLEL
        assert rejected == (extra is not None)
        if extra is not None:
            assert extra.status_code == 503
            assert "message" in extra.json()
            return
        latency_ms *= 2  # a loaded machine could not get 20 in at once: hold them longer


# ---------------------------------------------------------------------- PATCH / DELETE bodies
def test_patch_and_delete_bodies(api: httpx.Client, cm: chartmogul.Config) -> None:
    """Bodies on PATCH and DELETE (as the official client sends them) are honoured."""
    ds_uuid = _data_source(api)
    (customer_uuid,) = _customers(api, ds_uuid, 1)
    tags_url = f"/customers/{customer_uuid}/attributes/tags"
    assert api.post(tags_url, json={"tags": ["a", "b", "c"]}).json() == {"tags": ["a", "b", "c"]}
    removed = api.request("DELETE", tags_url, json={"tags": ["b"]})
    assert (removed.status_code, removed.json()) == (200, {"tags": ["a", "c"]})

    patched = api.patch(f"/customers/{customer_uuid}", json={"name": "Patched"})
    assert (patched.status_code, patched.json()["name"]) == (200, "Patched")

    left = chartmogul.Tags.remove(cm, uuid=customer_uuid, data={"tags": ["a"]}).get()
    assert left.tags == ["c"]
    chartmogul.CustomAttributes.add(
        cm, uuid=customer_uuid, data={"custom": [{"type": "String", "key": "k", "value": "v"}]}
    ).get()
    chartmogul.CustomAttributes.remove(cm, uuid=customer_uuid, data={"custom": ["k"]}).get()
    attributes = api.get(f"/customers/{customer_uuid}/attributes").json()
    assert (attributes["tags"], attributes["custom"]) == (["c"], {})
    renamed = chartmogul.Customer.modify(cm, uuid=customer_uuid, data={"name": "Client"}).get()
    assert renamed.name == "Client"
    assert api.get(f"/customers/{customer_uuid}").json()["name"] == "Client"

    plan = {"data_source_uuid": ds_uuid, "external_id": "raw-plan", "name": "Raw plan"}
    assert api.post(
        "/plans", json={**plan, "interval_count": 1, "interval_unit": "month"}
    ).is_success
    event = {
        "data_source_uuid": ds_uuid,
        "customer_external_id": "raw-000",
        "event_type": "subscription_start",
        "event_date": "2024-01-01",
        "effective_date": "2024-01-01",
        "external_id": "raw-evt",
        "subscription_external_id": "raw-sub",
        "plan_external_id": "raw-plan",
        "currency": "USD",
        "amount_in_cents": 100,
        "quantity": 1,
    }
    created = api.post("/subscription_events", json={"subscription_event": event})
    assert created.status_code == 201, created.text
    gone = api.request(
        "DELETE", "/subscription_events", json={"subscription_event": {"id": created.json()["id"]}}
    )
    assert gone.status_code == 204
    assert api.get("/subscription_events").json()["subscription_events"] == []

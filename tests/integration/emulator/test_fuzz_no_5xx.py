"""Property: no generated request to the emulator's write and list endpoints gets a 5xx.

Hypothesis builds hostile requests (wrong types, out-of-range dates, huge numbers, deep
nesting, odd query values) around real uuids, so they reach each endpoint's validation
instead of stopping at a 404. ``derandomize`` makes every run draw the same examples:
the test is deterministic and needs no example database.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.conftest import unlimited_settings

from mogulsync.emulator.server import EmulatorServer

#: enough to cover every endpoint and value family several times in a few seconds
EXAMPLES = 400
FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

HOSTILE_DATES = [
    "0001-01-01T00:00:00+23:59",
    "9999-12-31T23:59:59-23:59",
    "0001-01-01",
    "9999-12-31T23:59:59Z",
    "2024-02-30",
    "2024-01-01T25:00:00Z",
    "",
    "yesterday",
]
HOSTILE_NUMBERS = ["9" * 4301, "1e400", "-1e400", "NaN", "Infinity", "-0", "1e-400"]
FIELDS = [
    "data_source_uuid",
    "customer_uuid",
    "external_id",
    "name",
    "email",
    "country",
    "state",
    "lead_created_at",
    "free_trial_started_at",
    "date",
    "due_date",
    "currency",
    "interval_count",
    "interval_unit",
    "amount_in_cents",
    "quantity",
    "type",
    "result",
    "event_type",
    "event_date",
    "effective_date",
    "subscription_external_id",
    "plan_uuid",
    "plan_external_id",
    "customer_external_id",
    "service_period_start",
    "service_period_end",
    "attributes",
    "custom",
    "tags",
    "invoices",
    "line_items",
    "transactions",
    "customers",
    "plans",
    "subscription_events",
    "subscription_event",
    "position",
    "from",
    "into",
    "text",
    "call_duration",
    "author_email",
    "task_details",
    "assignee",
    "completed_at",
    "estimated_close_date",
    "win_likelihood",
]
QUERY_KEYS = [
    "page",
    "per_page",
    "cursor",
    "data_source_uuid",
    "customer_uuid",
    "external_id",
    "email",
    "status",
    "start-date",
    "end-date",
    "start_date",
    "end_date",
    "interval",
    "type",
    "system",
    "assignee",
    "completed",
]


@dataclass(frozen=True, slots=True)
class Target:
    """Real ids the generated requests refer to."""

    ds: str
    customer: str
    plan: str
    invoice: str


@dataclass(frozen=True, slots=True)
class Fuzzed:
    """One generated request, and the emulator behind it."""

    base_url: str
    api_key: str
    target: Target


@pytest.fixture(scope="module")
def fuzzed() -> Iterator[Fuzzed]:
    """One emulator for every example, seeded with a customer, plan and invoice."""
    with (
        EmulatorServer(unlimited_settings()) as server,
        httpx.Client(
            base_url=f"{server.base_url}/v1", auth=(server.api_key, ""), timeout=30
        ) as api,
    ):
        ds = api.post("/data_sources", json={"name": "Fuzz"}).json()["uuid"]
        customer = api.post(
            "/customers", json={"data_source_uuid": ds, "external_id": "c", "name": "C"}
        ).json()["uuid"]
        plan = api.post(
            "/plans",
            json={
                "data_source_uuid": ds,
                "external_id": "p",
                "name": "P",
                "interval_count": 1,
                "interval_unit": "month",
            },
        ).json()["uuid"]
        invoice = {
            "external_id": "i",
            "date": "2024-01-01",
            "currency": "USD",
            "line_items": [{"type": "one_time", "amount_in_cents": 100, "external_id": "li"}],
        }
        imported = api.post(f"/import/customers/{customer}/invoices", json={"invoices": [invoice]})
        yield Fuzzed(
            server.base_url,
            server.api_key,
            Target(ds, customer, plan, imported.json()["invoices"][0]["uuid"]),
        )


def _scalars(target: Target) -> st.SearchStrategy[Any]:
    real_ids = st.sampled_from([target.ds, target.customer, target.plan, target.invoice])
    return st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**70), max_value=2**70),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=20),
        st.sampled_from(HOSTILE_DATES),
        real_ids,
    )


def _values(target: Target) -> st.SearchStrategy[Any]:
    return st.recursive(
        _scalars(target),
        lambda inner: st.one_of(
            st.lists(inner, max_size=3),
            st.dictionaries(st.sampled_from(FIELDS), inner, max_size=4),
        ),
        max_leaves=12,
    )


def _json_body(target: Target) -> st.SearchStrategy[bytes]:
    objects = st.dictionaries(st.sampled_from(FIELDS), _values(target), max_size=8)
    encoded = objects.map(lambda body: json.dumps(body).encode())
    spliced = st.tuples(objects, st.sampled_from(FIELDS), st.sampled_from(HOSTILE_NUMBERS)).map(
        lambda parts: (
            json.dumps(parts[0])[:-1] + (", " if parts[0] else "") + f'"{parts[1]}": {parts[2]}}}'
        ).encode()
    )
    deep = st.integers(min_value=60, max_value=6000).map(
        lambda depth: b'{"name": ' + b"[" * depth + b"]" * depth + b"}"
    )
    junk = st.binary(max_size=40)
    return st.one_of(encoded, encoded, encoded, spliced, deep, junk)


WRITE_PATHS = [
    ("POST", "/data_sources"),
    ("POST", "/customers"),
    ("PATCH", "/customers/{customer}"),
    ("POST", "/contacts"),
    ("POST", "/customers/{customer}/contacts"),
    ("POST", "/plans"),
    ("PATCH", "/plans/{plan}"),
    ("POST", "/plan_groups"),
    ("POST", "/import/customers/{customer}/invoices"),
    ("POST", "/import/invoices/{invoice}/line_items"),
    ("POST", "/import/invoices/{invoice}/transactions"),
    ("POST", "/subscription_events"),
    ("PATCH", "/subscription_events"),
    ("DELETE", "/subscription_events"),
    ("POST", "/customers/merges"),
    ("POST", "/customers/{customer}/attributes/tags"),
    ("POST", "/customers/{customer}/attributes/custom"),
    ("PUT", "/customers/{customer}/attributes/custom"),
    ("POST", "/customers/attributes/tags"),
    ("POST", "/activities_export"),
    ("POST", "/data_sources/{ds}/json_imports"),
    ("POST", "/customers/{customer}/connect_subscriptions"),
    ("POST", "/customer_notes"),
    ("POST", "/opportunities"),
    ("POST", "/tasks"),
]
LIST_PATHS = [
    "/customers",
    "/customers/search",
    "/contacts",
    "/plans",
    "/plan_groups",
    "/invoices",
    "/import/customers/{customer}/invoices",
    "/import/customers/{customer}/subscriptions",
    "/customers/{customer}/subscriptions",
    "/customers/{customer}/activities",
    "/activities",
    "/subscription_events",
    "/data_sources",
    "/metrics/all",
    "/metrics/mrr",
    "/metrics/customer-count",
    "/customer_notes",
    "/opportunities",
    "/tasks",
]


@st.composite
def requests(draw: st.DrawFn, target: Target) -> tuple[str, str, dict[str, str], bytes]:
    """(method, path, query, body) of one generated request."""
    ids = {"ds": target.ds, "customer": target.customer, "plan": target.plan}
    ids["invoice"] = target.invoice
    if draw(st.booleans()):
        method, template = draw(st.sampled_from(WRITE_PATHS))
        return method, template.format(**ids), {}, draw(_json_body(target))
    query_value = st.one_of(
        st.sampled_from([*HOSTILE_DATES, *HOSTILE_NUMBERS, "99999999999999999999", "-1", "0"]),
        st.text(max_size=12),
        st.sampled_from([target.ds, target.customer]),
    )
    query = draw(st.dictionaries(st.sampled_from(QUERY_KEYS), query_value, max_size=4))
    return "GET", draw(st.sampled_from(LIST_PATHS)).format(**ids), query, b""


def _clean(query: dict[str, str]) -> dict[str, str]:
    # httpx cannot encode lone surrogates into a URL; the server never sees them
    return {key: value.encode("utf-8", "replace").decode() for key, value in query.items()}


@pytest.fixture(scope="module")
def client(fuzzed: Fuzzed) -> Iterator[httpx.Client]:
    """A keep-alive client for every generated request."""
    with httpx.Client(
        base_url=f"{fuzzed.base_url}/v1", auth=(fuzzed.api_key, ""), timeout=30
    ) as api:
        yield api


@given(data=st.data())
@FUZZ_SETTINGS
def test_no_request_gets_a_5xx(fuzzed: Fuzzed, client: httpx.Client, data: st.DataObject) -> None:
    """Whatever the request, the answer is a 2xx/4xx; every 4xx body is JSON."""
    method, path, query, body = data.draw(requests(fuzzed.target))
    headers = {"content-type": "application/json"} if body else {}
    answer = client.request(method, path, params=_clean(query), content=body, headers=headers)
    assert answer.status_code < 500, (method, path, query, body[:300], answer.text[:500])
    if answer.status_code >= 400:
        assert isinstance(answer.json(), dict), answer.text[:300]

"""Fuzzing findings (issue 10 §6): each was a 500 and is now a 4xx in ChartMogul's shape.

One test per finding, over real HTTP to the emulator on loopback.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from tests.integration.emulator._billing import Billing, created, make_billing

from mogulsync.emulator._http import MAX_JSON_DEPTH, iso_millis, iso_seconds, parse_time

#: how long a small import may take on loopback before the test gives up (not asserted)
DEADLINE_S = 60.0
POLL_S = 0.01
MAX_BODY = 5 * 1024 * 1024
BEFORE_YEAR_1 = "0001-01-01T00:00:00+23:59"
AFTER_YEAR_9999 = "9999-12-31T23:59:59-23:59"


@pytest.fixture
def billing(api: httpx.Client) -> Billing:
    """A data source with customer ``cus-1`` and plan ``gold``."""
    return make_billing(api)


def _shape_1(response: httpx.Response, status: int) -> dict[str, Any]:
    """Assert ChartMogul's ``{"code", "message", "param"}`` error body; return it."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"code", "message", "param"}
    assert body["code"] == status
    return dict(body)


@pytest.mark.parametrize("value", [["ds_x"], {"uuid": "ds_x"}, "\ud800"])
def test_data_source_uuid_that_is_not_text(api: httpx.Client, value: object) -> None:
    """A list, an object or a lone surrogate as ``data_source_uuid`` is a 400 naming it."""
    body = {"data_source_uuid": value, "customer_uuid": value, "external_id": "x", "name": "X"}
    raw = json.dumps(body)  # escapes the surrogate, as JavaScript clients do
    for path in ("/customers", "/plans"):
        error = _shape_1(api.post(path, content=raw, headers=_JSON), 400)
        assert error["param"] == "data_source_uuid"
        assert "must be a string" in error["message"]
    contact = api.post("/contacts", content=raw, headers=_JSON)
    assert 400 <= contact.status_code < 500, contact.text


_JSON = {"content-type": "application/json"}


@pytest.mark.parametrize("date", [BEFORE_YEAR_1, AFTER_YEAR_9999])
def test_out_of_range_dates_are_validation_errors(
    api: httpx.Client, billing: Billing, date: str
) -> None:
    """A date that leaves years 1-9999 once moved to UTC is a 422 on the field."""
    customer = api.post(
        "/customers",
        json={"data_source_uuid": billing.ds, "external_id": "c2", "lead_created_at": date},
    )
    assert customer.status_code == 422, customer.text
    assert "lead_created_at" in customer.json()["errors"]
    invoice = {
        "external_id": "inv-far",
        "date": date,
        "currency": "USD",
        "line_items": [{"type": "one_time", "amount_in_cents": 100, "external_id": "li"}],
    }
    answer = api.post(
        f"/import/customers/{billing.customer}/invoices", json={"invoices": [invoice]}
    )
    assert 400 <= answer.status_code < 500, answer.text


def test_one_out_of_range_invoice_fails_alone_in_a_json_import(
    api: httpx.Client, billing: Billing
) -> None:
    """In a bulk import the invoice with the bad date fails; its neighbour imports."""
    invoices = [
        {
            "external_id": f"inv-{name}",
            "customer_external_id": name,
            "date": date,
            "currency": "USD",
        }
        for name, date in (("good", "2024-01-01"), ("bad", BEFORE_YEAR_1))
    ]
    payload = {
        "external_id": "dates",
        "customers": [{"external_id": name, "name": name.title()} for name in ("good", "bad")],
        "invoices": invoices,
    }
    path = f"/data_sources/{billing.ds}/json_imports"
    import_id = created(api.post(path, json=payload))["id"]
    deadline = time.monotonic() + DEADLINE_S
    done = api.get(f"{path}/{import_id}").json()
    while done["status"] not in {"completed", "failed"} and time.monotonic() < deadline:
        time.sleep(POLL_S)
        done = api.get(f"{path}/{import_id}").json()
    details = done["status_details"]
    assert done["status"] == "completed", done
    assert details["good"]["status"] == "imported"
    assert details["bad"]["status"] != "imported"
    assert "date" in json.dumps(details["bad"])
    listed = api.get("/invoices", params={"data_source_uuid": billing.ds}).json()["invoices"]
    assert [invoice["external_id"] for invoice in listed] == ["inv-good"]


@pytest.mark.parametrize(
    "query",
    [
        {"page": "99999999999999999999"},
        {"page": "9" * 5000},
        {"per_page": "9" * 5000},
        {"cursor": "JjEwMDAwMDAwMDAwMDAwMDAwMDAwMDA="},  # "&100000000000000000000"
    ],
)
def test_huge_page_and_cursor_values(api: httpx.Client, query: dict[str, str]) -> None:
    """Pages and cursors beyond any real position are a 400, on every list that takes them."""
    for path in ("/customers", "/plans", "/invoices"):
        answer = api.get(path, params=query)
        assert 400 <= answer.status_code < 500, (path, answer.text)


@pytest.mark.parametrize(
    "raw",
    [
        b"[" * 5000 + b"]" * 5000,
        b'{"a":' * (MAX_JSON_DEPTH + 1) + b"1" + b"}" * (MAX_JSON_DEPTH + 1),
        b'{"name": ' + b"1" * 4301 + b"}",
        b'{"name": NaN}',
        b'{"name": 1e400}',
    ],
    ids=["5000-deep", "one-past-the-bound", "4301-digits", "NaN", "1e400"],
)
def test_unreadable_json_bodies(api: httpx.Client, raw: bytes) -> None:
    """Deep nesting, over-long integers and non-finite numbers are a 400 in shape 1."""
    for path in ("/data_sources", "/customers", "/data_sources/ds_x/json_imports"):
        answer = api.post(path, content=raw, headers=_JSON)
        if answer.status_code == 404:  # the import route checks its data source first
            continue
        assert "Invalid JSON" in _shape_1(answer, 400)["message"]


def test_nesting_up_to_the_bound_is_read(api: httpx.Client) -> None:
    """The depth bound refuses nothing a client sends: 64 levels still parse."""
    inner: Any = "x"
    for _ in range(MAX_JSON_DEPTH - 1):
        inner = {"k": inner}
    answer = api.post("/data_sources", json={"name": "deep", "extra": inner})
    assert answer.status_code == 201, answer.text


def _chunks(total: int, size: int = 1024 * 1024) -> Iterator[bytes]:
    sent = 0
    while sent < total:
        step = min(size, total - sent)
        sent += step
        yield b" " * step


@pytest.mark.parametrize("path", ["/customers", "/plans", "/import/customers/{cus}/invoices"])
def test_body_limit_on_every_route(api: httpx.Client, billing: Billing, path: str) -> None:
    """Every route answers 413 past 5 MB, declared or streamed without a length."""
    path = path.format(cus=billing.customer)
    declared = api.post(path, content=b" " * (MAX_BODY + 1), headers=_JSON)
    error = _shape_1(declared, 413)
    assert str(MAX_BODY + 1) in error["message"]
    streamed = api.post(path, content=_chunks(MAX_BODY + 3), headers=_JSON)
    assert str(MAX_BODY + 3) in _shape_1(streamed, 413)["message"]
    assert api.get("/ping").status_code == 200  # the connection is still usable


def test_year_one_renders_with_four_digits(api: httpx.Client, billing: Billing) -> None:
    """Year 1 comes back as ``0001-01-01T00:00:00.000Z``, which ISO 8601 readers accept."""
    customer = created(
        api.post(
            "/customers",
            json={
                "data_source_uuid": billing.ds,
                "external_id": "ancient",
                "lead_created_at": "0001-01-01T00:00:00Z",
            },
        )
    )
    assert customer["lead_created_at"] == "0001-01-01T00:00:00.000Z"
    moment = parse_time("0001-01-01T00:00:00Z")
    assert moment is not None
    assert iso_millis(moment) == "0001-01-01T00:00:00.000Z"
    assert iso_seconds(moment) == "0001-01-01T00:00:00Z"

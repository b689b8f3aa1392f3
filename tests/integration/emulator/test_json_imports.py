"""Emulated bulk JSON import: life cycle, per-customer results, lookups and the 5 MB limit."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest
from tests.integration.emulator._billing import (
    UNKNOWN_DS,
    Billing,
    created,
    import_one,
    make_billing,
)

from mogulsync.emulator.app import create_app, emulator_from_app
from mogulsync.emulator.settings import EmulatorSettings, Limits
from mogulsync.emulator.transport import in_process_transport

MAX_BYTES = 5 * 1024 * 1024
#: how long a small import may take on loopback before the test gives up (not asserted)
DEADLINE_S = 60.0
POLL_S = 0.01
STATUS_ORDER = ["queued", "processing", "completed"]
IMPORTED = {"status": "imported"}
SKIPPED = {"status": "skipped"}
AUTH = ("emulator-api-key", "")


def _plan(external_id: str) -> dict[str, Any]:
    return {
        "name": external_id.title(),
        "external_id": external_id,
        "interval_count": 1,
        "interval_unit": "month",
    }


def _customer_records(customer: str, plan: str = "gold") -> dict[str, list[dict[str, Any]]]:
    """One customer with a paid subscription invoice and a start event."""
    return {
        "customers": [{"external_id": customer, "name": customer.title()}],
        "invoices": [
            {
                "external_id": f"{customer}-inv",
                "customer_external_id": customer,
                "date": "2024-01-01",
                "currency": "USD",
            }
        ],
        "line_items": [
            {
                "invoice_external_id": f"{customer}-inv",
                "external_id": f"{customer}-li",
                "type": "subscription",
                "amount_in_cents": 1000,
                "plan_external_id": plan,
                "subscription_external_id": f"{customer}-sub",
                "service_period_start": "2024-01-01",
                "service_period_end": "2024-02-01",
            }
        ],
        "transactions": [
            {
                "invoice_external_id": f"{customer}-inv",
                "external_id": f"{customer}-tr",
                "type": "payment",
                "result": "successful",
                "date": "2024-01-01",
            }
        ],
        "subscription_events": [
            {
                "external_id": f"{customer}-evt",
                "customer_external_id": customer,
                "subscription_external_id": f"{customer}-sub",
                "plan_external_id": plan,
                "event_type": "subscription_start",
                "event_date": "2024-01-01",
                "effective_date": "2024-01-01",
                "currency": "USD",
                "amount_in_cents": 1000,
            }
        ],
    }


def _batch(*customers: str, external_id: str = "batch-1", **extra: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {"external_id": external_id, "plans": [_plan("gold")]}
    for customer in customers:
        for key, records in _customer_records(customer).items():
            payload.setdefault(key, []).extend(records)
    for key, records in extra.items():
        payload.setdefault(key, []).extend(records)
    return payload


def _wait(api: httpx.Client, ds: str, import_id: str) -> tuple[dict[str, Any], list[str]]:
    """Poll until the import is completed; return it and the statuses seen."""
    seen: list[str] = []
    deadline = time.monotonic() + DEADLINE_S
    while True:
        body = api.get(f"/data_sources/{ds}/json_imports/{import_id}").json()
        if not seen or seen[-1] != body["status"]:
            seen.append(body["status"])
        if body["status"] in {"completed", "failed"} or time.monotonic() > deadline:
            return body, seen
        time.sleep(POLL_S)


def _drive_to_end(run: Any) -> None:
    """Resume a background coroutine until it returns (its sleeps are zero-length yields)."""
    try:
        while True:
            run.send(None)
    except StopIteration:
        return


@pytest.fixture
def billing(api: httpx.Client) -> Billing:
    """A data source with customer ``cus-1`` and plan ``gold``."""
    return make_billing(api)


@pytest.mark.anyio
async def test_life_cycle_steps(monkeypatch: pytest.MonkeyPatch) -> None:
    """The import is queued, then processing while records land, then completed."""
    app = create_app(
        EmulatorSettings(limits=Limits(rate_limit=0, max_connections=0), json_import_step_s=0)
    )
    spawned: list[Any] = []
    monkeypatch.setattr(emulator_from_app(app), "spawn", spawned.append)
    async with httpx.AsyncClient(
        transport=in_process_transport(app), base_url="http://emulator/v1", auth=AUTH
    ) as client:
        ds = (await client.post("/data_sources", json={"name": "Bulk"})).json()["uuid"]
        response = await client.post(
            f"/data_sources/{ds}/json_imports", json=_batch("alice", "bob")
        )
        assert response.status_code == 201
        queued = response.json()
        assert list(queued) == [
            "id", "data_source_uuid", "status", "external_id", "status_details", "error_count",
            "processed_count", "created_at", "updated_at",
        ]  # fmt: skip
        assert (queued["status"], queued["external_id"], queued["status_details"]) == (
            "queued",
            "batch-1",
            {},
        )

        async def status() -> dict[str, Any]:
            return (await client.get(f"/data_sources/{ds}/json_imports/{queued['id']}")).json()

        async def customers() -> list[str]:
            listed = (await client.get("/customers", params={"data_source_uuid": ds})).json()
            return [entry["external_id"] for entry in listed["entries"]]

        [run] = spawned
        run.send(None)  # the queued step
        assert (await status())["status"] == "queued"
        assert await customers() == []
        run.send(None)  # processing: plans and the first customer are written
        assert (await status())["status"] == "processing"
        assert await customers() == ["alice"]
        _drive_to_end(run)
        done = await status()
        assert done["status"] == "completed"
        assert await customers() == ["alice", "bob"]
        assert (done["error_count"], done["processed_count"]) == (0, 11)
        assert done["status_details"]["alice"] == {
            "status": "imported",
            "customers": IMPORTED,
            "invoices": IMPORTED,
            "line_items": IMPORTED,
            "transactions": IMPORTED,
            "subscription_events": IMPORTED,
        }
        assert done["status_details"]["plans"] == IMPORTED


def test_background_import_creates_the_records(api: httpx.Client, billing: Billing) -> None:
    """On a real server the import completes and its records are readable through the API."""
    response = api.post(f"/data_sources/{billing.ds}/json_imports", json=_batch("alice"))
    queued = created(response)
    done, seen = _wait(api, billing.ds, queued["id"])
    assert done["status"] == "completed"
    assert seen == [status for status in STATUS_ORDER if status in seen]
    alice = api.get("/customers", params={"data_source_uuid": billing.ds, "external_id": "alice"})
    [customer] = alice.json()["entries"]
    [inv] = api.get(f"/import/customers/{customer['uuid']}/invoices").json()["invoices"]
    assert [li["external_id"] for li in inv["line_items"]] == ["alice-li"]
    assert [tr["external_id"] for tr in inv["transactions"]] == ["alice-tr"]
    [sub] = api.get(f"/import/customers/{customer['uuid']}/subscriptions").json()["subscriptions"]
    assert sub["external_id"] == "alice-sub"
    events = api.get("/subscription_events", params={"customer_uuid": customer["uuid"]}).json()
    assert [event["external_id"] for event in events["subscription_events"]] == ["alice-evt"]
    # the existing plan "gold" was reused, not duplicated
    plans = api.get("/plans", params={"data_source_uuid": billing.ds}).json()["plans"]
    assert [plan["external_id"] for plan in plans] == ["gold"]


def test_failures_are_reported_per_customer(api: httpx.Client, billing: Billing) -> None:
    """Failed records are named with field and message; other customers still import."""
    payload = _batch("alice", "bob", "carol", "dave")
    payload["plans"].append(
        {"external_id": "nameless", "interval_count": 1, "interval_unit": "month"}
    )
    payload["customers"][1]["email"] = "not-an-email"  # bob
    payload["invoices"][2].update(currency="dollars", date="someday")  # carol: 2 errors
    payload["line_items"][3]["plan_external_id"] = "platinum"  # dave
    payload["transactions"][3]["type"] = "chargeback"  # dave
    payload["subscription_events"][3]["event_type"] = "subscription_paused"  # dave
    payload["line_items"].append(
        {
            "invoice_external_id": "nowhere",
            "external_id": "lost-li",
            "type": "one_time",
            "amount_in_cents": 1,
        }
    )
    done, _ = _wait(
        api,
        billing.ds,
        created(api.post(f"/data_sources/{billing.ds}/json_imports", json=payload))["id"],
    )
    details = done["status_details"]

    [plan_error] = details["plans"]["errors"]
    assert (details["plans"]["status"], plan_error["external_id"], plan_error["field"]) == (
        "failed",
        "nameless",
        "name",
    )
    assert details["alice"]["status"] == "imported"

    bob = details["bob"]
    [customer_error] = bob["customers"]["errors"]
    assert (bob["status"], customer_error["external_id"], customer_error["field"]) == (
        "failed",
        "bob",
        "email",
    )
    assert bob["invoices"]["errors"] == [
        {
            "external_id": "bob-inv",
            "field": "customer_external_id",
            "message": "Customer not found in this data source",
        }
    ]
    assert bob["line_items"]["errors"] == [
        {
            "external_id": "bob-li",
            "invoice_external_id": "bob-inv",
            "field": "invoice_external_id",
            "message": "Invoice was not imported",
        }
    ]
    assert bob["subscription_events"] == IMPORTED  # stored, with the unknown customer in its errors

    carol = details["carol"]
    assert (carol["customers"], carol["invoices"]["status"]) == (IMPORTED, "failed")
    assert carol["invoices"]["errors"] == [
        {
            "external_id": "carol-inv",
            "field": "date",
            "message": "is not a valid ISO 8601 date/time",
        },
        {
            "external_id": "carol-inv",
            "field": "currency",
            "message": "must be a 3-letter ISO 4217 currency code",
        },
    ]
    assert carol["transactions"]["errors"][0]["message"] == "Invoice was not imported"

    dave = details["dave"]  # a bad line item or transaction fails its whole invoice
    assert dave["customers"] == IMPORTED
    assert dave["invoices"]["errors"] == [
        {
            "external_id": "dave-inv",
            "field": "line_items.plan_external_id",
            "message": "Plan not found in this data source",
        },
        {
            "external_id": "dave-inv",
            "field": "transactions.type",
            "message": "is not included in the list",
        },
    ]
    assert dave["line_items"]["errors"] == [
        {
            "external_id": "dave-li",
            "invoice_external_id": "dave-inv",
            "field": "plan_external_id",
            "message": "Plan not found in this data source",
        }
    ]
    assert dave["transactions"]["errors"] == [
        {
            "external_id": "dave-tr",
            "invoice_external_id": "dave-inv",
            "field": "type",
            "message": "is not included in the list",
        }
    ]
    assert dave["subscription_events"]["errors"] == [
        {"external_id": "dave-evt", "field": "event_type", "message": "is not included in the list"}
    ]

    assert details["unassigned"]["line_items"]["errors"] == [
        {
            "external_id": "lost-li",
            "invoice_external_id": "nowhere",
            "field": "invoice_external_id",
            "message": "Invoice not found in this data source",
        }
    ]
    assert details["unassigned"]["customers"] == SKIPPED
    # records: 2 plans + 4 customers x 5 + 1 stray line item; failed records, not errors
    assert (done["processed_count"], done["error_count"]) == (23, 13)
    invoices = [
        inv["external_id"]
        for inv in api.get("/invoices", params={"data_source_uuid": billing.ds}).json()["invoices"]
    ]
    assert invoices == ["alice-inv"]


def test_children_of_invoices_from_earlier_imports(api: httpx.Client, billing: Billing) -> None:
    """Line items and transactions may name an invoice that already exists."""
    stored = import_one(api, billing, "old-inv")
    payload = {
        "external_id": "late",
        "line_items": [
            {
                "invoice_external_id": "old-inv",
                "external_id": "late-li",
                "type": "one_time",
                "amount_in_cents": 300,
            }
        ],
        "transactions": [
            {
                "invoice_external_id": "old-inv",
                "external_id": "late-tr",
                "type": "refund",
                "result": "successful",
                "date": "2024-01-05",
            }
        ],
    }
    done, _ = _wait(
        api,
        billing.ds,
        created(api.post(f"/data_sources/{billing.ds}/json_imports", json=payload))["id"],
    )
    assert done["status_details"]["cus-1"]["line_items"] == IMPORTED
    assert done["status_details"]["cus-1"]["transactions"] == IMPORTED
    fetched = api.get(f"/invoices/{stored['uuid']}").json()
    assert [li["external_id"] for li in fetched["line_items"]] == ["old-inv-li", "late-li"]
    assert [tr["external_id"] for tr in fetched["transactions"]] == ["old-inv-tr", "late-tr"]


def test_lookup_by_id_or_external_id(api: httpx.Client, billing: Billing) -> None:
    """Status is found by the returned id or the batch external id; unknown ones are 404."""
    first = created(
        api.post(f"/data_sources/{billing.ds}/json_imports", json={"external_id": "same"})
    )
    second = created(
        api.post(f"/data_sources/{billing.ds}/json_imports", json={"external_id": "same"})
    )
    base = f"/data_sources/{billing.ds}/json_imports"
    assert api.get(f"{base}/{first['id']}").json()["id"] == first["id"]
    assert api.get(f"{base}/same").json()["id"] == second["id"]
    missing = api.get(f"{base}/nothing")
    assert (missing.status_code, missing.json()) == (404, {"error": "Json import not found"})
    other = make_billing(api, "Other")
    assert api.get(f"/data_sources/{other.ds}/json_imports/{first['id']}").status_code == 404
    no_source = api.post(f"/data_sources/{UNKNOWN_DS}/json_imports", json={})
    assert (no_source.status_code, no_source.json()["error"]) == (404, "Data source not found")


def test_bad_bodies(api: httpx.Client, billing: Billing) -> None:
    """Broken JSON is a 400; arrays of the wrong type are a 422."""
    path = f"/data_sources/{billing.ds}/json_imports"
    broken = api.post(path, content=b"{", headers={"content-type": "application/json"})
    assert (broken.status_code, broken.json()["code"]) == (400, 400)
    wrong = api.post(path, json={"customers": {"external_id": "x"}, "external_id": 7})
    assert (wrong.status_code, wrong.json()) == (
        422,
        {"errors": {"customers": "must be an array", "external_id": "must be a string"}},
    )


def test_five_megabyte_limit(api: httpx.Client, billing: Billing) -> None:
    """A body of exactly 5 MB is accepted; one byte more is a 413 with a JSON message."""
    path = f"/data_sources/{billing.ds}/json_imports"
    shell = json.dumps({"external_id": "big", "padding": ""}).encode()
    exact = json.dumps({"external_id": "big", "padding": "x" * (MAX_BYTES - len(shell))}).encode()
    assert len(exact) == MAX_BYTES
    headers = {"content-type": "application/json"}
    assert api.post(path, content=exact, headers=headers).status_code == 201
    too_big = api.post(path, content=exact[:-2] + b'x"}', headers=headers)
    assert too_big.status_code == 413
    body = too_big.json()
    assert (body["code"], body["param"]) == (413, None)
    assert "5 MB" in body["message"]
    assert str(MAX_BYTES + 1) in body["message"]

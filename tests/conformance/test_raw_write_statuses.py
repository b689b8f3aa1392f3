"""Exact success statuses and bodies of writes (the client folds 202/204 into None)."""

from __future__ import annotations

from typing import Any

import httpx


def _ok(answer: httpx.Response, status: int) -> dict[str, Any]:
    assert answer.status_code == status, (answer.request.method, answer.request.url, answer.text)
    return answer.json() if answer.content else {}


def test_write_statuses_follow_the_recorded_api(api: httpx.Client) -> None:
    """Creates are 201, plan edits and merges 202, contact deletes 200 {}, other deletes 204."""
    ds = _ok(api.post("/data_sources", json={"name": "Statuses"}), 201)["uuid"]
    plan = _ok(
        api.post(
            "/plans",
            json={
                "data_source_uuid": ds,
                "name": "P",
                "interval_count": 1,
                "interval_unit": "month",
            },
        ),
        201,
    )["uuid"]
    assert _ok(api.patch(f"/plans/{plan}", json={"name": "P2"}), 202)["name"] == "P2"
    group = _ok(api.post("/plan_groups", json={"name": "G", "plans": [plan]}), 200)
    assert group["plans_count"] == 1

    def customer(external_id: str) -> str:
        body = {"data_source_uuid": ds, "external_id": external_id, "name": external_id}
        return str(_ok(api.post("/customers", json=body), 201)["uuid"])

    first, second = customer("c1"), customer("c2")
    contact = _ok(
        api.post("/contacts", json={"customer_uuid": first, "data_source_uuid": ds}), 201
    )["uuid"]
    assert _ok(api.delete(f"/contacts/{contact}"), 200) == {}
    tags = api.post(f"/customers/{first}/attributes/tags", json={"tags": ["t"]})
    assert _ok(tags, 200) == {"tags": ["t"]}

    invoice = {
        "external_id": "i1",
        "date": "2024-01-01 00:00:00",
        "currency": "USD",
        "line_items": [
            {
                "type": "subscription",
                "subscription_external_id": "s1",
                "plan_uuid": plan,
                "service_period_start": "2024-01-01 00:00:00",
                "service_period_end": "2024-02-01 00:00:00",
                "amount_in_cents": 1000,
            }
        ],
    }
    imported = _ok(
        api.post(f"/import/customers/{first}/invoices", json={"invoices": [invoice]}), 201
    )
    (stored,) = imported["invoices"]
    assert stored["errors"] == {}
    transaction = {"type": "payment", "date": "2024-01-02 00:00:00", "result": "successful"}
    _ok(api.post(f"/import/invoices/{stored['uuid']}/transactions", json=transaction), 201)
    subscription = stored["line_items"][0]["subscription_uuid"]
    cancelled = _ok(
        api.patch(f"/import/subscriptions/{subscription}", json={"cancelled_at": "2024-01-20"}), 202
    )
    assert cancelled["customer_uuid"] == first
    assert cancelled["cancellation_dates"] == ["2024-01-20T00:00:00.000Z"]

    merge = {"from": {"customer_uuid": second}, "into": {"customer_uuid": first}}
    assert _ok(api.post("/customers/merges", json=merge), 202) == {}
    _ok(api.delete(f"/invoices/{stored['uuid']}"), 204)
    _ok(api.delete(f"/customers/{first}"), 204)
    _ok(api.delete(f"/plans/{plan}"), 204)
    _ok(api.delete(f"/data_sources/{ds}"), 204)

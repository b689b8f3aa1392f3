"""Wire shapes the client does not enforce: every documented key, key casing, time formats.

The official client silently drops keys it does not know and leaves out keys the API does
not send, so a missing ``chartmogul-url`` or a mis-cased ``customer_since`` would go
unnoticed through it. These checks read the raw JSON instead.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

MILLIS_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
OFFSET = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00$")
SECONDS_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
DAY = re.compile(r"^\d{4}-\d\d-\d\d$")

CUSTOMER_KEYS = {
    "id", "uuid", "external_id", "external_ids", "data_source_uuid", "data_source_uuids",
    "name", "email", "company", "country", "state", "city", "zip", "address",
    "lead_created_at", "free_trial_started_at", "status", "customer-since", "attributes",
    "mrr", "arr", "billing-system-url", "chartmogul-url", "billing-system-type", "currency",
    "currency-sign", "owner", "website_url",
}  # fmt: skip
CONTACT_KEYS = {
    "uuid", "customer_uuid", "customer_external_id", "data_source_uuid", "external_id",
    "position", "first_name", "last_name", "title", "email", "phone", "linked_in", "twitter",
    "notes", "custom",
}  # fmt: skip
PLAN_KEYS = {"uuid", "data_source_uuid", "external_id", "name", "interval_count", "interval_unit"}
INVOICE_KEYS = {
    "uuid", "external_id", "date", "due_date", "currency", "errors", "line_items", "transactions",
}  # fmt: skip
LINE_ITEM_KEYS = {
    "uuid", "external_id", "type", "subscription_uuid", "subscription_external_id",
    "subscription_set_external_id", "plan_uuid", "prorated", "service_period_start",
    "service_period_end", "amount_in_cents", "quantity", "discount_code",
    "discount_amount_in_cents", "discount_description", "tax_amount_in_cents",
    "transaction_fees_in_cents", "transaction_fees_currency", "account_code",
}  # fmt: skip
TRANSACTION_KEYS = {"uuid", "external_id", "type", "date", "result", "amount_in_cents"}
ACTIVITY_KEYS = {
    "uuid", "date", "type", "description", "activity-mrr", "activity-mrr-movement",
    "activity-arr", "currency", "subscription-external-id", "plan-external-id",
    "customer-name", "customer-uuid", "customer-external-id", "billing-connector-uuid",
}  # fmt: skip
SUBSCRIPTION_KEYS = {
    "id", "uuid", "external_id", "subscription_set_external_id", "plan", "quantity", "mrr",
    "arr", "status", "billing-cycle", "billing-cycle-count", "start-date", "end-date",
    "currency", "currency-sign",
}  # fmt: skip
EVENT_KEYS = {
    "id", "data_source_uuid", "customer_external_id", "subscription_external_id",
    "plan_external_id", "event_type", "event_date", "effective_date", "external_id",
    "currency", "amount_in_cents", "quantity", "created_at", "updated_at",
}  # fmt: skip
DATA_SOURCE_KEYS = {"uuid", "name", "system", "created_at", "status"}


def _invoiced_activity(api: httpx.Client) -> dict[str, Any]:
    """The activity of the invoiced subscription ``s`` (events may add others)."""
    entries = api.get("/activities").json()["entries"]
    (activity,) = [a for a in entries if a["subscription-external-id"] == "s"]
    return activity


def _invoiced_subscription(api: httpx.Client, customer_uuid: str) -> dict[str, Any]:
    """The metrics-view subscription ``s`` of the customer."""
    entries = api.get(f"/customers/{customer_uuid}/subscriptions").json()["entries"]
    (subscription,) = [sub for sub in entries if sub["external_id"] == "s"]
    return subscription


def _post(api: httpx.Client, path: str, body: dict[str, Any]) -> dict[str, Any]:
    answer = api.post(path, json=body)
    assert answer.is_success, answer.text
    result: dict[str, Any] = answer.json()
    return result


@pytest.fixture
def world(api: httpx.Client) -> dict[str, Any]:
    """One of everything, created over raw HTTP; the created objects by kind."""
    ds = _post(api, "/data_sources", {"name": "Shapes"})
    plan = _post(
        api,
        "/plans",
        {
            "data_source_uuid": ds["uuid"],
            "external_id": "p",
            "name": "P",
            "interval_count": 1,
            "interval_unit": "month",
        },
    )
    customer = _post(
        api,
        "/customers",
        {
            "data_source_uuid": ds["uuid"],
            "external_id": "c",
            "name": "C",
            "email": "c@x.io",
            "lead_created_at": "2023-12-01 00:00:00",
        },
    )
    contact = _post(
        api,
        "/contacts",
        {"customer_uuid": customer["uuid"], "data_source_uuid": ds["uuid"], "first_name": "F"},
    )
    start, end = "2024-01-01 00:00:00", "2024-02-01 00:00:00"
    invoice = {
        "external_id": "i",
        "date": start,
        "due_date": end,
        "currency": "USD",
        "line_items": [
            {
                "type": "subscription",
                "subscription_external_id": "s",
                "plan_uuid": plan["uuid"],
                "service_period_start": start,
                "service_period_end": end,
                "amount_in_cents": 900,
            }
        ],
        "transactions": [{"date": start, "type": "payment", "result": "successful"}],
    }
    imported = _post(api, f"/import/customers/{customer['uuid']}/invoices", {"invoices": [invoice]})
    event = {
        "data_source_uuid": ds["uuid"],
        "customer_external_id": "c",
        "external_id": "e",
        "subscription_external_id": "s2",
        "plan_external_id": "p",
        "event_type": "subscription_start",
        "event_date": start,
        "effective_date": start,
        "currency": "USD",
        "amount_in_cents": 100,
        "quantity": 1,
    }
    created_event = _post(api, "/subscription_events", {"subscription_event": event})
    return {
        "data_source": ds,
        "plan": plan,
        "customer": customer,
        "contact": contact,
        "invoice": imported["invoices"][0],
        "event": created_event,
    }


def test_import_objects_have_every_documented_key(api: httpx.Client, world: dict[str, Any]) -> None:
    """Data sources, plans, customers, contacts, invoices and their children carry all keys."""
    customer = api.get(f"/customers/{world['customer']['uuid']}").json()
    contact = api.get(f"/contacts/{world['contact']['uuid']}").json()
    invoice = api.get(f"/invoices/{world['invoice']['uuid']}").json()
    for body, keys in (
        (world["data_source"], DATA_SOURCE_KEYS),
        (world["plan"], PLAN_KEYS),
        (world["customer"], CUSTOMER_KEYS),
        (customer, CUSTOMER_KEYS),
        (contact, CONTACT_KEYS),
        (world["invoice"], INVOICE_KEYS),
        (invoice, INVOICE_KEYS | {"customer_uuid"}),
        (invoice["line_items"][0], LINE_ITEM_KEYS),
        (invoice["transactions"][0], TRANSACTION_KEYS),
        (world["event"], EVENT_KEYS),
    ):
        assert keys <= set(body), sorted(keys - set(body))
    assert set(customer["address"]) >= {"country", "state", "city", "address_zip"}
    assert set(customer["attributes"]) >= {"tags", "custom", "stripe", "clearbit"}


def test_metrics_style_objects_use_kebab_case(api: httpx.Client, world: dict[str, Any]) -> None:
    """Activities and customer subscriptions carry their documented kebab-case keys."""
    activity = _invoiced_activity(api)
    assert set(activity) >= ACTIVITY_KEYS, sorted(ACTIVITY_KEYS - set(activity))
    subscription = _invoiced_subscription(api, world["customer"]["uuid"])
    assert set(subscription) >= SUBSCRIPTION_KEYS, sorted(SUBSCRIPTION_KEYS - set(subscription))
    metrics = api.get(
        "/metrics/mrr", params={"start-date": "2024-01-01", "end-date": "2024-01-31"}
    ).json()
    assert set(metrics) == {"entries", "summary"}
    assert set(metrics["summary"]) >= {"current", "previous", "percentage-change"}
    assert {"date", "mrr", "percentage-change", "mrr-new-business"} <= set(metrics["entries"][-1])


def test_timestamp_formats_per_endpoint(api: httpx.Client, world: dict[str, Any]) -> None:
    """Each object family writes times in the format recorded from the real API."""
    customer = api.get(f"/customers/{world['customer']['uuid']}").json()
    invoice = world["invoice"]
    item, payment = invoice["line_items"][0], invoice["transactions"][0]
    assert MILLIS_Z.match(world["data_source"]["created_at"])
    assert MILLIS_Z.match(customer["lead_created_at"])
    assert OFFSET.match(customer["customer-since"])
    for value in (invoice["date"], invoice["due_date"], item["service_period_start"]):
        assert MILLIS_Z.match(value), value
    assert MILLIS_Z.match(payment["date"])
    assert SECONDS_Z.match(world["event"]["event_date"])
    assert OFFSET.match(_invoiced_activity(api)["date"])
    subscription = _invoiced_subscription(api, customer["uuid"])
    assert OFFSET.match(subscription["start-date"])
    metrics = api.get(
        "/metrics/customer-count",
        params={"start-date": "2024-01-01", "end-date": "2024-01-31", "interval": "month"},
    ).json()
    assert [entry["date"] for entry in metrics["entries"]] == ["2024-01-31"]
    assert all(DAY.match(entry["date"]) for entry in metrics["entries"])

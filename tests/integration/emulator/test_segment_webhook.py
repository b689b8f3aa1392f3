"""The Segment "ChartMogul (Actions)" webhook receiver, driven with raw HTTP as Segment sends."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from mogulsync.emulator.server import EmulatorServer

ENVELOPE = {
    "message_id": "m-1",
    "timestamp": "2021-02-01T00:00:00.000Z",
    "sent_at": "2021-02-01T00:00:00.000Z",
}


@pytest.fixture
def ds(api: httpx.Client) -> str:
    """A fresh data source uuid."""
    return api.post("/data_sources", json={"name": "Segment"}).json()["uuid"]


class Hook:
    """Posts events to one data source's webhook URL without credentials, as Segment does."""

    def __init__(self, client: httpx.Client, url: str) -> None:
        self.client = client
        self.url = url

    def post(self, event: dict) -> httpx.Response:
        return self.client.post(self.url, json=event)


@pytest.fixture
def hook(emulator_server: EmulatorServer, ds: str) -> Iterator[Hook]:
    """The data source's webhook URL behind an unauthenticated client."""
    with httpx.Client(timeout=30) as client:
        yield Hook(client, f"{emulator_server.base_url}/webhooks/segment/{ds}")


def customers(api: httpx.Client, **params: str) -> list[dict]:
    return api.get("/customers", params=params).json()["entries"]


def contacts(api: httpx.Client, **params: str) -> list[dict]:
    return api.get("/contacts", params=params).json()["entries"]


def test_connection_test_is_accepted(hook: Hook) -> None:
    """The destination's settings test posts {} and must get a 2xx."""
    response = hook.post({})
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


def test_send_customer_creates_then_updates(hook: Hook, api: httpx.Client) -> None:
    """group_id keys the customer; later events update its fields."""
    event = {
        "type": "Send Customer",
        **ENVELOPE,
        "user_id": "u-1",
        "group_id": "acme",
        "name": "Acme",
        "email": "billing@acme.example",
        "website": "https://acme.example",
        "created_at": "2020-05-01T10:00:00.000Z",
        "address": {
            "street": "1 Main St",
            "city": "Berlin",
            "postal_code": "10115",
            "country": "DE",
        },
    }
    assert hook.post(event).json() == {"status": "ok"}
    [created] = customers(api, external_id="acme")
    assert (created["name"], created["email"], created["website_url"]) == (
        "Acme",
        "billing@acme.example",
        "https://acme.example",
    )
    assert (created["city"], created["zip"], created["country"]) == ("Berlin", "10115", "DE")
    assert created["lead_created_at"] == "2020-05-01T10:00:00.000Z"
    renamed = hook.post({**event, "name": "Acme GmbH", "address": {"city": "Munich"}})
    assert renamed.status_code == 200
    [updated] = customers(api, external_id="acme")
    assert (updated["uuid"], updated["name"], updated["city"]) == (
        created["uuid"],
        "Acme GmbH",
        "Munich",
    )


def test_send_contact_with_company(hook: Hook, api: httpx.Client) -> None:
    """company.id names (and creates) the customer; a lone name is split in two."""
    event = {
        "type": "Send Contact",
        **ENVELOPE,
        "user_id": "user-7",
        "email": "jo@acme.example",
        "name": "Jo Ann Smith",
        "title": "CTO",
        "linked_in": "https://linkedin.example/jo",
        "company": {"id": "acme", "name": "Acme"},
    }
    assert hook.post(event).status_code == 200
    [customer] = customers(api, external_id="acme")
    assert customer["name"] == "Acme"
    [contact] = contacts(api, customer_uuid=customer["uuid"])
    assert contact["external_id"] == "user-7"
    assert (contact["first_name"], contact["last_name"]) == ("Jo", "Ann Smith")
    assert (contact["title"], contact["linked_in"]) == ("CTO", "https://linkedin.example/jo")
    camel = {**event, "name": None, "firstName": "Joanna", "phone": "+49"}
    assert hook.post(camel).status_code == 200
    [again] = contacts(api, customer_uuid=customer["uuid"])
    assert (again["uuid"], again["first_name"], again["phone"]) == (
        contact["uuid"],
        "Joanna",
        "+49",
    )


def test_send_contact_without_company_gets_its_own_customer(hook: Hook, api: httpx.Client) -> None:
    """A company without id is dropped; a new contact is given a customer keyed by its id."""
    event = {
        "type": "Send Contact",
        **ENVELOPE,
        "anonymous_id": "anon-1",
        "email": "anon@example.com",
        "company": {"name": "No id Inc"},
    }
    assert hook.post(event).status_code == 200
    [customer] = customers(api, external_id="anon-1")
    assert customer["email"] == "anon@example.com"
    assert [c["external_id"] for c in contacts(api, customer_uuid=customer["uuid"])] == ["anon-1"]
    assert customers(api, external_id="No id Inc") == []


@pytest.mark.parametrize(
    ("event", "status", "message"),
    [
        (
            {"type": "Send Contact", **ENVELOPE, "email": "x@example.com"},
            422,
            "The user_id and/or anonymous_id must be present.",
        ),
        (
            {"type": "Send Contact", **ENVELOPE, "user_id": "u", "company": {"name": "n"}},
            422,
            "The event contains no information of interest to Chartmogul.",
        ),
        (
            {"type": "Send Customer", "timestamp": "2021-02-01T00:00:00Z", "group_id": "g"},
            400,
            'The "message_id" field is required.',
        ),
        (
            {"type": "Send Customer", **ENVELOPE, "user_id": "u"},
            400,
            'The "group_id" field is required.',
        ),
        (
            {"type": "Send Contact", **ENVELOPE, "timestamp": "later", "user_id": "u"},
            400,
            'The "timestamp" field must be an ISO 8601 date-time.',
        ),
        (
            {"type": "Track", **ENVELOPE},
            400,
            'Unsupported type \'Track\': expected "Send Customer" or "Send Contact".',
        ),
    ],
)
def test_invalid_events_are_rejected(
    hook: Hook, api: httpx.Client, event: dict, status: int, message: str
) -> None:
    """Events breaking the destination's rules get a clear message and change nothing."""
    response = hook.post(event)
    assert (response.status_code, response.json()) == (status, {"message": message})
    assert customers(api) == []
    assert contacts(api) == []


def test_field_errors_and_unknown_data_source(hook: Hook, emulator_server: EmulatorServer) -> None:
    """Bad field values are the customer 422s; an unknown data source is 404."""
    event = {
        "type": "Send Customer",
        **ENVELOPE,
        "user_id": "u",
        "group_id": "g",
        "address": {"country": "Narnia"},
    }
    bad = hook.post(event)
    assert bad.status_code == 422
    assert "country" in bad.json()["errors"]
    unknown = httpx.post(
        f"{emulator_server.base_url}/webhooks/segment/ds_00000000-0000-0000-0000-000000000000",
        json=event,
        timeout=30,
    )
    assert (unknown.status_code, unknown.json()["error"]) == (404, "Data source not found")

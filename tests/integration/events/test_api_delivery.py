"""API delivery through our client against the emulator on loopback."""

from __future__ import annotations

import json

import httpx
import pytest

from mogulsync.config.events import DeliveryConfig

from .conftest import Harness, call, calls, entries


@pytest.mark.anyio
async def test_group_and_identify_become_customer_contact_and_typed_attributes(
    harness: Harness, api: httpx.Client
) -> None:
    """group → customer with typed custom attributes; identify → its contact; audiences → Booleans."""
    await harness.send(
        {
            "type": "group",
            "userId": "u1",
            "groupId": "acme",
            "traits": {
                "name": "Acme",
                "seats": 12,
                "plan": "pro",
                "renewal": "2025-01-01T00:00:00Z",
                "address": {"city": "Berlin", "country": "DE"},
            },
        },
        {
            "type": "identify",
            "userId": "u1",
            "traits": {
                "firstName": "Ada",
                "lastName": "Lovelace",
                "email": "ada@acme.io",
                "title": "CTO",
                "company": {"id": "acme"},
                "beta_program": True,
            },
        },
    )
    assert await harness.forwarder.drain(max_wait_s=10) == 0
    [customer] = entries(api, "/customers", external_id="acme")
    assert (customer["name"], customer["city"], customer["country"]) == ("Acme", "Berlin", "DE")
    custom = customer["attributes"]["custom"]
    assert custom["seats"] == 12
    assert custom["plan"] == "pro"
    assert custom["beta_program"] is True
    assert custom["renewal"].startswith("2025-01-01T00:00:00")
    [contact] = entries(api, "/contacts", customer_uuid=customer["uuid"])
    assert (
        contact["external_id"],
        contact["first_name"],
        contact["last_name"],
        contact["title"],
    ) == ("u1", "Ada", "Lovelace", "CTO")
    assert harness.queue.counts()["delivered"] == 2


@pytest.mark.anyio
async def test_contact_without_company_gets_its_own_customer_and_is_updated_in_place(
    harness: Harness, api: httpx.Client
) -> None:
    """A new person without a company gets a customer keyed by their id; later identifies update them."""
    await harness.send(
        {"type": "identify", "userId": "solo", "traits": {"name": "Bob Smith", "email": "bob@x.io"}}
    )
    await harness.forwarder.drain(max_wait_s=10)
    await harness.send({"type": "identify", "userId": "solo", "traits": {"phone": "+49 1"}})
    await harness.forwarder.drain(max_wait_s=10)
    [customer] = entries(api, "/customers", external_id="solo")
    assert (customer["name"], customer["email"]) == ("Bob Smith", "bob@x.io")
    [contact] = entries(api, "/contacts", customer_uuid=customer["uuid"])
    assert (contact["first_name"], contact["last_name"], contact["phone"]) == (
        "Bob",
        "Smith",
        "+49 1",
    )


@pytest.mark.anyio
async def test_a_burst_for_one_contact_coalesces_into_few_api_calls(
    harness: Harness, api: httpx.Client, admin: httpx.Client
) -> None:
    """Twenty pending identifies of one person cost a handful of calls and the last values win."""
    await harness.send({"type": "identify", "userId": "u9", "traits": {"email": "u9@x.io"}})
    await harness.forwarder.drain(max_wait_s=10)
    call(admin, "DELETE", "/stats")
    await harness.send(
        *(
            {"type": "identify", "userId": "u9", "traits": {"title": f"title {n}"}}
            for n in range(20)
        )
    )
    await harness.forwarder.drain(max_wait_s=10)
    assert calls(admin) == 1  # one PATCH: the contact's uuid is remembered
    [contact] = entries(api, "/contacts", email="u9@x.io")
    assert contact["title"] == "title 19"


@pytest.mark.anyio
async def test_server_errors_are_retried_by_the_forwarder(
    harness: Harness, api: httpx.Client, admin: httpx.Client
) -> None:
    """When ChartMogul keeps failing the events stay pending, and go through once it recovers."""
    await harness.send({"type": "group", "userId": "u", "groupId": "g1", "traits": {"name": "G"}})
    call(admin, "PUT", "/faults", json={"error_rate": 1.0})
    await harness.forwarder.run_once()
    pending = harness.queue.get("m1")
    assert pending is not None
    assert (pending.status, pending.attempts) == ("pending", 1)
    assert "Server" in (pending.reason or "")
    call(admin, "DELETE", "/faults")
    harness.forwarder.settings = DeliveryConfig(coalesce_window_s=0, retry_initial_s=0.001)
    assert await harness.forwarder.drain(max_wait_s=10) == 0
    assert [c["name"] for c in entries(api, "/customers", external_id="g1")] == ["G"]


@pytest.mark.anyio
async def test_refused_data_goes_to_dead_letters_and_replays(
    harness: Harness, api: httpx.Client
) -> None:
    """A 422 from ChartMogul dead-letters the event with its reason; a replay sends it again."""
    await harness.send(
        {
            "type": "group",
            "userId": "u",
            "groupId": "bad",
            "traits": {"address": {"country": "Narnia"}},
        }
    )
    await harness.forwarder.drain(max_wait_s=10)
    [dead] = harness.queue.by_status("dead")
    assert "ValidationError" in (dead.reason or "")
    assert json.loads(dead.body)["groupId"] == "bad"
    assert harness.queue.replay() == 1
    assert harness.queue.counts()["pending"] == 1


@pytest.mark.anyio
async def test_a_customer_deleted_in_chartmogul_is_created_again(
    harness: Harness, api: httpx.Client
) -> None:
    """A remembered uuid that no longer exists is resolved afresh instead of failing."""
    await harness.send(
        {"type": "group", "userId": "u", "groupId": "gone", "traits": {"name": "Before"}}
    )
    await harness.forwarder.drain(max_wait_s=10)
    [customer] = entries(api, "/customers", external_id="gone")
    assert call(api, "DELETE", f"/customers/{customer['uuid']}").status_code == 204
    await harness.send(
        {"type": "group", "userId": "u", "groupId": "gone", "traits": {"name": "After"}}
    )
    await harness.forwarder.drain(max_wait_s=10)
    assert [c["name"] for c in entries(api, "/customers", external_id="gone")] == ["After"]

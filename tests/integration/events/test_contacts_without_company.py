"""`contacts_without_company: skip`: ChartMogul's "create a company when the user is added
to a company" — a person no company names is not imported; once one does, they are."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from mogulsync.chartmogul import ChartMogulClient, ClientSettings
from mogulsync.config import parse_config
from mogulsync.config.events import DeliveryConfig
from mogulsync.emulator.server import EmulatorServer
from mogulsync.errors import ConfigError
from mogulsync.events.delivery_api import NOT_LINKED, ApiDelivery
from mogulsync.events.forwarder import Forwarder
from mogulsync.events.mappings import DEFAULT_MAPPINGS
from mogulsync.events.queue import EventQueue

from .conftest import Harness, call, entries


@pytest.fixture
async def linked_only(emulator_server: EmulatorServer, tmp_path: Path) -> AsyncIterator[Harness]:
    path = tmp_path / "events.sqlite"
    queue = EventQueue(path)
    settings = ClientSettings(
        api_key=SecretStr(emulator_server.api_key),
        base_url=emulator_server.base_url,
        rate_limit=10_000,
    )
    delivery = ApiDelivery(
        ChartMogulClient(settings), queue, "Segment", contacts_without_company="skip"
    )
    forwarder = Forwarder(
        queue, delivery, DEFAULT_MAPPINGS, DeliveryConfig(coalesce_window_s=0, max_attempts=3)
    )
    yield Harness(path, forwarder, queue)
    await delivery.aclose()


@pytest.mark.anyio
async def test_a_person_without_a_company_waits_until_a_company_names_them(
    linked_only: Harness, api: httpx.Client, admin: httpx.Client
) -> None:
    """Skipped (no customer, no contact, no write) until linked; then created and updated."""
    await linked_only.send(
        {"type": "identify", "userId": "ada", "traits": {"name": "Ada L", "email": "ada@x.io"}},
        {"type": "identify", "userId": "ada", "traits": {"beta_tester": True}},
    )
    assert await linked_only.forwarder.drain(max_wait_s=10) == 0
    # nothing written but the data source: deciding took lookups only
    endpoints = call(admin, "GET", "/stats").json()["by_endpoint"]
    writes = {name for name in endpoints if not name.startswith("GET ")}
    assert writes <= {"POST /v1/data_sources"}
    assert linked_only.queue.counts()["skipped"] == 2
    assert entries(api, "/customers") == []
    assert entries(api, "/contacts") == []
    assert {event.reason for event in linked_only.queue.by_status("skipped")} == {NOT_LINKED}

    await linked_only.send(
        {
            "type": "identify",
            "userId": "ada",
            "traits": {"email": "ada@x.io", "firstName": "Ada", "company": {"id": "acme"}},
        }
    )
    await linked_only.forwarder.drain(max_wait_s=10)
    [acme] = entries(api, "/customers")
    assert acme["external_id"] == "acme"
    [contact] = entries(api, "/contacts", customer_uuid=acme["uuid"])
    assert (contact["external_id"], contact["first_name"]) == ("ada", "Ada")

    # imported now: a later identify without a company updates the contact
    await linked_only.send({"type": "identify", "userId": "ada", "traits": {"phone": "+49 1"}})
    await linked_only.forwarder.drain(max_wait_s=10)
    [contact] = entries(api, "/contacts", customer_uuid=acme["uuid"])
    assert contact["phone"] == "+49 1"
    assert len(entries(api, "/customers")) == 1  # no customer of her own
    assert linked_only.queue.counts()["delivered"] == 2


@pytest.mark.anyio
async def test_by_default_a_person_without_a_company_gets_a_customer_of_their_own(
    harness: Harness, api: httpx.Client
) -> None:
    """`own_customer` (the default) keeps ChartMogul's "when the user is created"."""
    await harness.send({"type": "identify", "userId": "bob", "traits": {"email": "bob@x.io"}})
    await harness.forwarder.drain(max_wait_s=10)
    assert [c["external_id"] for c in entries(api, "/customers")] == ["bob"]


def test_webhook_delivery_refuses_the_setting(tmp_path: Path) -> None:
    """In webhook mode ChartMogul's source decides: the key would do nothing, so it is refused."""
    raw = {
        "chartmogul": {"api_key": "${K}"},
        "state_dir": str(tmp_path),
        "events": {
            "write_keys": ["${W}"],
            "delivery": "webhook",
            "webhook_url": "${U}",
            "contacts_without_company": "skip",
        },
    }
    with pytest.raises(ConfigError, match="contacts_without_company applies to api delivery"):
        parse_config(raw, env={"K": "k", "W": "w" * 16, "U": "https://example.invalid/hook"})

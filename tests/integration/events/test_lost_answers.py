"""The events forwarder's writes with one answer lost after ChartMogul applied them.

The emulator commits the write, then resets the connection or answers a gateway's 502/504.
The client's retry resolves it (``retried``), or, with a single attempt per call, the
forwarder's next round does, its events in flight (``next_round``). Either way: one
customer per company, one contact per person under the right customer, every value
written, every event delivered, none dead.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import stamina
from pydantic import SecretStr

from mogulsync.chartmogul import ChartMogulClient, ClientSettings
from mogulsync.config.events import DeliveryConfig
from mogulsync.emulator.server import EmulatorServer
from mogulsync.emulator.settings import ScriptedFault
from mogulsync.events.delivery_api import ApiDelivery
from mogulsync.events.forwarder import Forwarder
from mogulsync.events.mappings import DEFAULT_MAPPINGS
from mogulsync.events.queue import EventQueue, GroupCommitWriter
from mogulsync.events.schema import normalize

from .conftest import entries

pytestmark = pytest.mark.anyio

FAULTS = [
    pytest.param({"fault": "lost_response"}, id="reset"),
    pytest.param({"fault": "error_after_write", "status": 502}, id="502"),
    pytest.param({"fault": "error_after_write", "status": 504}, id="504"),
]
MODES = ["retried", "next_round"]
ACME = {"type": "group", "userId": "ada", "groupId": "acme", "traits": {"name": "Acme"}}
ADA = {
    "type": "identify",
    "userId": "ada",
    "traits": {"email": "ada@acme.io", "first_name": "Ada", "company": {"id": "acme"}},
}
LONE = {"type": "identify", "userId": "lin", "traits": {"email": "lin@x.io", "first_name": "Lin"}}


class Clock:
    """The forwarder's clock: moves only when told (and a little on every read, so a
    drain that never empties still ends)."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        self.now += 0.001
        return self.now


class World:
    def __init__(self, server: EmulatorServer, path: Path, forwarder: Forwarder) -> None:
        self.server = server
        self.path = path
        self.forwarder = forwarder
        self.queue = forwarder.queue
        self.clock = Clock()
        forwarder._clock = self.clock
        self.api = httpx.Client(
            base_url=f"{server.base_url}/v1", auth=(server.api_key, ""), timeout=30
        )
        self.sent = 0

    async def send(self, *messages: dict[str, Any]) -> None:
        events = []
        for message in messages:
            self.sent += 1
            message = {"messageId": f"m{self.sent}", **message}
            events.append(normalize(message, received_at=dt.datetime.now(dt.UTC)))
        writer = GroupCommitWriter(self.path)
        try:
            await writer.append(events)
        finally:
            writer.close()

    def script(self, fault: dict[str, Any], method: str, pattern: str) -> None:
        scripted = ScriptedFault.model_validate(
            {**fault, "method": method, "path_pattern": pattern}
        )
        self.server.emulator.faults.faults.script.append(scripted)

    async def deliver(self, mode: str) -> None:
        """Deliver what is pending with the scripted fault; every event ends delivered."""
        if mode == "next_round":
            with stamina.set_testing(True, attempts=1):  # one attempt: the call fails
                await self.forwarder.run_once()
            assert self.queue.counts()["delivered"] < self.sent, "the round was cut short"
            self.clock.now += 3600  # its retry is due
        with stamina.set_testing(True, attempts=3):
            assert await self.forwarder.drain(max_wait_s=600) == 0
        assert self.server.emulator.faults.injected, "the fault was met"
        counts = self.queue.counts()
        assert (counts["delivered"], counts["dead"]) == (self.sent, 0), counts

    def customers(self, external_id: str) -> list[dict[str, Any]]:
        return entries(self.api, "/customers", external_id=external_id)

    def contacts(self) -> list[dict[str, Any]]:
        return entries(self.api, "/contacts")


@pytest.fixture
async def world(emulator_server: EmulatorServer, tmp_path: Path) -> AsyncIterator[World]:
    path = tmp_path / "events.sqlite"
    queue = EventQueue(path)
    settings = ClientSettings(
        api_key=SecretStr(emulator_server.api_key),
        base_url=emulator_server.base_url,
        rate_limit=10_000,
    )
    delivery = ApiDelivery(ChartMogulClient(settings), queue, "Segment")
    config = DeliveryConfig(coalesce_window_s=0, max_attempts=5)
    forwarder = Forwarder(queue, delivery, DEFAULT_MAPPINGS, config)
    world = World(emulator_server, path, forwarder)
    try:
        yield world
    finally:
        world.api.close()
        await delivery.aclose()


async def _ready(world: World, *messages: dict[str, Any]) -> None:
    await world.send(*messages)
    with stamina.set_testing(True, attempts=3):
        assert await world.forwarder.drain(max_wait_s=600) == 0
    world.server.emulator.faults.injected.clear()


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("fault", FAULTS)
async def test_group_creates_its_customer_once(world: World, fault: dict[str, Any], mode: str):
    await _ready(world, LONE)  # the data source exists: the fault hits the customer
    world.script(fault, "POST", "^/v1/customers$")
    await world.send({**ACME, "traits": {"name": "Acme", "seats": 3}})
    await world.deliver(mode)
    [customer] = world.customers("acme")
    assert (customer["name"], customer["attributes"]["custom"]) == ("Acme", {"seats": 3})


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize(
    ("method", "pattern"),
    [("POST", "^/v1/customers$"), ("POST", "^/v1/contacts$")],
    ids=["company", "contact"],
)
async def test_identify_creates_its_company_and_contact_once(
    world: World, fault: dict[str, Any], mode: str, method: str, pattern: str
):
    await _ready(world, LONE)
    world.script(fault, method, pattern)
    await world.send(ADA)
    await world.deliver(mode)
    [acme] = world.customers("acme")
    ada = [c for c in world.contacts() if c["external_id"] == "ada"]
    assert [(c["customer_uuid"], c["first_name"]) for c in ada] == [(acme["uuid"], "Ada")]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize(
    ("method", "pattern"),
    [("POST", "^/v1/customers$"), ("POST", "^/v1/contacts$")],
    ids=["own-customer", "contact"],
)
async def test_identify_without_company_creates_its_own_customer_once(
    world: World, fault: dict[str, Any], mode: str, method: str, pattern: str
):
    await _ready(world, ACME)
    world.script(fault, method, pattern)
    await world.send(LONE)
    await world.deliver(mode)
    [own] = world.customers("lin")
    [lin] = [c for c in world.contacts() if c["external_id"] == "lin"]
    assert (lin["customer_uuid"], lin["email"]) == (own["uuid"], "lin@x.io")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize(
    ("method", "pattern", "message"),
    [
        ("PATCH", "^/v1/customers/", {**ACME, "traits": {"name": "Acme Inc"}}),
        ("POST", "/attributes/custom$", {**ACME, "traits": {"seats": 9}}),
        ("PATCH", "^/v1/contacts/", {**ADA, "traits": {**ADA["traits"], "title": "CTO"}}),
    ],
    ids=["customer", "custom-attribute", "contact"],
)
async def test_updates_land_once(
    world: World,
    fault: dict[str, Any],
    mode: str,
    method: str,
    pattern: str,
    message: dict[str, Any],
):
    await _ready(world, ACME, ADA)
    world.script(fault, method, pattern)
    await world.send(message)
    await world.deliver(mode)
    [acme] = world.customers("acme")
    [ada] = world.contacts()
    traits = message["traits"]
    if "name" in traits and message["type"] == "group":
        assert acme["name"] == "Acme Inc"
    if "seats" in traits:
        assert acme["attributes"]["custom"]["seats"] == 9
    if "title" in traits:
        assert (ada["title"], ada["customer_uuid"]) == ("CTO", acme["uuid"])


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize(
    ("method", "pattern"),
    [("POST", "^/v1/contacts$"), ("POST", "/merge/")],
    ids=["new-contact", "merge"],
)
async def test_a_contact_moving_company_is_moved_once(
    world: World, fault: dict[str, Any], mode: str, method: str, pattern: str
):
    await _ready(world, ACME, ADA)
    world.script(fault, method, pattern)
    await world.send({**ADA, "traits": {**ADA["traits"], "company": {"id": "beta"}}})
    await world.deliver(mode)
    [beta] = world.customers("beta")
    [ada] = world.contacts()
    assert (ada["external_id"], ada["customer_uuid"]) == ("ada", beta["uuid"])

"""Fixtures for event delivery tests: client retries without sleeping, an API harness."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import stamina
from pydantic import SecretStr

from mogulsync.chartmogul import ChartMogulClient, ClientSettings
from mogulsync.config.events import DeliveryConfig
from mogulsync.emulator.server import EmulatorServer
from mogulsync.events.delivery_api import ApiDelivery
from mogulsync.events.forwarder import Forwarder
from mogulsync.events.mappings import DEFAULT_MAPPINGS
from mogulsync.events.queue import EventQueue, GroupCommitWriter
from mogulsync.events.schema import normalize

#: Attempts per client call while stamina is in testing mode (no waits between them).
TEST_ATTEMPTS = 2


@pytest.fixture(autouse=True)
def _retries_without_waiting() -> Iterator[None]:
    """Client retries happen, but stamina skips the backoff sleeps."""
    with stamina.set_testing(True, attempts=TEST_ATTEMPTS, cap=True):
        yield


class Harness:
    def __init__(self, path: Path, forwarder: Forwarder, queue: EventQueue) -> None:
        self.path = path
        self.forwarder = forwarder
        self.queue = queue
        self.count = 0

    async def send(self, *messages: dict) -> None:
        events = []
        for message in messages:
            self.count += 1
            message = {"messageId": f"m{self.count}", **message}
            events.append(normalize(message, received_at=dt.datetime.now(dt.UTC)))
        writer = GroupCommitWriter(self.path)
        try:
            await writer.append(events)
        finally:
            writer.close()


@pytest.fixture
async def harness(emulator_server: EmulatorServer, tmp_path: Path) -> AsyncIterator[Harness]:
    path = tmp_path / "events.sqlite"
    queue = EventQueue(path)
    settings = ClientSettings(
        api_key=SecretStr(emulator_server.api_key),
        base_url=emulator_server.base_url,
        rate_limit=10_000,
    )
    delivery = ApiDelivery(ChartMogulClient(settings), queue, "Segment")
    forwarder = Forwarder(
        queue, delivery, DEFAULT_MAPPINGS, DeliveryConfig(coalesce_window_s=0, max_attempts=3)
    )
    yield Harness(path, forwarder, queue)
    await delivery.aclose()


def entries(api: httpx.Client, path: str, **params: str) -> list[dict]:
    return api.get(path, params=params).json()["entries"]


def calls(admin: httpx.Client) -> int:
    return admin.get("/stats").json()["requests_total"]


def call(client: httpx.Client, method: str, path: str, **kwargs) -> httpx.Response:
    """A blocking admin/API call (the emulator runs in another thread)."""
    return client.request(method, path, **kwargs)

"""The real segment-analytics-python library → our endpoint → ChartMogul (the emulator)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from segment.analytics import Client

from mogulsync.emulator.server import EmulatorServer
from mogulsync.events.queue import EventQueue
from mogulsync.events.server import EventsService

from .conftest import WRITE_KEY, entries, events_config, wait_for


def send_with_library(host: str) -> None:
    """identify/group one at a time (sync mode, gzip), then a batch of 30 via the queue."""
    errors: list[Exception] = []
    sync = Client(
        WRITE_KEY, host=host, sync_mode=True, gzip=True, on_error=lambda e, _: errors.append(e)
    )
    sync.group(
        "ada",
        "acme",
        {
            "name": "Acme Inc",
            "email": "billing@acme.io",
            "website": "https://acme.io",
            "address": {"city": "Paris", "country": "FR", "postalCode": "75001"},
        },
    )
    sync.identify(
        "ada",
        {
            "firstName": "Ada",
            "lastName": "Lovelace",
            "email": "ada@acme.io",
            "title": "CTO",
            "company": {"id": "acme", "name": "Acme Inc"},
        },
    )
    sync.identify("grace", {"name": "Grace Hopper", "email": "grace@navy.mil"})
    sync.track("ada", "Ignored Event", {"x": 1})
    batched = Client(
        WRITE_KEY, host=host, upload_size=30, gzip=False, on_error=lambda e, _: errors.append(e)
    )
    for n in range(30):
        batched.identify(
            f"user-{n}", {"email": f"user{n}@corp.io", "company": {"id": "corp", "name": "Corp"}}
        )
    batched.flush()
    batched.join()
    assert errors == []


@pytest.mark.parametrize("delivery", ["api", "webhook"])
def test_library_calls_become_customers_and_contacts(
    delivery: str, emulator_server: EmulatorServer, api: httpx.Client, tmp_path: Path
) -> None:
    """identify, group and batch calls from the Segment library land in ChartMogul."""
    webhook_url = ""
    if delivery == "webhook":
        source = api.post("/data_sources", json={"name": "Segment"}).json()["uuid"]
        webhook_url = f"{emulator_server.base_url}/webhooks/segment/{source}"
    config = events_config(emulator_server, tmp_path, delivery=delivery, webhook_url=webhook_url)
    with EventsService(config, port=0) as service:
        send_with_library(service.base_url)
        queue = EventQueue(service.path)
        wait_for(
            lambda: queue.counts()["pending"] == 0 and queue.counts()["delivered"] == 33, "delivery"
        )
        assert queue.counts()["skipped"] == 1  # the track call has no mapping
        counters = queue.counters()
    [acme] = entries(api, "/customers", external_id="acme")
    assert (acme["name"], acme["email"], acme["city"], acme["zip"]) == (
        "Acme Inc",
        "billing@acme.io",
        "Paris",
        "75001",
    )
    [ada] = entries(api, "/contacts", customer_uuid=acme["uuid"])
    assert (ada["external_id"], ada["first_name"], ada["last_name"], ada["title"]) == (
        "ada",
        "Ada",
        "Lovelace",
        "CTO",
    )
    [grace_customer] = entries(api, "/customers", external_id="grace")
    [grace] = entries(api, "/contacts", customer_uuid=grace_customer["uuid"])
    assert (grace["first_name"], grace["last_name"], grace["email"]) == (
        "Grace",
        "Hopper",
        "grace@navy.mil",
    )
    [corp] = entries(api, "/customers", external_id="corp")
    corp_contacts = entries(api, "/contacts", customer_uuid=corp["uuid"])
    assert sorted(c["external_id"] for c in corp_contacts) == sorted(f"user-{n}" for n in range(30))
    if delivery == "webhook":
        assert counters["webhook_posts"] == 33  # one POST per event
    else:
        assert counters["api_calls"] > 0


def test_integrations_object_keeps_events_from_chartmogul(
    emulator_server: EmulatorServer, api: httpx.Client, tmp_path: Path
) -> None:
    """Segment's Integrations object, set by the library or a batch envelope, is honoured."""
    config = events_config(emulator_server, tmp_path)
    errors: list[Exception] = []
    with EventsService(config, port=0) as service:
        client = Client(
            WRITE_KEY, host=service.base_url, sync_mode=True, on_error=lambda e, _: errors.append(e)
        )
        client.identify("off", {"email": "off@x.io"}, integrations={"ChartMogul": False})
        client.identify("all-off", {"email": "all@x.io"}, integrations={"All": False})
        client.identify(
            "on", {"email": "on@x.io"}, integrations={"All": False, "Chart Mogul": True}
        )
        # a batch envelope's integrations apply to messages without their own
        batch = {
            "integrations": {"All": False},
            "batch": [
                {"type": "group", "userId": "u", "groupId": "envelope-off", "traits": {}},
                {
                    "type": "group",
                    "userId": "u",
                    "groupId": "own-on",
                    "traits": {"name": "Own"},
                    "integrations": {"ChartMogul": True},
                },
            ],
        }
        answer = httpx.post(
            f"{service.base_url}/v1/batch", json=batch, auth=(WRITE_KEY, ""), timeout=30
        )
        assert answer.status_code == 200
        queue = EventQueue(service.path)
        finished = ("delivered", "skipped", "rejected", "dead")
        wait_for(lambda: sum(queue.counts()[k] for k in finished) == 5, "every event handled")
        assert (queue.counts()["delivered"], queue.counts()["skipped"]) == (2, 3)
    assert errors == []
    assert [c["external_id"] for c in entries(api, "/customers", external_id="on")] == ["on"]
    assert [c["name"] for c in entries(api, "/customers", external_id="own-on")] == ["Own"]
    for kept_away in ("off", "all-off", "envelope-off"):
        assert entries(api, "/customers", external_id=kept_away) == []
    assert [c["email"] for c in entries(api, "/contacts")] == ["on@x.io"]

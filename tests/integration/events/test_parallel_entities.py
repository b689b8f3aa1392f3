"""Entities delivered in parallel that write the same ChartMogul record.

A group's customer and a contact's company are different entities (docs/events.md:
"different entities in parallel"), yet both may create the same customer. These tests fix
the interleavings deterministically: a request hook on our client does the other entity's
write through the emulator's API at the exact point a parallel delivery could.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from mogulsync.chartmogul import RequestLogEntry
from mogulsync.events.delivery_api import ApiDelivery

from .conftest import Harness, call, entries


def _created_meanwhile(
    harness: Harness,
    api: httpx.Client,
    admin: httpx.Client,
    *,
    name: str = "acme",
    answer_lost: bool = True,
) -> Callable[[], bool]:
    """Right after our lookup finds no "acme", another entity's delivery creates it (named
    ``name``) first; our create is then refused (external id taken), and with
    ``answer_lost`` that answer is lost."""
    done = False

    def hook(entry: RequestLogEntry) -> None:
        nonlocal done
        if done or (entry.method, entry.endpoint) != ("GET", "/customers"):
            return
        done = True
        [source] = call(api, "GET", "/data_sources").json()["data_sources"]
        body = {"data_source_uuid": source["uuid"], "external_id": "acme", "name": name}
        call(api, "POST", "/customers", json=body).raise_for_status()
        if answer_lost:
            script = [{"fault": "lost_response", "method": "POST", "path_pattern": "/customers$"}]
            call(admin, "PATCH", "/faults", json={"script": script}).raise_for_status()

    delivery = harness.forwarder.delivery
    assert isinstance(delivery, ApiDelivery)
    delivery._client.add_request_hook(hook)
    return lambda: done


def _group(traits: dict[str, Any]) -> dict[str, Any]:
    return {"type": "group", "userId": "u1", "groupId": "acme", "traits": traits}


@pytest.mark.anyio
async def test_a_group_s_values_land_on_a_customer_another_entity_created_as_its_answer_was_lost(
    harness: Harness, api: httpx.Client, admin: httpx.Client
) -> None:
    """The lookup resolving the lost answer finds the other entity's customer, which holds
    none of the group's values: they are written to it (before the fix, the group was
    marked delivered with its name and attributes never written)."""
    happened = _created_meanwhile(harness, api, admin)
    await harness.send(_group({"name": "Acme", "seats": 3}))
    assert await harness.forwarder.drain(max_wait_s=10) == 0
    assert happened()
    [customer] = entries(api, "/customers", external_id="acme")
    assert (customer["name"], customer["attributes"]["custom"]) == ("Acme", {"seats": 3})
    assert harness.queue.counts()["delivered"] == 1


@pytest.mark.anyio
async def test_a_group_chartmogul_refuses_is_a_dead_letter_even_when_another_entity_created_it(
    harness: Harness, api: httpx.Client, admin: httpx.Client
) -> None:
    """The same interleaving with a country ChartMogul refuses: a dead letter naming the
    field (before the fix: "delivered", the refusal never seen)."""
    happened = _created_meanwhile(harness, api, admin)
    await harness.send(_group({"name": "Acme", "address": {"country": "Narnia"}}))
    assert await harness.forwarder.drain(max_wait_s=10) == 0
    assert happened()
    [dead] = harness.queue.by_status("dead", 10)
    assert dead.reason is not None
    assert "country" in dead.reason
    [customer] = entries(api, "/customers", external_id="acme")
    assert customer["country"] is None


@pytest.mark.anyio
@pytest.mark.parametrize("answer_lost", [False, True], ids=["refused", "answer-lost"])
async def test_a_contact_s_company_name_does_not_overwrite_a_customer_created_meanwhile(
    harness: Harness, api: httpx.Client, admin: httpx.Client, *, answer_lost: bool
) -> None:
    """An identify's ``company.name`` names the customer it creates, never an existing one
    (docs/events.md). When the group created it between the identify's lookup and its
    create, the group's name stays: delivered one after the other, in either order, the
    group's name is the one left, and before the fix the race left the identify's."""
    happened = _created_meanwhile(harness, api, admin, name="Acme Inc", answer_lost=answer_lost)
    await harness.send(
        {
            "type": "identify",
            "userId": "ada",
            "traits": {"email": "a@x.io", "company": {"id": "acme", "name": "Acme Corp"}},
        }
    )
    assert await harness.forwarder.drain(max_wait_s=10) == 0
    assert happened()
    [customer] = entries(api, "/customers", external_id="acme")
    assert customer["name"] == "Acme Inc"
    [contact] = entries(api, "/contacts")
    assert (contact["external_id"], contact["customer_uuid"]) == ("ada", customer["uuid"])

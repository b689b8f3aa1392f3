"""API delivery after a crash, contact moves and refused coalesced updates (emulator)."""

from __future__ import annotations

import httpx
import pytest

from mogulsync.events.delivery import PlannedEvent
from mogulsync.events.forwarder import plan_for
from mogulsync.events.mappings import DEFAULT_MAPPINGS

from .conftest import Harness, call, entries

ACME_GROUP = {"type": "group", "userId": "ada", "groupId": "acme", "traits": {"name": "Acme"}}
ADA = {
    "type": "identify",
    "userId": "ada",
    "traits": {"email": "ada@acme.io", "title": "CTO", "company": {"id": "acme"}, "vip": True},
}


def successes(admin: httpx.Client) -> dict[str, int]:
    """Successful writes by endpoint since the stats were reset."""
    by_endpoint = admin.get("/stats").json()["by_endpoint"]
    found = {}
    for endpoint, statuses in by_endpoint.items():
        ok = sum(n for status, n in statuses.items() if status.startswith("2"))
        if ok and not endpoint.startswith("GET"):
            found[endpoint] = ok
    return found


async def crash_after_sending(harness: Harness) -> None:
    """What a kill -9 mid-round leaves: events marked in flight, sent, never recorded."""
    pending = harness.queue.pending(10)
    harness.queue.mark_inflight([event.seq for event in pending])
    for event in harness.queue.pending(10):
        plan = plan_for(event, DEFAULT_MAPPINGS)
        assert plan.entity is not None
        await harness.forwarder.delivery.deliver(plan.entity, [PlannedEvent(event, plan)])


@pytest.mark.anyio
async def test_in_flight_events_whose_effect_landed_are_not_written_again(
    harness: Harness, api: httpx.Client, admin: httpx.Client
) -> None:
    """After a crash between sending and recording, the restart checks and writes nothing."""
    await harness.send(ACME_GROUP, ADA)
    await crash_after_sending(harness)
    harness.queue.forget("contact", "ada")  # worst case: killed before the uuid was kept
    call(admin, "DELETE", "/stats")
    assert await harness.forwarder.drain(max_wait_s=10) == 0
    assert successes(admin) == {}
    assert harness.queue.counts()["delivered"] == 2
    assert harness.queue.counters()["checked_already_applied"] >= 2
    [customer] = entries(api, "/customers", external_id="acme")
    assert customer["attributes"]["custom"]["vip"] is True
    assert [c["external_id"] for c in entries(api, "/contacts")] == ["ada"]


@pytest.mark.anyio
async def test_in_flight_events_whose_effect_did_not_land_are_written_once(
    harness: Harness, api: httpx.Client, admin: httpx.Client
) -> None:
    """Events marked in flight but never sent are delivered, each write happening once."""
    await harness.send(ADA)
    harness.queue.mark_inflight([event.seq for event in harness.queue.pending(10)])
    call(admin, "DELETE", "/stats")
    assert await harness.forwarder.drain(max_wait_s=10) == 0
    assert successes(admin) == {
        "POST /v1/data_sources": 1,  # the first delivery of all creates it
        "POST /v1/customers": 1,
        "POST /v1/contacts": 1,
        "POST /v1/customers/{id}/attributes/custom": 1,
    }
    [contact] = entries(api, "/contacts")
    assert (contact["external_id"], contact["title"]) == ("ada", "CTO")


@pytest.mark.anyio
async def test_a_contact_that_changes_company_moves_to_the_new_customer(
    harness: Harness, api: httpx.Client
) -> None:
    """identify with a new company.id: one contact, under the new customer, old values kept."""
    await harness.send(ADA)
    await harness.forwarder.drain(max_wait_s=10)
    await harness.send(
        {
            "type": "identify",
            "userId": "ada",
            "traits": {"title": "CEO", "company": {"id": "globex"}},
        }
    )
    assert await harness.forwarder.drain(max_wait_s=10) == 0
    [acme] = entries(api, "/customers", external_id="acme")
    [globex] = entries(api, "/customers", external_id="globex")
    assert entries(api, "/contacts", customer_uuid=acme["uuid"]) == []
    [ada] = entries(api, "/contacts", customer_uuid=globex["uuid"])
    assert (ada["external_id"], ada["title"], ada["email"]) == ("ada", "CEO", "ada@acme.io")
    assert len(entries(api, "/contacts")) == 1
    assert harness.queue.counters()["contacts_moved"] == 1
    assert harness.queue.entity("contact", "ada") == (ada["uuid"], globex["uuid"])


@pytest.mark.anyio
async def test_a_refused_coalesced_update_dead_letters_only_the_refused_event(
    harness: Harness, api: httpx.Client
) -> None:
    """Bisection: the events around the refused one are delivered, in order."""
    await harness.send(
        {**ACME_GROUP, "traits": {"name": "First"}},
        {**ACME_GROUP, "traits": {"address": {"country": "Narnia"}}},
        {**ACME_GROUP, "traits": {"name": "Third", "seats": 4}},
    )
    assert await harness.forwarder.drain(max_wait_s=10) == 0
    statuses = {m: getattr(harness.queue.get(m), "status", None) for m in ("m1", "m2", "m3")}
    assert statuses == {"m1": "delivered", "m2": "dead", "m3": "delivered"}
    dead = harness.queue.get("m2")
    assert dead is not None
    assert "ValidationError" in (dead.reason or "")
    [customer] = entries(api, "/customers", external_id="acme")
    assert (customer["name"], customer["attributes"]["custom"]["seats"]) == ("Third", 4)
    assert harness.queue.counters()["bisections"] >= 1


@pytest.mark.anyio
async def test_a_burst_that_moves_a_contact_keeps_audiences_on_the_company_named(
    harness: Harness, api: httpx.Client
) -> None:
    """Folded with a later move, an audience trait still lands on its event's company.

    Found by the model-based test: the burst was folded into one update whose company was
    the last one named, so acme's audience attribute was written to globex.
    """
    await harness.send(
        {"type": "identify", "userId": "ada", "traits": {"company": {"id": "acme"}, "beta": True}},
        {"type": "identify", "userId": "ada", "traits": {"company": {"id": "globex"}}},
    )
    assert await harness.forwarder.drain(max_wait_s=10) == 0
    [acme] = entries(api, "/customers", external_id="acme")
    [globex] = entries(api, "/customers", external_id="globex")
    assert acme["attributes"]["custom"] == {"beta": True}
    assert globex["attributes"]["custom"] == {}
    [ada] = entries(api, "/contacts")
    assert (ada["external_id"], ada["customer_uuid"]) == ("ada", globex["uuid"])


@pytest.mark.anyio
async def test_a_company_named_earlier_in_a_burst_becomes_a_customer(
    harness: Harness, api: httpx.Client
) -> None:
    """Folded with a later move, the first company an identify named is still created.

    Found by the model-based test: the burst went as one update naming only the last
    company, so globex, named by an accepted identify, never reached ChartMogul.
    """
    await harness.send(
        {"type": "identify", "userId": "ada", "traits": {"company": {"id": "globex"}}},
        {"type": "identify", "userId": "ada", "traits": {"company": {"id": "acme"}}},
    )
    assert await harness.forwarder.drain(max_wait_s=10) == 0
    [globex] = entries(api, "/customers", external_id="globex")
    [acme] = entries(api, "/customers", external_id="acme")
    assert entries(api, "/contacts", customer_uuid=globex["uuid"]) == []
    [ada] = entries(api, "/contacts")
    assert (ada["external_id"], ada["customer_uuid"]) == ("ada", acme["uuid"])


@pytest.mark.anyio
async def test_a_company_s_name_in_a_burst_does_not_name_the_next_company(
    harness: Harness, api: httpx.Client
) -> None:
    """Found by the model-based test once identifies named their company: a burst naming
    acme "Acme Corp", then globex without a name, created globex as "Acme Corp" (the
    folded update kept the name while its company changed)."""
    await harness.send(
        {
            "type": "identify",
            "userId": "bob",
            "traits": {"company": {"id": "acme", "name": "Acme Corp"}},
        },
        {"type": "identify", "userId": "bob", "traits": {"company": {"id": "globex"}}},
    )
    assert await harness.forwarder.drain(max_wait_s=10) == 0
    [acme] = entries(api, "/customers", external_id="acme")
    [globex] = entries(api, "/customers", external_id="globex")
    assert (acme["name"], globex["name"]) == ("Acme Corp", "globex")
    [bob] = entries(api, "/contacts")
    assert (bob["external_id"], bob["customer_uuid"]) == ("bob", globex["uuid"])


async def crash_after_sending_burst(harness: Harness) -> None:
    """As :func:`crash_after_sending`, with the entity's events sent as one burst, as the
    forwarder sends them (what the delivery sends of them)."""
    pending = harness.queue.pending(10)
    harness.queue.mark_inflight([event.seq for event in pending])
    items = [PlannedEvent(event, plan_for(event, DEFAULT_MAPPINGS)) for event in pending]
    [entity] = {item.plan.entity for item in items}
    assert entity is not None
    await harness.forwarder.delivery.deliver(entity, items)


@pytest.mark.anyio
async def test_a_move_goes_in_the_next_round_once_the_events_before_it_are_recorded(
    harness: Harness,
) -> None:
    """A burst whose later event moves the contact away from audiences folded before it:
    the first round delivers up to the move, the next one (due at once) the move."""
    await harness.send(
        {"type": "identify", "userId": "ada", "traits": {"email": "a@x.io", "beta": True}},
        {"type": "identify", "userId": "ada", "traits": {"company": {"id": "globex"}}},
    )
    assert await harness.forwarder.run_once() == 0
    assert (harness.queue.counts()["delivered"], harness.queue.counts()["pending"]) == (1, 1)
    [waiting] = harness.queue.pending(10)
    assert (waiting.attempts, waiting.next_attempt_at, waiting.inflight) == (0, 0.0, False)
    assert await harness.forwarder.run_once() == 0
    assert (harness.queue.counts()["delivered"], harness.queue.counts()["pending"]) == (2, 0)


@pytest.mark.anyio
async def test_a_redelivered_burst_keeps_a_company_less_audience_off_the_company_moved_to(
    harness: Harness, api: httpx.Client
) -> None:
    """Found by the model-based test (seed 11, concurrency 8): an anonymous person's
    audience trait (no company: it belongs to their own customer) and, in the same burst,
    a move to globex. Sent together and redelivered after a crash, the check found the
    contact already under globex and wrote the trait there too."""
    await harness.send(
        {"type": "identify", "anonymousId": "anon-1", "traits": {"email": "b@x.io", "beta": True}},
        {"type": "identify", "anonymousId": "anon-1", "traits": {"company": {"id": "globex"}}},
    )
    await crash_after_sending_burst(harness)
    assert await harness.forwarder.drain(max_wait_s=10) == 0
    [own] = entries(api, "/customers", external_id="anon-1")
    [globex] = entries(api, "/customers", external_id="globex")
    assert (own["attributes"]["custom"], globex["attributes"]["custom"]) == ({"beta": True}, {})
    [contact] = entries(api, "/contacts")
    assert (contact["external_id"], contact["customer_uuid"]) == ("anon-1", globex["uuid"])


@pytest.mark.anyio
async def test_a_redelivered_burst_moves_its_contact_once(
    harness: Harness, api: httpx.Client, admin: httpx.Client
) -> None:
    """acme's audience trait, then a move to globex, redelivered after a crash: before the
    fix the check moved ada back to acme and then to globex again (three moves, two more
    contacts created and merged)."""
    await harness.send(
        {"type": "identify", "userId": "ada", "traits": {"company": {"id": "acme"}, "beta": True}},
        {"type": "identify", "userId": "ada", "traits": {"company": {"id": "globex"}}},
    )
    await crash_after_sending_burst(harness)
    call(admin, "DELETE", "/stats")
    assert await harness.forwarder.drain(max_wait_s=10) == 0
    assert harness.queue.counters()["contacts_moved"] == 1
    assert successes(admin) == {
        "POST /v1/customers": 1,  # globex
        "POST /v1/contacts": 1,  # ada under globex
        "POST /v1/contacts/{id}/merge/{id}": 1,
    }
    [acme] = entries(api, "/customers", external_id="acme")
    [globex] = entries(api, "/customers", external_id="globex")
    assert (acme["attributes"]["custom"], globex["attributes"]["custom"]) == ({"beta": True}, {})
    [ada] = entries(api, "/contacts")
    assert (ada["external_id"], ada["customer_uuid"]) == ("ada", globex["uuid"])

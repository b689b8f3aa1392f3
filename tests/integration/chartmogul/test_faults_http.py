"""Retries and idempotency over real HTTP, where faults are TCP resets and 5xx answers."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from collections.abc import Callable

import httpx
import pytest
import stamina
from pydantic import SecretStr

from mogulsync.chartmogul import (
    ChartMogulClient,
    ChartMogulUnreachableError,
    ClientSettings,
    CustomAttribute,
    NewContact,
    NewCustomer,
    NewCustomerAttributes,
    OutageBreaker,
    RateLimitedError,
    RequestLogEntry,
    ServerError,
    TransportError,
    ValidationError,
)
from mogulsync.emulator.server import EmulatorServer
from mogulsync.emulator.settings import EmulatorSettings, Faults, Limits, ScriptedFault
from mogulsync.testing.ports import reserved_port

pytestmark = pytest.mark.anyio

UNLIMITED = Limits(rate_limit=0, max_connections=0)
SOAK_CUSTOMERS = 60
#: enough attempts that a 25% fault rate practically never exhausts them
SOAK_ATTEMPTS = 12


async def test_lost_response_on_customer_create_over_http(
    client_settings: Callable[..., ClientSettings],
) -> None:
    """A connection reset after the write commits yields the customer once, no duplicate."""
    with EmulatorServer(EmulatorSettings(limits=UNLIMITED)) as server:
        log: list[RequestLogEntry] = []
        async with (
            ChartMogulClient(client_settings(server), request_hooks=[log.append]) as client,
            httpx.AsyncClient(base_url=f"{server.base_url}/_emulator", timeout=30) as admin,
        ):
            source = await client.data_sources.create("Warehouse")
            script = {"fault": "lost_response", "method": "POST", "path_pattern": "^/v1/customers$"}
            (await admin.post("/faults/script", json=script)).raise_for_status()
            customer = await client.customers.create(
                NewCustomer(data_source_uuid=source.uuid, external_id="c-1", name="Acme")
            )
            listed = await client.customers.list(data_source_uuid=source.uuid).collect()
            stats = (await admin.get("/stats")).json()
    assert [c.uuid for c in listed] == [customer.uuid]
    assert stats["faults_injected"] == {"lost_response": 1}
    assert stats["by_endpoint"]["POST /v1/customers"] == {"0": 1}
    assert [(e.method, e.endpoint, e.error_type) for e in log[1:3]] == [
        ("POST", "/customers", "TransportError"),
        ("GET", "/customers", None),
    ]


@pytest.mark.parametrize("lost", [True, False], ids=["answer-lost", "never-sent"])
async def test_a_write_refused_after_a_lost_answer_says_an_earlier_attempt_may_have_landed(
    client_settings: Callable[..., ClientSettings], *, lost: bool
) -> None:
    """A lost answer, then 429s for every lookup until the retries run out: the 429 that
    ends the call proves only that the last attempt did nothing, so the error says an
    earlier one may have landed (``earlier_attempt_unknown``); callers keep the write in
    doubt. A call refused from its first attempt on says nothing of the kind."""
    with EmulatorServer(EmulatorSettings(limits=UNLIMITED)) as server:
        async with ChartMogulClient(client_settings(server)) as client:
            source = await client.data_sources.create("Warehouse")
            script = server.emulator.faults.faults.script
            if lost:
                script.append(
                    ScriptedFault(fault="lost_response", method="POST", path_pattern="/customers$")
                )
            refusal = {"fault": "rate_limit", "path_pattern": "/customers$"}
            script.extend(ScriptedFault.model_validate(refusal) for _ in range(100))
            with pytest.raises(RateLimitedError) as raised:
                await client.customers.create(
                    NewCustomer(data_source_uuid=source.uuid, external_id="c-1")
                )
        landed = [row.body["external_id"] for row in server.emulator.store.iter_kind("customer")]
    assert raised.value.earlier_attempt_unknown is lost
    assert landed == (["c-1"] if lost else [])


@pytest.mark.parametrize("lost", [True, False], ids=["answer-lost", "refused-at-once"])
async def test_a_refusal_is_no_unknown_outcome(
    client_settings: Callable[..., ClientSettings], *, lost: bool
) -> None:
    """A 422 is ChartMogul's refusal: a create refused at its only attempt says nothing
    may have landed (before, any 4xx counted as an unknown outcome, so every refused write
    carried ``earlier_attempt_unknown`` and the sync kept its row in flight as if it might
    have landed). After an attempt answered 500 (its outcome unknown; the lookup finds
    nothing, the re-send is refused) the flag stays."""
    with EmulatorServer(EmulatorSettings(limits=UNLIMITED)) as server:
        async with ChartMogulClient(client_settings(server)) as client:
            source = await client.data_sources.create("Warehouse")
            # "note" is an Integer from now on: a String for it is refused (422)
            locked = [CustomAttribute(type="Integer", key="note", value=1)]
            await client.customers.create(
                NewCustomer(
                    data_source_uuid=source.uuid,
                    external_id="other",
                    attributes=NewCustomerAttributes(custom=locked),
                )
            )
            if lost:  # the first attempt is answered 500 before ChartMogul does anything
                server.emulator.faults.faults.script.append(
                    ScriptedFault(
                        fault="error", status=500, method="POST", path_pattern="/customers$"
                    )
                )
            refused = [CustomAttribute(type="String", key="note", value="text")]
            with pytest.raises(ValidationError) as raised:
                await client.customers.create(
                    NewCustomer(
                        data_source_uuid=source.uuid,
                        external_id="c-1",
                        attributes=NewCustomerAttributes(custom=refused),
                    )
                )
    assert raised.value.earlier_attempt_unknown is lost


async def test_random_faults_still_deliver_each_customer_once(
    client_settings: Callable[..., ClientSettings],
) -> None:
    """Under random 5xx, 429, resets and lost answers, 60 concurrent creates land exactly once."""
    faults = Faults(
        error_rate=0.1, rate_limit_rate=0.05, drop_rate=0.05, lost_response_rate=0.1, seed=7
    )
    with EmulatorServer(EmulatorSettings(limits=UNLIMITED, faults=faults)) as server:
        with stamina.set_testing(True, attempts=SOAK_ATTEMPTS):
            async with ChartMogulClient(client_settings(server)) as client:
                source = await client.data_sources.create("Warehouse")
                created = await asyncio.gather(
                    *(
                        client.customers.create(
                            NewCustomer(data_source_uuid=source.uuid, external_id=f"c-{n}")
                        )
                        for n in range(SOAK_CUSTOMERS)
                    )
                )
        stored = [row.body["external_id"] for row in server.emulator.store.iter_kind("customer")]
        injected = server.emulator.faults.injected
    assert sorted(stored) == sorted(f"c-{n}" for n in range(SOAK_CUSTOMERS))
    assert sorted(c.external_id or "" for c in created) == sorted(stored)
    assert injected.get("lost_response", 0) > 0
    assert injected.get("error", 0) > 0


async def test_refused_connection_is_not_sent_and_holds_no_key(
    client_settings: Callable[..., ClientSettings], caplog: pytest.LogCaptureFixture
) -> None:
    """Nothing listening: TransportError says the request was never sent; no key anywhere."""
    key = "sk_test_refused_0123456789"
    # the port stays held once the server stops (bound, not listening): a port merely freed
    # could be taken by another test's server before the client dials it
    with reserved_port() as port:
        with EmulatorServer(EmulatorSettings(limits=UNLIMITED), port=port) as server:
            settings = client_settings(server, api_key=SecretStr(key))
        caplog.set_level(logging.DEBUG)
        async with ChartMogulClient(settings) as client:  # the server is stopped by now
            with pytest.raises(TransportError) as caught:
                await client.ping()
    error = caught.value
    assert error.may_have_been_sent is False
    token = base64.b64encode(f"{key}:".encode()).decode()
    for text in (
        str(error),
        json.dumps(error.attrs(), default=str),
        repr(error.__cause__),
        caplog.text,
    ):
        assert key not in text
        assert token not in text


async def test_the_outage_breaker_ignores_a_lone_unretried_5xx_and_stops_on_an_outage(
    client_settings: Callable[..., ClientSettings],
) -> None:
    """A 500 on an unsafe create is that row's error; a dead server trips every call."""
    script = [ScriptedFault(fault="error", status=500, method="POST", path_pattern="/contacts")]
    settings = EmulatorSettings(limits=UNLIMITED, faults=Faults(script=script))
    # a held port: once stopped, nothing else can listen there (see the test above)
    with reserved_port() as port, EmulatorServer(settings, port=port) as server:
        breaker = OutageBreaker(server.base_url)
        async with ChartMogulClient(client_settings(server), breaker=breaker) as client:
            source = await client.data_sources.create("Contacts")
            customer = await client.customers.create(
                NewCustomer(data_source_uuid=source.uuid, external_id="c1", name="C")
            )
            unsafe = NewContact(customer_uuid=customer.uuid, data_source_uuid=source.uuid)
            with pytest.raises(ServerError):  # not re-sent: it could duplicate
                await client.contacts.create(unsafe)
            assert not breaker.tripped
            assert (await client.contacts.create(unsafe)).uuid
            server.stop()  # ChartMogul goes away: every retry of the next call is refused
            with pytest.raises(ChartMogulUnreachableError, match=server.base_url):
                await client.customers.get(customer.uuid)
            assert breaker.tripped

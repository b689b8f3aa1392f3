"""Every create with a natural key survives a lost response without a duplicate."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx
import pytest

from mogulsync.chartmogul import (
    ChartMogulClient,
    CustomerFields,
    NewContact,
    NewCustomer,
    NewInvoice,
    NewJsonImport,
    NewPlan,
    NewSubscriptionEvent,
    NewTransaction,
    RequestLogEntry,
)
from mogulsync.emulator.state import Emulator

pytestmark = pytest.mark.anyio

JAN = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


@dataclass
class World:
    client: ChartMogulClient
    source: str
    customer: str
    invoice: str


@pytest.fixture
async def world(client: ChartMogulClient) -> World:
    source = (await client.data_sources.create("Billing")).uuid
    customer = await client.customers.create(
        NewCustomer(data_source_uuid=source, external_id="cus-1")
    )
    invoice = await client.invoices.import_one(
        customer.uuid, NewInvoice(external_id="inv-0", date=JAN, currency="USD")
    )
    return World(client, source, customer.uuid, invoice.uuid)


async def create_invoice(w: World) -> str | None:
    created = await w.client.invoices.import_one(
        w.customer, NewInvoice(external_id="inv-1", date=JAN, currency="USD")
    )
    return created.external_id


async def create_transaction(w: World) -> str | None:
    created = await w.client.transactions.create(
        w.invoice, NewTransaction(type="payment", date=JAN, result="successful", external_id="tr-1")
    )
    return created.external_id


async def create_contact(w: World) -> str | None:
    created = await w.client.contacts.create(
        NewContact(customer_uuid=w.customer, data_source_uuid=w.source, external_id="con-1")
    )
    return created.external_id


async def create_contact_by_email(w: World) -> str | None:
    created = await w.client.contacts.create(
        NewContact(customer_uuid=w.customer, data_source_uuid=w.source, email="ann@x.test")
    )
    return created.email


async def create_plan(w: World) -> str | None:
    created = await w.client.plans.create(
        NewPlan(
            data_source_uuid=w.source,
            name="Gold",
            interval_count=1,
            interval_unit="month",
            external_id="gold",
        )
    )
    return created.external_id


async def create_event(w: World) -> str | None:
    created = await w.client.subscription_events.create(
        NewSubscriptionEvent(
            data_source_uuid=w.source,
            customer_external_id="cus-1",
            subscription_external_id="sub-1",
            plan_external_id="gold",
            event_type="subscription_start",
            event_date=JAN,
            effective_date=JAN,
            currency="USD",
            amount_in_cents=100,
            quantity=1,
            external_id="ev-1",
        )
    )
    return created.external_id


async def create_json_import(w: World) -> str | None:
    created = await w.client.json_imports.create(
        w.source,
        NewJsonImport(external_id="batch-1", customers=[CustomerFields(external_id="b-1")]),
    )
    return created.external_id


CASES: list[tuple[Callable[[World], Awaitable[str | None]], str, str, str]] = [
    (create_invoice, "^/v1/import/customers/", "invoice", "inv-1"),
    (create_transaction, "/transactions$", "transaction", "tr-1"),
    (create_contact, "^/v1/contacts$", "contact", "con-1"),
    (create_contact_by_email, "^/v1/contacts$", "contact", "ann@x.test"),
    (create_plan, "^/v1/plans$", "plan", "gold"),
    (create_event, "^/v1/subscription_events$", "subscription_event", "ev-1"),
    (create_json_import, "/json_imports$", "json_import", "batch-1"),
]


@pytest.mark.parametrize(("create", "pattern", "kind", "natural_key"), CASES)
async def test_lost_response_creates_exactly_once(
    world: World,
    emulator_admin: httpx.AsyncClient,
    emulator: Emulator,
    request_log: list[RequestLogEntry],
    create: Callable[[World], Awaitable[str | None]],
    pattern: str,
    kind: str,
    natural_key: str,
) -> None:
    """The write landed, its answer was lost: a lookup returns it, nothing is re-sent."""
    script = {"fault": "lost_response", "method": "POST", "path_pattern": pattern}
    assert (await emulator_admin.post("/faults/script", json=script)).status_code == 200
    before = len(request_log)
    assert await create(world) == natural_key
    attempts = [(entry.method, entry.status) for entry in request_log[before:]]
    assert attempts[0] == ("POST", None)
    assert [method for method, _ in attempts].count("POST") == 1
    assert emulator.faults.injected == {"lost_response": 1}
    stored = [
        row
        for row in emulator.store.iter_kind(kind)
        if natural_key in (row.body.get("external_id"), row.body.get("email"))
    ]
    assert len(stored) == 1

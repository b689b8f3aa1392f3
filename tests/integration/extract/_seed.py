"""Test data for extract tests, created through our client and the bulk JSON import.

Every paginated stream gets more than one page (> 200 records): customers, their
invoices, subscriptions and activities (one per customer, on distinct days), plans,
contacts, subscription events and plan groups. Plan groups have no client call (the
client only reads them), so they are created with plain HTTP.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass

import httpx
from pydantic import SecretStr

from mogulsync.chartmogul import (
    ChartMogulClient,
    ClientSettings,
    CustomAttribute,
    CustomerFields,
    JsonImportInvoice,
    JsonImportLineItem,
    JsonImportTransaction,
    NewContact,
    NewCustomerAttributes,
    NewJsonImport,
    PlanFields,
    SubscriptionEventFields,
)

CUSTOMERS_PER_SOURCE = 110
PLANS_PER_SOURCE = 105
PLAN_GROUPS = 201
FIRST_DAY = dt.date(2024, 1, 1)


@dataclass(frozen=True, slots=True)
class Seeded:
    """What was created (counts the extract must reproduce)."""

    data_sources: list[str]
    customers: int
    plans: int
    contacts: int
    events: int
    plan_groups: int


#: the emulator in tests has no limits; a high client limit keeps the suite fast
TEST_RATE_LIMIT = 2000.0


def client_settings(base_url: str, api_key: str) -> ClientSettings:
    """Client settings for the emulator on ``base_url``."""
    return ClientSettings(api_key=SecretStr(api_key), base_url=base_url, rate_limit=TEST_RATE_LIMIT)


def _batch(
    prefix: str, count: int, first_day: dt.date, plans: int, days_apart: int = 1
) -> NewJsonImport:
    customers, invoices, lines, payments, events = [], [], [], [], []
    for index in range(count):
        key = f"{prefix}-{index:04d}"
        day = first_day + dt.timedelta(days=index * days_apart)
        customers.append(
            CustomerFields(
                external_id=key,
                name=f"Customer {key}",
                email=f"{key}@example.com",
                attributes=NewCustomerAttributes(
                    tags=["seeded", f"cohort-{index % 3}"],
                    custom=[CustomAttribute(type="Integer", key="seats", value=index % 7 + 1)],
                ),
            )
        )
        invoices.append(
            JsonImportInvoice(
                external_id=f"inv-{key}", customer_external_id=key, date=day, currency="USD"
            )
        )
        lines.append(
            JsonImportLineItem(
                invoice_external_id=f"inv-{key}",
                external_id=f"li-{key}",
                type="subscription",
                amount_in_cents=1000 + index,
                plan_external_id=f"{prefix}-plan-{index % plans}",
                subscription_external_id=f"sub-{key}",
                service_period_start=day,
                service_period_end=day + dt.timedelta(days=30),
            )
        )
        payments.append(
            JsonImportTransaction(
                invoice_external_id=f"inv-{key}",
                external_id=f"tr-{key}",
                type="payment",
                result="successful",
                date=day,
            )
        )
        events.append(
            SubscriptionEventFields(
                external_id=f"ev-{key}",
                customer_external_id=key,
                event_type="subscription_start",
                event_date=day,
                effective_date=day,
                subscription_external_id=f"ev-sub-{key}",
                plan_external_id=f"{prefix}-plan-0",
                currency="USD",
                amount_in_cents=500,
                quantity=1,
            )
        )
    plan_rows = [
        PlanFields(
            name=f"Plan {prefix} {i}",
            external_id=f"{prefix}-plan-{i}",
            interval_count=1,
            interval_unit="month",
        )
        for i in range(plans)
    ]
    return NewJsonImport(
        external_id=f"batch-{prefix}",
        customers=customers,
        plans=plan_rows,
        invoices=invoices,
        line_items=lines,
        transactions=payments,
        subscription_events=events,
    )


async def import_customers(
    client: ChartMogulClient,
    data_source_uuid: str,
    prefix: str,
    count: int,
    first_day: dt.date,
    plans: int = PLANS_PER_SOURCE,
    days_apart: int = 1,
) -> None:
    """Bulk-import ``count`` paying customers starting on ``first_day`` (one per day, or
    per ``days_apart`` days: 0 puts them all on that day)."""
    created = await client.json_imports.create(
        data_source_uuid, _batch(prefix, count, first_day, plans, days_apart)
    )
    done = await client.json_imports.wait(data_source_uuid, created.id)
    assert done.status == "completed", done


async def _contacts(client: ChartMogulClient) -> int:
    created = 0
    async for customer in client.customers.list():
        await client.contacts.create(
            NewContact(
                customer_uuid=customer.uuid,
                data_source_uuid=customer.data_source_uuid or "",
                email=customer.email,
                first_name="Pat",
            )
        )
        created += 1
    return created


def _plan_groups(base_url: str, api_key: str, plan_uuid: str) -> None:
    with httpx.Client(base_url=f"{base_url}/v1", auth=(api_key, ""), timeout=10) as http:
        for index in range(PLAN_GROUPS):
            response = http.post(
                "/plan_groups", json={"name": f"Group {index}", "plans": [plan_uuid]}
            )
            response.raise_for_status()


async def seed(base_url: str, api_key: str) -> Seeded:
    """Two data sources full of data (see the module docstring)."""
    async with ChartMogulClient(client_settings(base_url, api_key)) as client:
        sources = [await client.data_sources.create(f"Source {n}") for n in ("A", "B")]
        for offset, (source, prefix) in enumerate(zip(sources, ("a", "b"), strict=True)):
            first = FIRST_DAY + dt.timedelta(days=offset * CUSTOMERS_PER_SOURCE)
            await import_customers(client, source.uuid, prefix, CUSTOMERS_PER_SOURCE, first)
        contacts = await _contacts(client)
        plan = (await client.plans.list().collect())[0]
    await asyncio.to_thread(_plan_groups, base_url, api_key, plan.uuid)
    return Seeded(
        data_sources=[source.uuid for source in sources],
        customers=CUSTOMERS_PER_SOURCE * len(sources),
        plans=PLANS_PER_SOURCE * len(sources),
        contacts=contacts,
        events=CUSTOMERS_PER_SOURCE * len(sources),
        plan_groups=PLAN_GROUPS,
    )

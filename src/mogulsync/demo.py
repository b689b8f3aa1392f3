"""``make demo``: start the emulator, load revenue data through the client, show MRR.

Runs end to end on a fresh machine with no credentials: an emulator on a free loopback
port (40 req/s, 20 connections, like ChartMogul), our client writing a data source, plans,
customers and a year of invoices, then the MRR, activities and metrics the emulator computed.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random

from pydantic import SecretStr
from rich.console import Console
from rich.table import Table

from mogulsync.chartmogul import (
    ChartMogulClient,
    ClientSettings,
    NewCustomer,
    NewInvoice,
    NewLineItem,
    NewPlan,
    NewTransaction,
)
from mogulsync.emulator.server import EmulatorServer

CUSTOMERS = 40
MONTHS = 12
PLANS = (("Starter", 2_900), ("Growth", 9_900), ("Scale", 29_900))
START = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)


def _month(index: int) -> dt.datetime:
    year, month = divmod(START.month - 1 + index, 12)
    return START.replace(year=START.year + year, month=month + 1)


async def load(client: ChartMogulClient, console: Console) -> None:
    """Create a data source, plans, customers and monthly invoices through the client."""
    rng = random.Random(7)
    source = await client.data_sources.create("Demo billing")
    plans = [
        await client.plans.create(
            NewPlan(
                data_source_uuid=source.uuid,
                name=name,
                interval_count=1,
                interval_unit="month",
                external_id=name.lower(),
            )
        )
        for name, _ in PLANS
    ]

    async def one_customer(number: int) -> None:
        customer = await client.customers.create(
            NewCustomer(
                data_source_uuid=source.uuid,
                external_id=f"cus-{number:03d}",
                name=f"Customer {number:03d}",
                email=f"billing+{number}@example.com",
                country=rng.choice(["US", "GB", "DE", "FR"]),
            )
        )
        tier = rng.randrange(len(PLANS))
        first, last = rng.randrange(0, 6), rng.randrange(6, MONTHS + 1)
        invoices = []
        for month in range(first, last):
            if month > first and rng.random() < 0.15:  # some customers change plan
                tier = max(0, min(len(PLANS) - 1, tier + rng.choice([-1, 1])))
            start = _month(month)
            invoices.append(
                NewInvoice(
                    external_id=f"inv-{number:03d}-{month:02d}",
                    date=start,
                    currency="USD",
                    line_items=[
                        NewLineItem(
                            type="subscription",
                            subscription_external_id=f"sub-{number:03d}",
                            plan_uuid=plans[tier].uuid,
                            service_period_start=start,
                            service_period_end=_month(month + 1),
                            amount_in_cents=PLANS[tier][1],
                        )
                    ],
                    transactions=[NewTransaction(type="payment", date=start, result="successful")],
                )
            )
        if not invoices:
            return
        await client.invoices.import_for_customer(customer.uuid, invoices)
        if last < MONTHS:  # the customer stopped paying: cancel, so ChartMogul churns them
            async for subscription in client.subscriptions.list_imported(customer.uuid):
                await client.subscriptions.cancel(subscription.uuid, _month(last))

    # Concurrency is bounded by the client's account limiter (40 req/s, 20 in flight).
    await asyncio.gather(*(one_customer(n) for n in range(1, CUSTOMERS + 1)))
    console.print(f"Loaded {CUSTOMERS} customers and {len(PLANS)} plans into {source.name}.")


async def report(client: ChartMogulClient, console: Console) -> None:
    """Print the MRR series, latest activities and current customers."""
    end = _month(MONTHS).date()
    mrr = await client.metrics.mrr(START.date(), end, interval="month")
    table = Table(title="MRR by month (emulator's MRR engine)")
    for column in ("month", "MRR", "new business", "expansion", "contraction", "churn"):
        table.add_column(column, justify="right")
    for entry in mrr.entries:
        table.add_row(
            str(entry.date),
            f"${(entry.mrr or 0) / 100:,.2f}",
            *(f"${(entry.value(k) or 0) / 100:,.2f}" for k in (
                "mrr-new-business", "mrr-expansion", "mrr-contraction", "mrr-churn"
            )),
        )  # fmt: skip
    console.print(table)
    activities = Table(title="Latest activities")
    for column in ("date", "customer", "type", "MRR movement"):
        activities.add_column(column)
    shown = 0
    async for activity in client.activities.list(order="-date"):
        activities.add_row(
            activity.date.date().isoformat() if activity.date else "",
            activity.customer_name or "",
            activity.type or "",
            f"${(activity.activity_mrr_movement or 0) / 100:,.2f}",
        )
        shown += 1
        if shown == 10:
            break
    console.print(activities)


async def main_async(server: EmulatorServer, console: Console) -> None:
    """Load and report against a running emulator."""
    settings = ClientSettings(api_key=SecretStr(server.api_key), base_url=server.base_url)
    async with ChartMogulClient(settings) as client:
        await load(client, console)
        await report(client, console)
    stats = server.emulator.stats.snapshot(server.emulator.faults.injected)
    console.print(
        f"API calls: {stats['requests_total']}, 429s: {stats['rate_limited_429']},"
        f" peak concurrency: {stats['peak_concurrency']}"
    )


def main() -> None:
    """Entry point of ``make demo``."""
    console = Console()
    with EmulatorServer() as server:
        console.print(f"Emulator running at {server.base_url}/v1 (key {server.api_key})")
        asyncio.run(main_async(server, console))


if __name__ == "__main__":
    main()

"""Plans, invoices, transactions, subscriptions, events, bulk imports, activities, metrics."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import httpx
import pytest

from mogulsync.chartmogul import (
    ChartMogulClient,
    CustomerFields,
    JsonImportInvoice,
    JsonImportLineItem,
    JsonImportTimeoutError,
    NewCustomer,
    NewInvoice,
    NewJsonImport,
    NewLineItem,
    NewPlan,
    NewSubscriptionEvent,
    NewTransaction,
    PlanFields,
    PlanUpdate,
    SubscriptionEventUpdate,
)
from mogulsync.emulator.app import EmulatorApp, create_app
from mogulsync.emulator.settings import DEFAULT_API_KEY, EmulatorSettings, Limits
from mogulsync.emulator.state import Emulator
from mogulsync.emulator.transport import in_process_transport

pytestmark = pytest.mark.anyio

JAN = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
FEB = dt.datetime(2026, 2, 1, tzinfo=dt.UTC)


@dataclass
class Account:
    source: str
    customer: str
    plan: str


@pytest.fixture
async def account(client: ChartMogulClient) -> Account:
    source = (await client.data_sources.create("Billing")).uuid
    customer = await client.customers.create(
        NewCustomer(data_source_uuid=source, external_id="cus-1", name="Acme")
    )
    plan = await client.plans.create(
        NewPlan(
            data_source_uuid=source,
            name="Gold",
            interval_count=1,
            interval_unit="month",
            external_id="gold",
        )
    )
    return Account(source, customer.uuid, plan.uuid)


def invoice(account: Account, external_id: str, amount: int = 10_000) -> NewInvoice:
    return NewInvoice(
        external_id=external_id,
        date=JAN,
        currency="USD",
        line_items=[
            NewLineItem(
                type="subscription",
                amount_in_cents=amount,
                subscription_external_id="sub-1",
                plan_uuid=account.plan,
                service_period_start=JAN,
                service_period_end=FEB,
            )
        ],
        transactions=[NewTransaction(type="payment", date=JAN, result="successful")],
    )


async def test_plans(client: ChartMogulClient, account: Account) -> None:
    """Plans are listed, found by external id, updated and deleted."""
    assert [p.uuid for p in await client.plans.list(data_source_uuid=account.source).collect()] == [
        account.plan
    ]
    found = await client.plans.find_by_external_id("gold", account.source)
    assert found is not None
    assert found.uuid == account.plan
    updated = await client.plans.update(account.plan, PlanUpdate(interval_count=3))
    assert (updated.name, updated.interval_count) == ("Gold", 3)
    assert (await client.plans.get(account.plan)).interval_count == 3
    await client.plans.delete(account.plan)
    assert await client.plans.find_by_external_id("gold", account.source) is None


async def test_plan_groups(
    client: ChartMogulClient, account: Account, emulator_app: EmulatorApp
) -> None:
    """Plan groups and their plans are readable."""
    async with httpx.AsyncClient(
        transport=in_process_transport(emulator_app),
        base_url="http://emulator/v1",
        auth=(DEFAULT_API_KEY, ""),
    ) as raw:
        created = await raw.post("/plan_groups", json={"name": "Paid", "plans": [account.plan]})
    group_uuid = created.json()["uuid"]
    groups = await client.plan_groups.list().collect()
    assert [(g.uuid, g.plans_count) for g in groups] == [(group_uuid, 1)]
    assert (await client.plan_groups.get(group_uuid)).name == "Paid"
    assert [p.uuid for p in await client.plan_groups.plans(group_uuid).collect()] == [account.plan]


async def test_invoices(client: ChartMogulClient, account: Account) -> None:
    """Invoices are imported one by one or in a batch, listed, found and deleted."""
    one = await client.invoices.import_one(account.customer, invoice(account, "inv-1"))
    assert one.line_items[0].amount_in_cents == 10_000
    assert one.transactions[0].result == "successful"
    batch = await client.invoices.import_for_customer(
        account.customer, [invoice(account, "inv-2"), invoice(account, "inv-3")]
    )
    assert [i.external_id for i in batch] == ["inv-2", "inv-3"]
    all_ids = [
        i.external_id for i in await client.invoices.list(customer_uuid=account.customer).collect()
    ]
    assert sorted(all_ids) == ["inv-1", "inv-2", "inv-3"]
    assert len(await client.invoices.list_for_customer(account.customer).collect()) == 3
    found = await client.invoices.find_by_external_id("inv-2", customer_uuid=account.customer)
    assert found is not None
    assert found.uuid == batch[0].uuid
    assert (await client.invoices.get(one.uuid)).external_id == "inv-1"
    await client.invoices.delete(one.uuid)
    assert await client.invoices.find_by_external_id("inv-1") is None
    await client.invoices.delete_all_for_customer(account.source, account.customer)
    assert await client.invoices.list(customer_uuid=account.customer).collect() == []


async def test_transactions(client: ChartMogulClient, account: Account) -> None:
    """A refund is added to an existing invoice."""
    imported = await client.invoices.import_one(account.customer, invoice(account, "inv-1"))
    refund = await client.transactions.create(
        imported.uuid,
        NewTransaction(
            type="refund", date=FEB, result="successful", external_id="ref-1", amount_in_cents=500
        ),
    )
    assert (refund.type, refund.external_id, refund.amount_in_cents) == ("refund", "ref-1", 500)
    transactions = (await client.invoices.get(imported.uuid)).transactions
    assert [t.type for t in transactions] == ["payment", "refund"]


async def test_subscriptions(client: ChartMogulClient, account: Account) -> None:
    """An imported subscription appears in both views and can be cancelled."""
    await client.invoices.import_one(account.customer, invoice(account, "inv-1"))
    imported = await client.subscriptions.list_imported(account.customer).collect()
    assert [s.external_id for s in imported] == ["sub-1"]
    metrics_view = await client.subscriptions.list(account.customer).collect()
    assert [s.external_id for s in metrics_view] == ["sub-1"]
    cancelled = await client.subscriptions.cancel(imported[0].uuid, FEB)
    assert cancelled.cancellation_dates == [FEB]
    cleared = await client.subscriptions.set_cancellation_dates(imported[0].uuid, [])
    assert cleared.cancellation_dates == []


async def test_subscription_events(client: ChartMogulClient, account: Account) -> None:
    """Events are created, listed, updated and deleted by id or external id."""
    event = await client.subscription_events.create(
        NewSubscriptionEvent(
            data_source_uuid=account.source,
            customer_external_id="cus-1",
            subscription_external_id="sub-9",
            plan_external_id="gold",
            event_type="subscription_start",
            event_date=JAN,
            effective_date=JAN,
            currency="USD",
            amount_in_cents=1000,
            quantity=1,
            external_id="ev-1",
        )
    )
    listed = await client.subscription_events.list(data_source_uuid=account.source).collect()
    assert [e.id for e in listed] == [event.id]
    changed = await client.subscription_events.update(
        SubscriptionEventUpdate(amount_in_cents=2000), event_id=event.id
    )
    assert changed.amount_in_cents == 2000
    await client.subscription_events.delete(external_id="ev-1", data_source_uuid=account.source)
    assert await client.subscription_events.list(data_source_uuid=account.source).collect() == []
    with pytest.raises(ValueError, match="event_id"):
        await client.subscription_events.delete(external_id="ev-1")


async def test_json_import_runs_to_completion(client: ChartMogulClient, emulator: Emulator) -> None:
    """A bulk import is queued, then wait() polls it until completed."""
    source = (await client.data_sources.create("Bulk")).uuid
    started = await client.json_imports.create(
        source,
        NewJsonImport(
            external_id="batch-1",
            customers=[CustomerFields(external_id="b-1", name="Bulk Co")],
            plans=[
                PlanFields(
                    name="Basic", interval_count=1, interval_unit="month", external_id="basic"
                )
            ],
            invoices=[
                JsonImportInvoice(
                    external_id="bi-1", customer_external_id="b-1", date=JAN, currency="USD"
                )
            ],
            line_items=[
                JsonImportLineItem(
                    invoice_external_id="bi-1",
                    type="subscription",
                    amount_in_cents=900,
                    plan_external_id="basic",
                    subscription_external_id="bs-1",
                    service_period_start=JAN,
                    service_period_end=FEB,
                )
            ],
        ),
    )
    assert started.status == "queued"
    finished = await client.json_imports.wait(source, started.id)
    assert finished.status == "completed"
    assert await client.customers.find_by_external_id("b-1", source) is not None


async def test_activities_and_metrics(client: ChartMogulClient, account: Account) -> None:
    """A new subscription yields a new_biz activity (both paging modes) and MRR."""
    await client.invoices.import_one(account.customer, invoice(account, "inv-1"))
    activities = await client.activities.list(start_date=dt.date(2025, 12, 1)).collect()
    assert [(a.type, a.activity_mrr) for a in activities] == [("new_biz", 10_000)]
    legacy = await client.activities.list(start_after_mode=True).collect()
    assert [a.uuid for a in legacy] == [a.uuid for a in activities]
    assert [a.type for a in await client.activities.for_customer(account.customer).collect()] == [
        "new_biz"
    ]
    mrr = await client.metrics.mrr(dt.date(2026, 1, 1), dt.date(2026, 1, 31), interval="month")
    assert mrr.entries[-1].mrr == 10_000
    assert mrr.entries[-1].value("mrr-new-business") == 10_000


#: One 10,000-cent monthly subscription from 2026-01-01, read for Q1 2026 by month: MRR,
#: customers and ARPA stay flat; ASP counts the new business of January only; nobody
#: churns, so the churn rates and LTV (ARPA / churn rate, 0 without churn) stay 0.
Q1_2026_MONTH_ENDS = [dt.date(2026, 1, 31), dt.date(2026, 2, 28), dt.date(2026, 3, 31)]
ONE_SUBSCRIPTION_SERIES: dict[str, tuple[str, list[float]]] = {
    "all": ("mrr", [10_000, 10_000, 10_000]),
    "mrr": ("mrr", [10_000, 10_000, 10_000]),
    "arr": ("arr", [120_000, 120_000, 120_000]),
    "arpa": ("arpa", [10_000, 10_000, 10_000]),
    "asp": ("asp", [10_000, 0, 0]),
    "customer_count": ("customers", [1, 1, 1]),
    "customer_churn_rate": ("customer-churn-rate", [0.0, 0.0, 0.0]),
    "mrr_churn_rate": ("mrr-churn-rate", [0.0, 0.0, 0.0]),
    "ltv": ("ltv", [0, 0, 0]),
}


@pytest.mark.parametrize("method", sorted(ONE_SUBSCRIPTION_SERIES))
async def test_every_metric_endpoint(
    client: ChartMogulClient, account: Account, method: str
) -> None:
    """Each of the nine metrics answers its own key with the values one subscription gives."""
    await client.invoices.import_one(account.customer, invoice(account, "inv-1"))
    response = await getattr(client.metrics, method)(
        dt.date(2026, 1, 1), dt.date(2026, 3, 31), interval="month"
    )
    key, expected = ONE_SUBSCRIPTION_SERIES[method]
    assert [entry.date for entry in response.entries] == Q1_2026_MONTH_ENDS
    assert [entry.value(key) for entry in response.entries] == expected


async def test_ping_and_account(client: ChartMogulClient) -> None:
    """Ping answers pong; the account has its currency and optional settings."""
    assert await client.ping() is True
    account = await client.account(include=["churn_recognition"])
    assert account.currency == "USD"
    assert (account.model_extra or {}).get("churn_recognition") == "immediate"


async def test_json_import_wait_is_bounded(make_settings) -> None:
    """wait() gives up with JsonImportTimeoutError when an import stays in progress."""
    app = create_app(
        EmulatorSettings(limits=Limits(rate_limit=0, max_connections=0), json_import_step_s=30)
    )
    async with ChartMogulClient(make_settings(), transport=in_process_transport(app)) as client:
        source = (await client.data_sources.create("Slow")).uuid
        started = await client.json_imports.create(
            source, NewJsonImport(customers=[CustomerFields(external_id="s-1")])
        )
        with pytest.raises(JsonImportTimeoutError) as caught:
            await client.json_imports.wait(source, started.id, timeout_s=0.05)
    assert caught.value.last_status in {"queued", "processing"}

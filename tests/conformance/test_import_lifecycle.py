"""The official client through the import API: sources, plans, customers, contacts, invoices."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import chartmogul
from tests.conformance._support import (
    GOLD_CENTS,
    api_failure,
    assert_not_found,
    create_customer,
    create_plan,
    subscription_invoice,
)


def test_ping_and_account(cm: chartmogul.Config) -> None:
    """Ping answers pong; the account shows its currency and requested settings."""
    assert chartmogul.Ping.ping(cm).get().data == "pong!"
    account = chartmogul.Account.retrieve(cm).get()
    assert account.id.startswith("acc_")
    assert account.currency == "USD"
    assert account.week_start_on in {"monday", "sunday"}
    with_settings = chartmogul.Account.retrieve(cm, include="churn_recognition").get()
    assert isinstance(with_settings.churn_recognition, str)


def test_data_source_lifecycle(cm: chartmogul.Config) -> None:
    """Data sources are created, found by name, flagged, deleted, then unknown."""
    created = chartmogul.DataSource.create(cm, data={"name": "In-house billing"}).get()
    assert created.uuid.startswith("ds_")
    assert (created.name, created.system, created.status) == ("In-house billing", "Custom", "idle")
    assert created.created_at.tzinfo is not None
    chartmogul.DataSource.create(cm, data={"name": "Other"}).get()

    fetched = chartmogul.DataSource.retrieve(cm, uuid=created.uuid).get()
    assert (fetched.uuid, fetched.name) == (created.uuid, created.name)
    listed = chartmogul.DataSource.all(cm, name="In-house billing").get()
    assert [source.uuid for source in listed.data_sources] == [created.uuid]
    flagged = chartmogul.DataSource.all(cm, with_processing_status=True).get()
    assert all(source.processing_status is not None for source in flagged.data_sources)
    assert len(flagged.data_sources) == 2
    churn_setting = chartmogul.DataSource.retrieve(
        cm, uuid=created.uuid, with_auto_churn_subscription_setting=True
    ).get()
    assert isinstance(churn_setting.auto_churn_subscription_setting.enabled, bool)
    handling = chartmogul.DataSource.retrieve(
        cm, uuid=created.uuid, with_invoice_handling_setting=True
    ).get()
    assert set(handling.invoice_handling_setting) == {"manual", "automatic"}

    assert chartmogul.DataSource.destroy(cm, uuid=created.uuid).get() is None
    assert_not_found(
        api_failure(chartmogul.DataSource.retrieve(cm, uuid=created.uuid)), "Data source"
    )
    remaining = chartmogul.DataSource.all(cm).get()
    assert [source.name for source in remaining.data_sources] == ["Other"]


def test_plan_lifecycle(cm: chartmogul.Config, ds: Any) -> None:
    """Plans are created (external_id generated when absent), listed, modified, deleted."""
    gold = create_plan(
        cm, ds.uuid, external_id="gold", name="Gold", interval_count=1, interval_unit="month"
    )
    assert gold.uuid.startswith("pl_")
    assert (gold.data_source_uuid, gold.external_id, gold.interval_unit) == (
        ds.uuid,
        "gold",
        "month",
    )
    anonymous = create_plan(cm, ds.uuid, name="Yearly", interval_count=1, interval_unit="year")
    assert anonymous.external_id, "the API generates an external_id when none is given"

    found = chartmogul.Plan.all(cm, data_source_uuid=ds.uuid, external_id="gold").get()
    assert [p.uuid for p in found.plans] == [gold.uuid]
    everything = chartmogul.Plan.all(cm, data_source_uuid=ds.uuid).get()
    assert {p.uuid for p in everything.plans} == {gold.uuid, anonymous.uuid}
    assert everything.has_more is False

    # PATCH /plans answers 202, which the client turns into None.
    modified = chartmogul.Plan.modify(
        cm, uuid=gold.uuid, data={"name": "Gold Quarterly", "interval_count": 3}
    ).get()
    assert modified is None
    again = chartmogul.Plan.retrieve(cm, uuid=gold.uuid).get()
    assert (again.name, again.interval_count, again.interval_unit) == ("Gold Quarterly", 3, "month")

    assert chartmogul.Plan.destroy(cm, uuid=gold.uuid).get() is None
    gone = api_failure(chartmogul.Plan.retrieve(cm, uuid=gold.uuid))
    assert gone.status == 404


def test_customer_create_and_retrieve(cm: chartmogul.Config, ds: Any, customer: Any) -> None:
    """A created customer comes back with every field the client models."""
    assert customer.uuid.startswith("cus_")
    assert isinstance(customer.id, int)
    assert (customer.external_id, customer.data_source_uuid) == ("cus-ext-1", ds.uuid)
    assert customer.external_ids == ["cus-ext-1"]
    assert customer.data_source_uuids == [ds.uuid]
    assert (customer.name, customer.email, customer.company) == (
        "Adam Smith",
        "adam@example.com",
        "Smith & Co",
    )
    assert (customer.country, customer.city, customer.zip) == ("US", "New York", "10001")
    assert customer.address.city == "New York"
    assert customer.attributes.tags == ["vip"]
    assert customer.attributes.custom == {"channel": "Facebook"}
    assert customer.mrr == 0

    fetched = chartmogul.Customer.retrieve(cm, uuid=customer.uuid).get()
    assert (fetched.uuid, fetched.email, fetched.id) == (customer.uuid, customer.email, customer.id)

    by_external = chartmogul.Customer.all(
        cm, data_source_uuid=ds.uuid, external_id="cus-ext-1"
    ).get()
    assert [c.uuid for c in by_external.entries] == [customer.uuid]
    assert by_external.has_more is False
    nobody = chartmogul.Customer.all(cm, data_source_uuid=ds.uuid, external_id="nobody").get()
    assert nobody.entries == []

    found = chartmogul.Customer.search(cm, email="adam@example.com").get()
    assert [c.uuid for c in found.entries] == [customer.uuid]


def test_customer_dates_round_trip(cm: chartmogul.Config, ds: Any) -> None:
    """Lead and free-trial dates given with an offset come back as the same instant."""
    lead = create_customer(
        cm,
        ds.uuid,
        "lead-1",
        name="Lead",
        lead_created_at="2024-01-10 00:00:00 +0200",
        free_trial_started_at="2024-01-12T09:30:00Z",
    )
    assert lead.lead_created_at == datetime(2024, 1, 9, 22, 0, tzinfo=UTC)
    assert lead.free_trial_started_at == datetime(2024, 1, 12, 9, 30, tzinfo=UTC)


def test_contact_lifecycle(cm: chartmogul.Config, ds: Any, customer: Any) -> None:
    """Contacts are created both ways, listed, retrieved, modified and deleted."""
    first = chartmogul.Contact.create(
        cm,
        data={
            "customer_uuid": customer.uuid,
            "data_source_uuid": ds.uuid,
            "first_name": "Adam",
            "last_name": "Smith",
            "email": "adam@example.com",
            "title": "CEO",
            "phone": "+1 555 0100",
            "custom": [{"key": "shoe_size", "value": 42}],
        },
    ).get()
    assert first.uuid.startswith("con_")
    assert (first.customer_uuid, first.data_source_uuid) == (customer.uuid, ds.uuid)
    assert first.customer_external_id == "cus-ext-1"
    assert (first.first_name, first.title, first.custom) == ("Adam", "CEO", {"shoe_size": 42})
    assert isinstance(first.position, int)

    second = chartmogul.Customer.createContact(
        cm,
        uuid=customer.uuid,
        data={"data_source_uuid": ds.uuid, "first_name": "Eve", "email": "eve@example.com"},
    ).get()
    assert second.customer_uuid == customer.uuid

    of_customer = chartmogul.Customer.contacts(cm, uuid=customer.uuid).get()
    assert {c.uuid for c in of_customer.entries} == {first.uuid, second.uuid}
    assert of_customer.has_more is False
    by_email = chartmogul.Contact.all(cm, email="eve@example.com").get()
    assert [c.uuid for c in by_email.entries] == [second.uuid]

    modified = chartmogul.Contact.modify(
        cm, uuid=first.uuid, data={"title": "CTO", "custom": [{"key": "shoe_size", "value": 43}]}
    ).get()
    assert (modified.uuid, modified.title, modified.custom) == (
        first.uuid,
        "CTO",
        {"shoe_size": 43},
    )
    assert chartmogul.Contact.retrieve(cm, uuid=first.uuid).get().title == "CTO"

    chartmogul.Contact.destroy(cm, uuid=second.uuid).get()
    assert api_failure(chartmogul.Contact.retrieve(cm, uuid=second.uuid)).status == 404
    remaining = chartmogul.Contact.all(cm, customer_uuid=customer.uuid).get()
    assert [c.uuid for c in remaining.entries] == [first.uuid]


def test_invoices_with_line_items_and_transactions(
    cm: chartmogul.Config, ds: Any, plan: Any, customer: Any
) -> None:
    """Invoices import with line items and inline payments; a refund imports afterwards."""
    invoices = [
        subscription_invoice(
            "inv-1",
            plan_uuid=plan.uuid,
            subscription_external_id="sub-1",
            start="2024-01-01",
            end="2024-02-01",
        ),
        subscription_invoice(
            "inv-2",
            plan_uuid=plan.uuid,
            subscription_external_id="sub-1",
            start="2024-02-01",
            end="2024-03-01",
        ),
    ]
    invoices[1]["line_items"].append(
        {"type": "one_time", "amount_in_cents": 1500, "description": "Setup", "quantity": 1}
    )
    created = chartmogul.Invoice.create(cm, uuid=customer.uuid, data={"invoices": invoices}).get()
    assert [inv.external_id for inv in created.invoices] == ["inv-1", "inv-2"]
    first, second = created.invoices
    assert first.uuid.startswith("inv_")
    assert (first.currency, first.date) == ("USD", datetime(2024, 1, 1, tzinfo=UTC))
    item = first.line_items[0]
    assert item.uuid.startswith("li_")
    assert (item.type, item.amount_in_cents, item.quantity) == ("subscription", GOLD_CENTS, 1)
    assert (item.plan_uuid, item.subscription_external_id) == (plan.uuid, "sub-1")
    assert item.subscription_uuid.startswith("sub_")
    assert item.service_period_end == datetime(2024, 2, 1, tzinfo=UTC)
    assert second.line_items[0].subscription_uuid == item.subscription_uuid
    assert [li.type for li in second.line_items] == ["subscription", "one_time"]
    assert second.line_items[1].description == "Setup"
    payment = first.transactions[0]
    assert payment.uuid.startswith("tr_")
    assert (payment.type, payment.result, payment.external_id) == (
        "payment",
        "successful",
        "inv-1-tr",
    )

    refund = chartmogul.Transaction.create(
        cm,
        uuid=second.uuid,
        data={
            "type": "refund",
            "date": "2024-02-10 00:00:00",
            "result": "successful",
            "external_id": "refund-1",
            "amount_in_cents": 1500,
        },
    ).get()
    assert refund.uuid.startswith("tr_")
    assert (refund.type, refund.amount_in_cents) == ("refund", 1500)
    assert refund.date == datetime(2024, 2, 10, tzinfo=UTC)

    fetched = chartmogul.Invoice.retrieve(cm, uuid=second.uuid).get()
    assert fetched.customer_uuid == customer.uuid
    assert [t.type for t in fetched.transactions] == ["payment", "refund"]
    listed = chartmogul.Invoice.all(cm, uuid=customer.uuid).get()
    assert listed.customer_uuid == customer.uuid
    assert [inv.uuid for inv in listed.invoices] == [first.uuid, second.uuid]
    by_external = chartmogul.Invoice.all(cm, customer_uuid=customer.uuid, external_id="inv-2").get()
    assert [inv.uuid for inv in by_external.invoices] == [second.uuid]


def test_deletes_through_the_client(
    cm: chartmogul.Config, ds: Any, plan: Any, customer: Any
) -> None:
    """Invoices (one and all), customers, plans and the data source delete via the client."""
    periods = [("2024-01-01", "2024-02-01"), ("2024-02-01", "2024-03-01")]
    payload = [
        subscription_invoice(
            f"del-{start}", plan_uuid=plan.uuid, subscription_external_id="s", start=start, end=end
        )
        for start, end in periods
    ]
    created = chartmogul.Invoice.create(cm, uuid=customer.uuid, data={"invoices": payload}).get()
    doomed = created.invoices[0]

    assert chartmogul.Invoice.destroy(cm, uuid=doomed.uuid).get() is None
    assert_not_found(api_failure(chartmogul.Invoice.retrieve(cm, uuid=doomed.uuid)), "Invoice")
    assert_not_found(api_failure(chartmogul.Invoice.destroy(cm, uuid=doomed.uuid)), "Invoice")

    cleared = chartmogul.Invoice.destroy_all(
        cm, data_source_uuid=ds.uuid, customer_uuid=customer.uuid
    ).get()
    assert cleared is None
    assert chartmogul.Invoice.all(cm, uuid=customer.uuid).get().invoices == []

    assert chartmogul.Customer.destroy(cm, uuid=customer.uuid).get() is None
    assert api_failure(chartmogul.Customer.retrieve(cm, uuid=customer.uuid)).status == 404
    assert chartmogul.Plan.destroy(cm, uuid=plan.uuid).get() is None
    assert chartmogul.DataSource.destroy(cm, uuid=ds.uuid).get() is None
    assert chartmogul.DataSource.all(cm).get().data_sources == []

"""What ``DELETE /v1/customers/{uuid}`` takes with it, seen through the official client.

ChartMogul documents the delete as permanent and as taking "all associated data": the
customer's invoices, subscriptions, transactions and attributes, and the customer leaves
every report; notes, call logs, opportunities and tasks belong to the customer object. The
emulator left the customer's subscription events behind, so a plan named only by them could
never be deleted. Contacts and events are not named by the docs; the emulator deletes them
(docs/emulator.md, "Where the emulator has to guess").

History (``_support.bill_two_customers``): A pays Gold from January, B pays Silver from
February; Silver is used by B alone.
"""

from __future__ import annotations

import warnings
from typing import Any

import chartmogul
import httpx
import pytest
from tests.conformance._support import (
    GOLD_CENTS,
    History,
    api_failure,
    assert_not_found,
    bill_two_customers,
    create_crm_objects,
    create_customer,
    create_data_source,
    create_plan,
)

Q1 = {"start_date": "2024-01-01", "end_date": "2024-03-31", "interval": "month"}


def _event(
    cm: chartmogul.Config, ds_uuid: str, customer_external_id: str, external_id: str, plan: str
) -> Any:
    """A subscription start naming ``plan`` for the customer (client call)."""
    data = {
        "data_source_uuid": ds_uuid,
        "customer_external_id": customer_external_id,
        "event_type": "subscription_start",
        "event_date": "2024-02-01 00:00:00",
        "effective_date": "2024-02-01 00:00:00",
        "external_id": external_id,
        "subscription_external_id": f"{external_id}-sub",
        "plan_external_id": plan,
        "currency": "USD",
        "amount_in_cents": 3000,
    }
    return chartmogul.SubscriptionEvent.create(cm, data={"subscription_event": data}).get()


def _crm_objects(cm: chartmogul.Config, customer_uuid: str, ds_uuid: str) -> dict[str, str]:
    """A contact, a note, an opportunity and a task for the customer; their uuids."""
    contact = chartmogul.Contact.create(
        cm,
        data={"customer_uuid": customer_uuid, "data_source_uuid": ds_uuid, "email": "b@x.io"},
    ).get()
    note, opportunity, task = create_crm_objects(cm, customer_uuid)
    return {
        "contact": contact.uuid,
        "note": note.uuid,
        "opportunity": opportunity.uuid,
        "task": task.task_uuid,
    }


@pytest.fixture
def history(cm: chartmogul.Config) -> History:
    """Two paying customers (see the module docstring)."""
    return bill_two_customers(cm)


def test_customer_delete_takes_its_data_and_frees_its_plan(
    cm: chartmogul.Config, history: History
) -> None:
    """Every dependent family of B goes; A's records, and an event naming B's external id
    in another data source, stay; lists, counts, activities and metrics agree; Silver,
    which only B's invoices and event used, can then be deleted."""
    a, b = history.customer_a, history.customer_b
    b_invoices = chartmogul.Invoice.all(cm, uuid=b.uuid).get().invoices
    b_items = [item.uuid for invoice in b_invoices for item in invoice.line_items]
    b_payments = [entry.uuid for invoice in b_invoices for entry in invoice.transactions]
    assert (len(b_invoices), len(b_items), len(b_payments)) == (2, 2, 2)
    b_event = _event(cm, history.ds_uuid, "cus-b", "evt-b", "silver_monthly")
    a_event = _event(cm, history.ds_uuid, "cus-a", "evt-a", "gold_monthly")
    elsewhere = create_data_source(cm, "Other billing")
    create_plan(
        cm,
        elsewhere.uuid,
        external_id="silver_monthly",
        name="Silver",
        interval_count=1,
        interval_unit="month",
    )
    create_customer(cm, elsewhere.uuid, "cus-b", name="Namesake")
    namesake_event = _event(cm, elsewhere.uuid, "cus-b", "evt-b", "silver_monthly")
    b_crm = _crm_objects(cm, b.uuid, history.ds_uuid)
    a_crm = _crm_objects(cm, a.uuid, history.ds_uuid)
    refused = api_failure(chartmogul.Plan.destroy(cm, uuid=history.silver_plan_uuid))
    assert refused.status == 422, refused

    assert chartmogul.Customer.destroy(cm, uuid=b.uuid).get() is None

    assert_not_found(api_failure(chartmogul.Customer.retrieve(cm, uuid=b.uuid)), "Customer")
    for invoice in b_invoices:
        assert_not_found(api_failure(chartmogul.Invoice.retrieve(cm, uuid=invoice.uuid)), "Invoice")
    for item in b_items:
        assert_not_found(api_failure(chartmogul.LineItem.retrieve(cm, uuid=item)), "Line item")
    for payment in b_payments:
        failure = api_failure(chartmogul.Transaction.retrieve(cm, uuid=payment))
        assert_not_found(failure, "Transaction")
    assert api_failure(chartmogul.Contact.retrieve(cm, uuid=b_crm["contact"])).status == 404
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        gone_note = api_failure(chartmogul.CustomerNote.retrieve(cm, uuid=b_crm["note"]))
    assert_not_found(gone_note, "Note")
    gone_opportunity = chartmogul.Opportunity.retrieve(cm, uuid=b_crm["opportunity"])
    assert_not_found(api_failure(gone_opportunity), "Opportunity")
    assert_not_found(api_failure(chartmogul.Task.retrieve(cm, uuid=b_crm["task"])), "Task")

    # what stays: A's records, and B's namesake in another data source
    events = chartmogul.SubscriptionEvent.all(cm).get().subscription_events
    assert sorted(event.id for event in events) == sorted([a_event.id, namesake_event.id])
    assert b_event.id not in {event.id for event in events}
    assert chartmogul.Contact.retrieve(cm, uuid=a_crm["contact"]).get().customer_uuid == a.uuid
    assert chartmogul.Task.retrieve(cm, uuid=a_crm["task"]).get().customer_uuid == a.uuid
    assert len(chartmogul.Invoice.all(cm, uuid=a.uuid).get().invoices) == 3

    # lists and counts agree with what is left
    customers = chartmogul.Customer.all(cm, data_source_uuid=history.ds_uuid).get()
    assert [c.uuid for c in customers.entries] == [a.uuid]
    contacts = chartmogul.Contact.all(cm, data_source_uuid=history.ds_uuid).get().entries
    assert [c.uuid for c in contacts] == [a_crm["contact"]]
    opportunities = chartmogul.Opportunity.all(cm).get().entries
    assert [o.uuid for o in opportunities] == [a_crm["opportunity"]]
    assert [t.task_uuid for t in chartmogul.Task.all(cm).get().entries] == [a_crm["task"]]
    activities = chartmogul.Activity.all(cm).get().entries
    assert {activity.customer_external_id for activity in activities} == {"cus-a"}
    counts = chartmogul.Metrics.customer_count(cm, **Q1).get()
    assert [entry.customers for entry in counts.entries] == [1, 1, 1]
    mrr = chartmogul.Metrics.mrr(cm, **Q1).get()
    assert [entry.mrr for entry in mrr.entries] == [GOLD_CENTS] * 3

    assert chartmogul.Plan.destroy(cm, uuid=history.silver_plan_uuid).get() is None
    assert api_failure(chartmogul.Plan.destroy(cm, uuid=history.plan_uuid)).status == 422


def test_a_merged_customer_delete_takes_the_events_of_every_merged_id(
    cm: chartmogul.Config, ds: Any, plan: Any, customer: Any
) -> None:
    """Events name a customer by external id; after a merge the survivor answers to both
    ids, so deleting it deletes the events naming either, and the plan is free."""
    duplicate = create_customer(cm, ds.uuid, "cus-dup", name="Duplicate")
    _event(cm, ds.uuid, "cus-ext-1", "evt-own", "gold_monthly")
    _event(cm, ds.uuid, "cus-dup", "evt-merged", "gold_monthly")
    chartmogul.Customer.merge(
        cm,
        data={"from": {"customer_uuid": duplicate.uuid}, "into": {"customer_uuid": customer.uuid}},
    ).get()
    assert len(chartmogul.SubscriptionEvent.all(cm).get().subscription_events) == 2

    chartmogul.Customer.destroy(cm, uuid=customer.uuid).get()

    assert chartmogul.SubscriptionEvent.all(cm).get().subscription_events == []
    assert chartmogul.Plan.destroy(cm, uuid=plan.uuid).get() is None


@pytest.mark.parametrize("path", ["/data_sources/{uuid}", "/data_sources/{uuid}/all"])
def test_a_data_source_delete_takes_its_customers_crm_objects(
    cm: chartmogul.Config, api: httpx.Client, ds: Any, customer: Any, path: str
) -> None:
    """Deleting (or emptying) a data source deletes its customers, and with them their
    notes, opportunities and tasks, which carry no data source of their own; another
    source's customer keeps its own."""
    elsewhere = create_data_source(cm, "Other billing")
    survivor = create_customer(cm, elsewhere.uuid, "cus-other", name="Survivor")
    gone = _crm_objects(cm, customer.uuid, ds.uuid)
    kept = _crm_objects(cm, survivor.uuid, elsewhere.uuid)

    assert api.delete(path.format(uuid=ds.uuid)).status_code == 204

    opportunities = chartmogul.Opportunity.all(cm).get().entries
    assert [o.uuid for o in opportunities] == [kept["opportunity"]]
    assert [t.task_uuid for t in chartmogul.Task.all(cm).get().entries] == [kept["task"]]
    assert api.get(f"/customer_notes/{gone['note']}").status_code == 404
    assert api.get(f"/customer_notes/{kept['note']}").status_code == 200

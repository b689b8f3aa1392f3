"""Line items, transactions and invoices by uuid and by external id; subscription links."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import chartmogul
import pytest
from tests.conformance._support import (
    GOLD_CENTS,
    api_failure,
    assert_not_found,
    bill_monthly,
    subscription_invoice,
)

from mogulsync.emulator.server import EmulatorServer

EXTRA_CENTS = 700


@pytest.fixture
def invoice(cm: chartmogul.Config, plan: Any, customer: Any) -> Any:
    """One paid January invoice of ``customer`` (external ids ``jan``, ``jan-li``, ``jan-tr``)."""
    payload = subscription_invoice(
        "jan",
        plan_uuid=plan.uuid,
        subscription_external_id="sub-jan",
        start="2024-01-01",
        end="2024-02-01",
    )
    created = chartmogul.Invoice.create(cm, uuid=customer.uuid, data={"invoices": [payload]})
    return created.get().invoices[0]


def test_line_item_create_retrieve_destroy(cm: chartmogul.Config, ds: Any, invoice: Any) -> None:
    """A line item is added to an invoice, found by uuid or external id, and deleted."""
    extra = chartmogul.LineItem.create(
        cm,
        uuid=invoice.uuid,
        data={
            "type": "one_time",
            "amount_in_cents": EXTRA_CENTS,
            "description": "Extra seats",
            "external_id": "jan-extra",
        },
    ).get()
    assert extra.uuid.startswith("li_")
    assert (extra.type, extra.amount_in_cents, extra.description) == (
        "one_time",
        EXTRA_CENTS,
        "Extra seats",
    )
    fetched = chartmogul.LineItem.retrieve(cm, uuid=extra.uuid).get()
    assert (fetched.uuid, fetched.external_id) == (extra.uuid, "jan-extra")
    by_external = chartmogul.LineItem.retrieve(
        cm, data_source_uuid=ds.uuid, external_id="jan-li"
    ).get()
    assert (by_external.uuid, by_external.amount_in_cents) == (
        invoice.line_items[0].uuid,
        GOLD_CENTS,
    )
    items = chartmogul.Invoice.retrieve(cm, uuid=invoice.uuid).get().line_items
    assert [li.uuid for li in items] == [invoice.line_items[0].uuid, extra.uuid]

    assert chartmogul.LineItem.destroy(cm, uuid=extra.uuid).get() is None
    assert_not_found(api_failure(chartmogul.LineItem.retrieve(cm, uuid=extra.uuid)), "Line item")


def test_line_item_modify_and_disable(cm: chartmogul.Config, invoice: Any) -> None:
    """PATCH /line_items/{uuid} edits an item; its disabled_state can be toggled."""
    item = invoice.line_items[0]
    edited = chartmogul.LineItem.modify(cm, uuid=item.uuid, data={"amount_in_cents": 6000}).get()
    assert (edited.uuid, edited.amount_in_cents) == (item.uuid, 6000)
    disabled = chartmogul.LineItem.disable(cm, uuid=item.uuid, data={"disabled": True}).get()
    assert disabled.disabled is True


def test_transaction_retrieve_and_destroy(cm: chartmogul.Config, ds: Any, invoice: Any) -> None:
    """A transaction is found by uuid or external id and deleted."""
    payment = invoice.transactions[0]
    fetched = chartmogul.Transaction.retrieve(cm, uuid=payment.uuid).get()
    assert (fetched.uuid, fetched.type, fetched.result) == (payment.uuid, "payment", "successful")
    assert fetched.date == datetime(2024, 1, 1, 0, 5, tzinfo=UTC)
    by_external = chartmogul.Transaction.retrieve(
        cm, data_source_uuid=ds.uuid, external_id="jan-tr"
    ).get()
    assert by_external.uuid == payment.uuid
    assert chartmogul.Transaction.destroy(cm, uuid=payment.uuid).get() is None
    assert_not_found(
        api_failure(chartmogul.Transaction.retrieve(cm, uuid=payment.uuid)), "Transaction"
    )
    assert chartmogul.Invoice.retrieve(cm, uuid=invoice.uuid).get().transactions == []


def test_transaction_modify_and_disable(cm: chartmogul.Config, invoice: Any) -> None:
    """PATCH /transactions/{uuid} edits a payment; its disabled_state can be toggled."""
    payment = invoice.transactions[0]
    edited = chartmogul.Transaction.modify(cm, uuid=payment.uuid, data={"result": "failed"}).get()
    assert (edited.uuid, edited.result) == (payment.uuid, "failed")
    disabled = chartmogul.Transaction.disable(cm, uuid=payment.uuid, data={"disabled": True}).get()
    assert disabled.disabled is True


def test_invoice_by_external_id(cm: chartmogul.Config, ds: Any, invoice: Any) -> None:
    """Invoices are retrieved and deleted by data source plus external id."""
    found = chartmogul.Invoice.retrieve(cm, data_source_uuid=ds.uuid, external_id="jan").get()
    assert found.uuid == invoice.uuid
    assert chartmogul.Invoice.destroy(cm, data_source_uuid=ds.uuid, external_id="jan").get() is None
    assert_not_found(api_failure(chartmogul.Invoice.retrieve(cm, uuid=invoice.uuid)), "Invoice")


def test_invoice_disable_and_status(cm: chartmogul.Config, ds: Any, invoice: Any) -> None:
    """An invoice's disabled_state toggles; its status is set by external id."""
    disabled = chartmogul.Invoice.disable(cm, uuid=invoice.uuid, data={"disabled": True}).get()
    assert (disabled.uuid, disabled.disabled) == (invoice.uuid, True)
    updated = chartmogul.Invoice.update_status(
        cm, data_source_uuid=ds.uuid, external_id="jan", data={"status": "void"}
    ).get()
    assert updated.status == "void"


def _connection_groups(server: EmulatorServer, uuids: list[str]) -> list[str | None]:
    """The ``connection_group`` the emulator holds for each subscription.

    ChartMogul answers connect/disconnect with ``202 {}`` and renders the connection in no
    response the client can read (the reference lists no such field), so the result is
    read back from what the emulator stored, independently of the calls under test.
    """
    store = server.emulator.store
    rows = [store.get("subscription", uuid) for uuid in uuids]
    return [row.body.get("connection_group") if row else "<missing>" for row in rows]


def test_connect_and_disconnect_subscriptions(
    cm: chartmogul.Config,
    ds: Any,
    plan: Any,
    customer: Any,
    emulator_server: EmulatorServer,
) -> None:
    """Connecting two subscriptions groups them; disconnecting ungroups them (both 202)."""
    first = bill_monthly(
        cm,
        customer.uuid,
        plan.uuid,
        prefix="old",
        periods=(("2024-01-01", "2024-02-01"),),
        amount_in_cents=GOLD_CENTS,
    )
    second = bill_monthly(
        cm,
        customer.uuid,
        plan.uuid,
        prefix="new",
        periods=(("2024-02-01", "2024-03-01"),),
        amount_in_cents=GOLD_CENTS,
    )
    uuids = [first[0].line_items[0].subscription_uuid, second[0].line_items[0].subscription_uuid]
    subscriptions = {"subscriptions": [{"data_source_uuid": ds.uuid, "uuid": u} for u in uuids]}
    assert _connection_groups(emulator_server, uuids) == [None, None]

    connected = chartmogul.Customer.connectSubscriptions(
        cm, uuid=customer.uuid, data=subscriptions
    ).get()
    assert connected is None
    group, other = _connection_groups(emulator_server, uuids)
    assert group is not None
    assert other == group

    disconnected = chartmogul.Customer.disconnectSubscriptions(
        cm, uuid=customer.uuid, data=subscriptions
    ).get()
    assert disconnected is None
    assert _connection_groups(emulator_server, uuids) == [None, None]
    # both subscriptions are still the customer's, as the client lists them
    listed = chartmogul.Customer.subscriptions(cm, uuid=customer.uuid).get().entries
    assert sorted(s.external_id for s in listed) == ["new-sub", "old-sub"]

    unknown = {"subscriptions": [{"data_source_uuid": ds.uuid, "uuid": "sub_unknown"}]}
    failure = api_failure(
        chartmogul.Customer.connectSubscriptions(cm, uuid=customer.uuid, data=unknown)
    )
    assert 400 <= failure.status < 500

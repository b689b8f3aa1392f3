"""Merging and unmerging customers and contacts through the client."""

from __future__ import annotations

from typing import Any

import chartmogul
from tests.conformance._support import api_failure, create_customer, subscription_invoice


def test_customer_merge_by_uuid_moves_data(
    cm: chartmogul.Config, ds: Any, plan: Any, customer: Any
) -> None:
    """Merging answers 202 (None); the source customer is gone, its invoices moved."""
    duplicate = create_customer(cm, ds.uuid, "dup-1", name="Adam (dup)", email="dup@example.com")
    invoice = subscription_invoice(
        "dup-inv",
        plan_uuid=plan.uuid,
        subscription_external_id="dup-sub",
        start="2024-01-01",
        end="2024-02-01",
    )
    chartmogul.Invoice.create(cm, uuid=duplicate.uuid, data={"invoices": [invoice]}).get()

    merged = chartmogul.Customer.merge(
        cm,
        data={
            "from": {"customer_uuid": duplicate.uuid},
            "into": {"customer_uuid": customer.uuid},
        },
    ).get()
    assert merged is None
    assert api_failure(chartmogul.Customer.retrieve(cm, uuid=duplicate.uuid)).status == 404
    survivor = chartmogul.Customer.retrieve(cm, uuid=customer.uuid).get()
    assert set(survivor.external_ids) == {"cus-ext-1", "dup-1"}
    moved = chartmogul.Invoice.all(cm, customer_uuid=customer.uuid).get()
    assert [inv.external_id for inv in moved.invoices] == ["dup-inv"]


def test_customer_merge_by_external_id(cm: chartmogul.Config, ds: Any, customer: Any) -> None:
    """Either side of a merge may be named by external_id plus data source."""
    other = create_customer(cm, ds.uuid, "ext-2", name="By external id")
    result = chartmogul.Customer.merge(
        cm,
        data={
            "from": {"external_id": "ext-2", "data_source_uuid": ds.uuid},
            "into": {"external_id": "cus-ext-1", "data_source_uuid": ds.uuid},
        },
    ).get()
    assert result is None
    assert api_failure(chartmogul.Customer.retrieve(cm, uuid=other.uuid)).status == 404
    assert "ext-2" in chartmogul.Customer.retrieve(cm, uuid=customer.uuid).get().external_ids


def test_customer_unmerge(cm: chartmogul.Config, ds: Any, customer: Any) -> None:
    """Unmerging splits a merged external id back into its own customer."""
    create_customer(cm, ds.uuid, "split-me", name="Split")
    chartmogul.Customer.merge(
        cm,
        data={
            "from": {"external_id": "split-me", "data_source_uuid": ds.uuid},
            "into": {"customer_uuid": customer.uuid},
        },
    ).get()
    result = chartmogul.Customer.unmerge(
        cm,
        data={
            "customer_uuid": customer.uuid,
            "data_source_uuid": ds.uuid,
            "external_id": "split-me",
            "move_to_new_customer": [],
        },
    ).get()
    assert result is None
    survivor = chartmogul.Customer.retrieve(cm, uuid=customer.uuid).get()
    assert "split-me" not in survivor.external_ids
    split = chartmogul.Customer.all(cm, data_source_uuid=ds.uuid, external_id="split-me").get()
    assert len(split.entries) == 1
    assert split.entries[0].uuid != customer.uuid


def test_contact_merge(cm: chartmogul.Config, ds: Any, customer: Any) -> None:
    """Merging contacts keeps the target, removes the source and notes the merge."""

    def contact(**fields: Any) -> Any:
        data = {"customer_uuid": customer.uuid, "data_source_uuid": ds.uuid, **fields}
        return chartmogul.Contact.create(cm, data=data).get()

    into = contact(first_name="Adam", email="adam@example.com", notes="Main contact.")
    source = contact(first_name="Adam", phone="+1 555 0100")
    merged = chartmogul.Contact.merge(cm, into_uuid=into.uuid, from_uuid=source.uuid).get()
    assert merged.uuid == into.uuid
    assert merged.email == "adam@example.com"
    assert "This contact was merged" in merged.notes
    assert api_failure(chartmogul.Contact.retrieve(cm, uuid=source.uuid)).status == 404
    listed = chartmogul.Customer.contacts(cm, uuid=customer.uuid).get()
    assert [c.uuid for c in listed.entries] == [into.uuid]

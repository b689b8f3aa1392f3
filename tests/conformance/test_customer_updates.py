"""Updating customers through the client: fields, tags, custom attributes, by-email variants."""

from __future__ import annotations

from typing import Any

import chartmogul
from tests.conformance._support import create_customer


def test_customer_modify(cm: chartmogul.Config, customer: Any) -> None:
    """PATCH /customers returns the whole updated customer and the change persists."""
    updated = chartmogul.Customer.modify(
        cm,
        uuid=customer.uuid,
        data={
            "name": "Adam Smith Jr",
            "email": "junior@example.com",
            "company": "Smith Holdings",
            "country": "GB",
            "city": "London",
            "website_url": "https://smith.example",
            "attributes": {"custom": {"channel": "Twitter"}},
        },
    ).get()
    assert updated.uuid == customer.uuid
    assert (updated.name, updated.email, updated.company) == (
        "Adam Smith Jr",
        "junior@example.com",
        "Smith Holdings",
    )
    assert (updated.country, updated.city) == ("GB", "London")
    assert updated.website_url == "https://smith.example"
    assert updated.attributes.custom["channel"] == "Twitter"
    # fields not sent are untouched
    assert (updated.zip, updated.external_id) == ("10001", "cus-ext-1")

    fetched = chartmogul.Customer.retrieve(cm, uuid=customer.uuid).get()
    assert (fetched.email, fetched.city) == ("junior@example.com", "London")
    assert chartmogul.Customer.search(cm, email="junior@example.com").get().entries[0].uuid == (
        customer.uuid
    )


def test_tags_add_and_remove(cm: chartmogul.Config, customer: Any) -> None:
    """Adding tags ignores duplicates; removing (DELETE with a body) returns what remains."""
    added = chartmogul.Tags.add(
        cm, uuid=customer.uuid, data={"tags": ["important", "Prio1", "vip"]}
    ).get()
    assert sorted(added.tags) == ["Prio1", "important", "vip"]
    removed = chartmogul.Tags.remove(cm, uuid=customer.uuid, data={"tags": ["vip", "Prio1"]}).get()
    assert removed.tags == ["important"]
    attributes = chartmogul.Attributes.retrieve(cm, uuid=customer.uuid).get()
    assert attributes.tags == ["important"]
    assert attributes.custom == {"channel": "Facebook"}


def test_tags_add_by_email(cm: chartmogul.Config, ds: Any, customer: Any) -> None:
    """Tags by email apply to every customer with that email and list them unpaginated."""
    twin = create_customer(cm, ds.uuid, "cus-ext-2", name="Adam again", email="adam@example.com")
    create_customer(cm, ds.uuid, "cus-ext-3", name="Other", email="other@example.com")
    result = chartmogul.Tags.add_by_email(
        cm, data={"email": "adam@example.com", "tags": ["newsletter"]}
    ).get()
    assert {c.uuid for c in result.entries} == {customer.uuid, twin.uuid}
    assert all("newsletter" in c.attributes.tags for c in result.entries)
    other = chartmogul.Customer.all(cm, data_source_uuid=ds.uuid, external_id="cus-ext-3").get()
    assert "newsletter" not in other.entries[0].attributes.tags


def test_custom_attributes_typed_update_remove(cm: chartmogul.Config, customer: Any) -> None:
    """Typed custom attributes are normalised per type, updated by key and removed."""
    added = chartmogul.CustomAttributes.add(
        cm,
        uuid=customer.uuid,
        data={
            "custom": [
                {"type": "Integer", "key": "age", "value": 8},
                {"type": "Decimal", "key": "score", "value": 1.5},
                {"type": "Boolean", "key": "paying", "value": "TRUE"},
                {"type": "Timestamp", "key": "renews_at", "value": "2024-05-01"},
                {"type": "String", "key": "segment", "value": "smb", "source": "crm"},
            ]
        },
    ).get()
    assert added.custom == {
        "channel": "Facebook",
        "age": 8,
        "score": 1.5,
        "paying": True,
        "renews_at": "2024-05-01T00:00:00.000Z",
        "segment": "smb",
    }

    updated = chartmogul.CustomAttributes.update(
        cm, uuid=customer.uuid, data={"custom": {"age": 20, "channel": "Twitter"}}
    ).get()
    assert (updated.custom["age"], updated.custom["channel"]) == (20, "Twitter")
    assert updated.custom["segment"] == "smb"

    # 204 (observed) or 200 with what remains (tolerated by the client) are both fine.
    removed = chartmogul.CustomAttributes.remove(
        cm, uuid=customer.uuid, data={"custom": ["age", "score"]}
    ).get()
    if removed is not None:
        assert "age" not in (removed.custom or {})
    remaining = chartmogul.Attributes.retrieve(cm, uuid=customer.uuid).get().custom
    assert set(remaining) == {"channel", "paying", "renews_at", "segment"}


def test_custom_attributes_add_by_email(cm: chartmogul.Config, ds: Any, customer: Any) -> None:
    """Custom attributes by email return every matching customer with the new values."""
    twin = create_customer(cm, ds.uuid, "cus-ext-2", name="Adam again", email="adam@example.com")
    result = chartmogul.CustomAttributes.add_by_email(
        cm,
        data={
            "email": "adam@example.com",
            "custom": [{"type": "Integer", "key": "seats", "value": 12}],
        },
    ).get()
    assert {c.uuid for c in result.entries} == {customer.uuid, twin.uuid}
    assert all(c.attributes.custom["seats"] == 12 for c in result.entries)
    fetched = chartmogul.Attributes.retrieve(cm, uuid=twin.uuid).get()
    assert fetched.custom["seats"] == 12


def test_customer_lead_status_update(cm: chartmogul.Config, customer: Any) -> None:
    """A customer without revenue can be moved between lead statuses."""
    updated = chartmogul.Customer.modify(
        cm, uuid=customer.uuid, data={"status": "Working Lead"}
    ).get()
    assert updated.status == "Working Lead"
    assert chartmogul.Customer.retrieve(cm, uuid=customer.uuid).get().status == "Working Lead"

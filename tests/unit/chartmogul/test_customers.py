"""Customers, tags, custom attributes and contacts through the client (emulator in-process)."""

from __future__ import annotations

import pytest

from mogulsync.chartmogul import (
    ChartMogulClient,
    ContactUpdate,
    CustomAttribute,
    CustomerRef,
    CustomerUpdate,
    NewContact,
    NewCustomer,
    NewCustomerAttributes,
    NotFoundError,
)
from mogulsync.emulator.state import Emulator

pytestmark = pytest.mark.anyio


async def new_source(client: ChartMogulClient, name: str = "Warehouse") -> str:
    return (await client.data_sources.create(name)).uuid


async def test_data_source_lifecycle(client: ChartMogulClient) -> None:
    """Create, list, get, find by name and delete a data source."""
    created = await client.data_sources.create("Billing")
    assert [ds.uuid for ds in await client.data_sources.list()] == [created.uuid]
    assert (await client.data_sources.get(created.uuid)).name == "Billing"
    assert await client.data_sources.find_by_name("Nope") is None
    await client.data_sources.delete(created.uuid)
    with pytest.raises(NotFoundError) as caught:
        await client.data_sources.get(created.uuid)
    assert caught.value.resource == "data source"


async def test_customer_lifecycle(client: ChartMogulClient) -> None:
    """Create, get, update, find by external id and delete a customer."""
    source = await new_source(client)
    created = await client.customers.create(
        NewCustomer(
            data_source_uuid=source,
            external_id="c-1",
            name="Acme",
            email="billing@acme.test",
            country="US",
            attributes=NewCustomerAttributes(
                tags=["vip"], custom=[CustomAttribute.infer("seats", 12)]
            ),
        )
    )
    assert created.attributes is not None
    assert created.attributes.tags == ["vip"]
    assert created.attributes.custom == {"seats": 12}
    updated = await client.customers.update(created.uuid, CustomerUpdate(name="Acme Inc"))
    assert (updated.name, updated.email) == ("Acme Inc", "billing@acme.test")
    assert (await client.customers.get(created.uuid)).name == "Acme Inc"
    found = await client.customers.find_by_external_id("c-1", source)
    assert found is not None
    assert found.uuid == created.uuid
    assert await client.customers.find_by_external_id("c-2", source) is None
    await client.customers.delete(created.uuid)
    assert await client.customers.find_by_external_id("c-1", source) is None


async def test_list_filters_and_search(client: ChartMogulClient) -> None:
    """Listing filters by data source; search by email finds all matches or none."""
    first, second = await new_source(client, "A"), await new_source(client, "B")
    for source, external_id in ((first, "x"), (first, "y"), (second, "x")):
        await client.customers.create(
            NewCustomer(data_source_uuid=source, external_id=external_id, email="same@x.test")
        )
    in_first = await client.customers.list(data_source_uuid=first).collect()
    assert sorted(c.external_id or "" for c in in_first) == ["x", "y"]
    assert len(await client.customers.search_by_email("same@x.test").collect()) == 3
    assert await client.customers.search_by_email("nobody@x.test").collect() == []


async def test_merge_customers(client: ChartMogulClient, emulator: Emulator) -> None:
    """Merging by external id folds ``from`` (a) into ``into`` (b): b survives, a is gone."""
    source = await new_source(client)
    gone, kept = [
        await client.customers.create(
            NewCustomer(data_source_uuid=source, external_id=external_id, email=email)
        )
        for external_id, email in (("a", "a@x.test"), ("b", None))
    ]
    await client.customers.merge(
        CustomerRef(external_id="a", data_source_uuid=source),
        CustomerRef(external_id="b", data_source_uuid=source),
    )
    remaining = await client.customers.list(data_source_uuid=source).collect()
    assert [(c.uuid, c.external_id) for c in remaining] == [(kept.uuid, "b")]
    with pytest.raises(NotFoundError):
        await client.customers.get(gone.uuid)
    survivor = await client.customers.get(kept.uuid)
    assert survivor.email == "a@x.test"  # a blank field of the survivor is filled from a


def test_customer_ref_needs_one_way_to_name_a_customer() -> None:
    """A merge side is a uuid, or an external id with its data source, not both."""
    with pytest.raises(ValueError, match="customer_uuid"):
        CustomerRef(external_id="a")
    with pytest.raises(ValueError, match="customer_uuid"):
        CustomerRef(customer_uuid="cus_1", external_id="a", data_source_uuid="ds_1")


async def test_tags(client: ChartMogulClient) -> None:
    """Tags are added (twice is harmless) and removed, by uuid and by email."""
    source = await new_source(client)
    one = await client.customers.create(
        NewCustomer(data_source_uuid=source, external_id="1", email="t@x.test")
    )
    two = await client.customers.create(
        NewCustomer(data_source_uuid=source, external_id="2", email="t@x.test")
    )
    assert await client.tags.add(one.uuid, ["a", "b"]) == ["a", "b"]
    assert await client.tags.add(one.uuid, ["a"]) == ["a", "b"]
    assert await client.tags.remove(one.uuid, ["a"]) == ["b"]
    tagged = await client.tags.add_by_email("t@x.test", ["shared"])
    assert sorted(c.uuid for c in tagged) == sorted([one.uuid, two.uuid])
    left = await client.tags.remove_by_email("t@x.test", ["shared"])
    assert left == {one.uuid: ["b"], two.uuid: []}


async def test_custom_attributes(client: ChartMogulClient) -> None:
    """Typed add, untyped update and removal, by uuid and by email."""
    source = await new_source(client)
    customer = await client.customers.create(
        NewCustomer(data_source_uuid=source, external_id="1", email="c@x.test")
    )
    added = await client.custom_attributes.add(
        customer.uuid,
        [CustomAttribute.infer("plan_tier", "gold"), CustomAttribute.infer("active", True)],
    )
    assert added == {"plan_tier": "gold", "active": True}
    assert await client.custom_attributes.update(customer.uuid, {"plan_tier": "silver"}) == {
        "plan_tier": "silver",
        "active": True,
    }
    await client.custom_attributes.remove(customer.uuid, ["active"])
    by_email = await client.custom_attributes.add_by_email(
        "c@x.test", [CustomAttribute(type="Integer", key="seats", value=3)]
    )
    assert by_email[0].attributes is not None
    assert by_email[0].attributes.custom == {"plan_tier": "silver", "seats": 3}
    updated = await client.custom_attributes.update_by_email("c@x.test", {"seats": 4})
    assert updated == {customer.uuid: {"plan_tier": "silver", "seats": 4}}
    assert await client.custom_attributes.remove_by_email("c@x.test", ["seats"]) == [customer.uuid]
    fetched = await client.customers.get(customer.uuid)
    assert fetched.attributes is not None
    assert fetched.attributes.custom == {"plan_tier": "silver"}


async def test_contacts(client: ChartMogulClient) -> None:
    """Contacts are created, listed, updated, merged and deleted."""
    source = await new_source(client)
    customer = await client.customers.create(NewCustomer(data_source_uuid=source, external_id="1"))
    first = await client.contacts.create(
        NewContact(
            customer_uuid=customer.uuid,
            data_source_uuid=source,
            email="ann@x.test",
            first_name="Ann",
            external_id="con-1",
        )
    )
    second = await client.contacts.create(
        NewContact(customer_uuid=customer.uuid, data_source_uuid=source, email="bob@x.test")
    )
    listed = await client.contacts.list(customer_uuid=customer.uuid).collect()
    assert {c.uuid for c in listed} == {first.uuid, second.uuid}
    updated = await client.contacts.update(first.uuid, ContactUpdate(title="CFO"))
    assert (updated.title, updated.first_name) == ("CFO", "Ann")
    assert (await client.contacts.get(first.uuid)).title == "CFO"
    merged = await client.contacts.merge(first.uuid, second.uuid)
    assert merged.uuid == first.uuid
    await client.contacts.delete(first.uuid)
    assert await client.contacts.list(customer_uuid=customer.uuid).collect() == []

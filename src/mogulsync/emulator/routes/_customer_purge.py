"""What a customer deletion takes with it (``DELETE /v1/customers/{uuid}``).

ChartMogul documents the delete as taking "the customer object and all its associated
data": invoices (so their line items), subscriptions, transactions and custom attributes,
and the customer leaves every report. Its data-model page puts tags, custom attributes,
notes and call logs, opportunities and tasks on the customer object, so they go too.
Contacts and subscription events are not named; they belong to the customer (events name
it by ``customer_external_id`` in their data source), so the emulator deletes them as well
(docs/emulator.md, "Where the emulator has to guess").
"""

from __future__ import annotations

from mogulsync.emulator.routes._billing_records import purge_customer_billing
from mogulsync.emulator.store import Row, Store

#: CRM kinds that belong to the customer object (their ``parent_uuid`` is its uuid) and
#: carry no data source of their own, so a data source delete finds them through it
CRM_KINDS = ("customer_note", "opportunity", "task")
EVENT_KIND = "subscription_event"
_SLICE = 500


def customer_identities(customer: Row) -> frozenset[tuple[str, str]]:
    """(data source uuid, external id) pairs the customer answers to, merged-in ones too."""
    body = customer.body
    pairs = {(str(body["data_source_uuid"]), str(body["external_id"]))}
    pairs.update(
        (str(item["data_source_uuid"]), str(item["external_id"])) for item in body.get("merges", [])
    )
    return frozenset(pairs)


def delete_customer_events(store: Store, customer: Row) -> int:
    """Delete the subscription events naming the customer; how many went."""
    deleted = 0
    by_source: dict[str, set[str]] = {}
    for data_source_uuid, external_id in customer_identities(customer):
        by_source.setdefault(data_source_uuid, set()).add(external_id)
    for data_source_uuid, external_ids in by_source.items():
        for row in store.find(EVENT_KIND, data_source_uuid=data_source_uuid):
            if row.body.get("customer_external_id") in external_ids:
                deleted += int(store.delete(EVENT_KIND, row.uuid))
    return deleted


def purge_customer(store: Store, customer: Row) -> None:
    """Delete the customer and everything that belongs to it."""
    purge_customer_billing(store, customer.uuid)
    delete_customer_events(store, customer)
    store.delete_where("contact", parent_uuid=customer.uuid)
    delete_crm_objects(store, frozenset({customer.uuid}))
    store.delete("customer", customer.uuid)


def delete_crm_objects(store: Store, customer_uuids: frozenset[str]) -> None:
    """Delete the notes, opportunities and tasks of these customers."""
    ordered = sorted(customer_uuids)
    # in slices: a data source's customers can outnumber SQLite's bound-parameter limit
    for start in range(0, len(ordered), _SLICE):
        owners = frozenset(ordered[start : start + _SLICE])
        for kind in CRM_KINDS:
            store.delete_where(kind, parent_uuid=owners)

"""``api`` delivery: events become ChartMogul customers, contacts and custom attributes.

Everything goes through our client (``mogulsync.chartmogul``), so the account's shared
rate limiter paces it. The pending events of one entity are first folded into one update
(later values win), so a burst for the same customer or contact costs one round of calls:

- a customer (Send Customer) is upserted by external id in the configured data source:
  created with its typed custom attributes in one call, or updated (``PATCH``) and given
  its custom attributes (``POST .../attributes/custom``);
- a contact (Send Contact) belongs to its ``company.id`` customer (created when new);
  without a company a new contact gets a customer of its own keyed by the contact's id,
  as ChartMogul's "create a company when a user is created" setting does;
- audience traits become Boolean custom attributes of the contact's customer.

The uuids that external ids resolved to are remembered in the queue database, so after
the first event of an entity an update costs one call.
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from mogulsync.chartmogul import (
    AlreadyExistsError,
    ChartMogulClient,
    ContactUpdate,
    CustomAttribute,
    CustomerUpdate,
    NewContact,
    NewCustomer,
    NewCustomerAttributes,
    NotFoundError,
    RequestLogEntry,
)
from mogulsync.events.delivery import PlannedEvent, Verdict, classify
from mogulsync.events.mappings import Action
from mogulsync.events.queue import EventQueue
from mogulsync.events.schema import parse_time

_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")
ATTRIBUTE_SOURCE = "Segment"


@dataclass(slots=True)
class EntityUpdate:
    """Several actions for one customer or contact folded into one desired change."""

    kind: str
    external_id: str
    fields: dict[str, Any] = field(default_factory=dict)
    custom: dict[str, Any] = field(default_factory=dict)
    company_id: str | None = None
    company_name: str | None = None
    touches_record: bool = False

    def absorb(self, action: Action) -> None:
        """Fold a later action in: its values win."""
        self.fields.update(action.fields)
        self.custom.update(action.custom)
        if action.company_id is not None:
            self.company_id = action.company_id
            self.company_name = action.company_name or self.company_name
        self.touches_record = self.touches_record or action.kind != "audience"


def fold(items: Sequence[PlannedEvent]) -> list[EntityUpdate]:
    """The updates a run of events amounts to, in first-seen order."""
    updates: dict[tuple[str, str], EntityUpdate] = {}
    for item in items:
        for action in item.plan.actions:
            kind = "customer" if action.entity.startswith("customer:") else "contact"
            key = (kind, action.external_id)
            if key not in updates:
                updates[key] = EntityUpdate(kind=kind, external_id=action.external_id)
            updates[key].absorb(action)
    return list(updates.values())


def typed_attributes(values: dict[str, Any]) -> list[CustomAttribute]:
    """Typed custom attributes; ISO date-time strings become ``Timestamp``."""
    attributes = []
    for key, value in values.items():
        if isinstance(value, str) and _DATETIME.match(value) and parse_time(value):
            attributes.append(CustomAttribute.infer(key, parse_time(value), ATTRIBUTE_SOURCE))
        else:
            attributes.append(CustomAttribute.infer(key, value, ATTRIBUTE_SOURCE))
    return attributes


class ApiDelivery:
    """Upserts customers and contacts in one data source through the client."""

    coalesces = True

    def __init__(self, client: ChartMogulClient, queue: EventQueue, data_source: str) -> None:
        self._client = client
        self._queue = queue
        self._data_source_name = data_source
        self._data_source_uuid: str | None = None
        self._source_lock = asyncio.Lock()
        self._counters: Counter[str] = Counter()
        client.add_request_hook(self._count)

    def _count(self, entry: RequestLogEntry) -> None:
        self._counters["api_calls"] += 1
        if entry.attempt > 1:
            self._counters["api_retries"] += 1

    def take_counters(self) -> dict[str, int]:
        """API calls (and retries) since the last call."""
        taken = dict(self._counters)
        self._counters.clear()
        return taken

    async def aclose(self) -> None:
        """Close the client."""
        await self._client.aclose()

    async def deliver(self, entity: str, items: Sequence[PlannedEvent]) -> list[Verdict]:
        """Apply the folded update of ``items``; every item shares the outcome."""
        del entity
        try:
            for update in fold(items):
                if update.kind == "customer":
                    await self._upsert_customer(update)
                else:
                    await self._upsert_contact(update)
        except Exception as exc:
            kind, reason = classify(exc)
            return [Verdict(item.event.seq, kind, reason) for item in items]
        return [Verdict(item.event.seq, "delivered") for item in items]

    async def _source(self) -> str:
        async with self._source_lock:  # parallel entities must not race to create it
            if self._data_source_uuid is None:
                sources = self._client.data_sources
                found = await sources.find_by_name(self._data_source_name)
                source = found or await sources.create(self._data_source_name)
                self._data_source_uuid = source.uuid
            return self._data_source_uuid

    async def _customer_uuid(self, external_id: str) -> str | None:
        remembered = self._queue.entity("customer", external_id)
        if remembered is not None:
            return remembered[0]
        found = await self._client.customers.find_by_external_id(external_id, await self._source())
        if found is not None:
            self._queue.remember("customer", external_id, found.uuid)
            return found.uuid
        return None

    async def _create_customer(
        self, external_id: str, fields: dict[str, Any], custom: dict[str, Any]
    ) -> str:
        values: dict[str, Any] = {"name": external_id, **fields}
        if custom:
            values["attributes"] = NewCustomerAttributes(custom=typed_attributes(custom))
        new = NewCustomer(data_source_uuid=await self._source(), external_id=external_id, **values)
        try:
            created = await self._client.customers.create(new)
        except AlreadyExistsError:
            # another entity's delivery (a contact naming this company) created it first
            uuid = await self._customer_uuid(external_id)
            if uuid is None:
                raise
            await self._change_customer(uuid, fields, custom)
            return uuid
        self._queue.remember("customer", external_id, created.uuid)
        return created.uuid

    async def _change_customer(
        self, uuid: str, fields: dict[str, Any], custom: dict[str, Any]
    ) -> None:
        if fields:
            await self._client.customers.update(uuid, CustomerUpdate(**fields))
        if custom:
            await self._client.custom_attributes.add(uuid, typed_attributes(custom))

    async def _upsert_customer(self, update: EntityUpdate) -> str:
        uuid = await self._customer_uuid(update.external_id)
        if uuid is None:
            return await self._create_customer(update.external_id, update.fields, update.custom)
        try:
            await self._change_customer(uuid, update.fields, update.custom)
        except NotFoundError:
            # the remembered customer was deleted in ChartMogul: resolve it afresh
            self._queue.forget("customer", update.external_id)
            if await self._customer_uuid(update.external_id) is not None:
                raise
            return await self._create_customer(update.external_id, update.fields, update.custom)
        return uuid

    async def _ensure_customer(self, external_id: str, fields: dict[str, Any]) -> str:
        uuid = await self._customer_uuid(external_id)
        return uuid or await self._create_customer(external_id, fields, {})

    async def _upsert_contact(self, update: EntityUpdate) -> None:
        company_uuid = None
        if update.company_id is not None:
            company_fields = {"name": update.company_name} if update.company_name else {}
            company_uuid = await self._ensure_customer(update.company_id, company_fields)
        contact_uuid, customer_uuid = await self._find_contact(update, company_uuid)
        fields = update.fields
        if contact_uuid is not None and update.touches_record and fields:
            try:
                await self._client.contacts.update(contact_uuid, ContactUpdate(**fields))
            except NotFoundError:
                self._queue.forget("contact", update.external_id)
                contact_uuid = None
        if contact_uuid is None:
            customer_uuid = company_uuid or await self._ensure_customer(
                update.external_id, _own_customer_fields(fields)
            )
            created = await self._client.contacts.create(
                NewContact(
                    customer_uuid=customer_uuid,
                    data_source_uuid=await self._source(),
                    external_id=update.external_id,
                    **fields,
                )
            )
            contact_uuid = created.uuid
        self._queue.remember("contact", update.external_id, contact_uuid, customer_uuid)
        target = company_uuid or customer_uuid
        if update.custom and target is not None:
            await self._client.custom_attributes.add(target, typed_attributes(update.custom))

    async def _find_contact(
        self, update: EntityUpdate, company_uuid: str | None
    ) -> tuple[str | None, str | None]:
        remembered = self._queue.entity("contact", update.external_id)
        if remembered is not None:
            return remembered
        owners = [company_uuid] if company_uuid else []
        own = await self._customer_uuid(update.external_id)
        if own is not None and own not in owners:
            owners.append(own)
        for owner in owners:
            async for contact in self._client.contacts.list(customer_uuid=owner):
                if contact.external_id == update.external_id:
                    return contact.uuid, contact.customer_uuid
        email = update.fields.get("email")
        if email:
            source = await self._source()
            async for contact in self._client.contacts.list(data_source_uuid=source, email=email):
                if contact.external_id == update.external_id:
                    return contact.uuid, contact.customer_uuid
        return None, None


def _own_customer_fields(fields: dict[str, Any]) -> dict[str, Any]:
    """A person's own customer: named after them (or their email), with their email."""
    full_name = " ".join(
        part for part in (fields.get("first_name"), fields.get("last_name")) if part
    )
    own: dict[str, Any] = {}
    if full_name or fields.get("email"):
        own["name"] = full_name or fields["email"]
    if fields.get("email"):
        own["email"] = fields["email"]
    return own

"""``api`` delivery: events become ChartMogul customers, contacts and custom attributes.

Everything goes through our client (``mogulsync.chartmogul``), so the account's shared
rate limiter paces it. The pending events of one entity are first folded into one update
(later values win), so a burst for the same customer or contact costs one round of calls:

- a customer (Send Customer) is upserted by external id in the configured data source:
  created with its typed custom attributes in one call, or updated (``PATCH``) and given
  its custom attributes (``POST .../attributes/custom``);
- a contact (Send Contact) belongs to its ``company.id`` customer (created when new);
  without a company a new contact gets a customer of its own keyed by the contact's id,
  as ChartMogul's "create a company when a user is created" setting does, or, with
  ``contacts_without_company: skip`` ("when the user is added to a company"), is not
  imported: its events are skipped until one names a company (a contact imported before
  is still updated);
- audience traits become Boolean custom attributes of the contact's customer.

The uuids that external ids resolved to are remembered in the queue database, so after
the first event of an entity an update costs one call.

- **in-flight events** (sent when the process died, or a send that failed in a way that
  may have reached ChartMogul) are *checked*: the records are read and only values
  ChartMogul does not hold yet are written, so an effect that landed is not written twice;
- a **contact that moves** to another company is created under the new company's
  customer and the old contact is merged into it (a contact's customer cannot be changed);
  a burst's move away from audience traits folded before it waits for the next round, so
  a redelivery of those traits never finds the contact moved already;
- a **refused coalesced update** is bisected: halves are delivered in order until the
  refused events are isolated, so only they become dead letters.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from mogulsync.chartmogul import (
    AlreadyExistsError,
    ChartMogulClient,
    Contact,
    ContactUpdate,
    CustomAttribute,
    CustomerUpdate,
    NewContact,
    NewCustomer,
    NewCustomerAttributes,
    NotFoundError,
    RequestLogEntry,
)
from mogulsync.config.events import ContactsWithoutCompany
from mogulsync.events._compare import changes
from mogulsync.events.delivery import HOLD_REASON, NEXT_REASON, PlannedEvent, Verdict, classify
from mogulsync.events.mappings import Action
from mogulsync.events.queue import EventQueue
from mogulsync.events.schema import parse_time

_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")
ATTRIBUTE_SOURCE = "Segment"
NOT_LINKED = (
    "The person is not linked to a company (no company.id) and events.contacts_without_company"
    " is skip: not imported until an identify names their company."
)


class NotLinkedError(Exception):
    """A new contact without a company, while such contacts are not imported."""


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
    #: every company the folded events named (id → name), in order: each is a customer
    companies: dict[str, str | None] = field(default_factory=dict)

    def absorb(self, action: Action) -> None:
        """Fold a later action in: its values win."""
        self.fields.update(action.fields)
        self.custom.update(action.custom)
        if action.company_id is not None:
            # a company's name is for creating it: the first name the burst gave that
            # company, never another company's
            named = self.companies.get(action.company_id) or action.company_name
            self.companies[action.company_id] = named
            self.company_id = action.company_id
            self.company_name = named
        self.touches_record = self.touches_record or action.kind != "audience"


@dataclass(frozen=True, slots=True)
class FoundContact:
    """A contact in ChartMogul: its uuid, its customer, and its record when it was read."""

    uuid: str
    customer_uuid: str | None
    current: Contact | None = None
    #: created (or moved) by this delivery with the update's values already
    fresh: bool = False


def fold(items: Sequence[PlannedEvent]) -> tuple[list[EntityUpdate], int]:
    """The updates the leading events amount to, in first-seen order, and how many events
    that is: all, or those before the first event that moves a contact away from the
    customer its audience attributes folded so far belong to.

    The events from that move on go in a later round, once the earlier ones are recorded
    delivered. Sent together, a redelivery of both (a crash, a lost answer) would find
    the contact already moved: a company-less event's audience attributes (they belong to
    the contact's customer) would land on the new company, and a named company's would
    move the contact back and forth.
    """
    updates: list[EntityUpdate] = []
    open_updates: dict[tuple[str, str], EntityUpdate] = {}
    for index, item in enumerate(items):
        keyed = [(_update_key(action), action) for action in item.plan.actions]
        if any(
            key in open_updates and _retargets(open_updates[key], action) for key, action in keyed
        ):
            return updates, index  # never 0: the first event opens every update
        for (kind, external_id), action in keyed:
            update = open_updates.get((kind, external_id))
            if update is None:
                update = EntityUpdate(kind=kind, external_id=external_id)
                open_updates[kind, external_id] = update
                updates.append(update)
            update.absorb(action)
    return updates, len(items)


def _update_key(action: Action) -> tuple[str, str]:
    return ("customer" if action.entity.startswith("customer:") else "contact"), action.external_id


def _retargets(update: EntityUpdate, action: Action) -> bool:
    """Whether ``action`` would move custom attributes folded so far to another customer."""
    return (
        update.kind == "contact"
        and bool(update.custom)
        and action.company_id is not None
        and action.company_id != update.company_id
    )


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

    def __init__(
        self,
        client: ChartMogulClient,
        queue: EventQueue,
        data_source: str,
        *,
        contacts_without_company: ContactsWithoutCompany = "own_customer",
    ) -> None:
        self._client = client
        self._own_customers = contacts_without_company == "own_customer"
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
        return await self._deliver_run(list(items))

    async def _deliver_run(self, items: list[PlannedEvent]) -> list[Verdict]:
        updates, count = fold(items)
        if count < len(items):
            first = await self._deliver_run(items[:count])
            if any(verdict.kind == "retry" for verdict in first):
                return first + [
                    Verdict(item.event.seq, "hold", HOLD_REASON) for item in items[count:]
                ]
            return first + [Verdict(item.event.seq, "next", NEXT_REASON) for item in items[count:]]
        check = any(item.event.inflight for item in items)
        try:
            for update in updates:
                if update.kind == "customer":
                    await self._upsert_customer(update, check=check)
                else:
                    await self._upsert_contact(update, check=check)
        except NotLinkedError:
            return [Verdict(item.event.seq, "skipped", NOT_LINKED) for item in items]
        except Exception as exc:
            kind, reason = classify(exc)
            if kind == "dead" and len(items) > 1:
                return await self._bisect(items)
            return [Verdict(item.event.seq, kind, reason) for item in items]
        return [Verdict(item.event.seq, "delivered") for item in items]

    async def _bisect(self, items: list[PlannedEvent]) -> list[Verdict]:
        """ChartMogul refused a coalesced update: find the events it refuses, in order."""
        self._counters["bisections"] += 1
        middle = len(items) // 2
        first = await self._deliver_run(items[:middle])
        if any(verdict.kind == "retry" for verdict in first):
            # ordering: the rest waits until the first half has gone through
            return first + [Verdict(item.event.seq, "hold", HOLD_REASON) for item in items[middle:]]
        return first + await self._deliver_run(items[middle:])

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
        self,
        external_id: str,
        fields: dict[str, Any],
        custom: dict[str, Any],
        *,
        update_existing: bool = True,
    ) -> str:
        """Create the customer; if another entity's delivery created it first, update it
        with our values (a group's), or, without ``update_existing`` (a company a contact
        names, whose values are for creating it only), leave it as it is."""
        values: dict[str, Any] = {"name": external_id, **fields}
        if custom:
            values["attributes"] = NewCustomerAttributes(custom=typed_attributes(custom))
        new = NewCustomer(data_source_uuid=await self._source(), external_id=external_id, **values)
        try:
            created, ours = await self._client.customers.create_or_find(new)
        except AlreadyExistsError:
            # another entity's delivery (a contact naming this company) created it first
            uuid = await self._customer_uuid(external_id)
            if uuid is None:
                raise
            if update_existing:
                await self._change_customer(uuid, fields, custom)
            return uuid
        self._queue.remember("customer", external_id, created.uuid)
        if not ours and update_existing:
            # The answer was lost and a lookup found the customer: maybe our create, maybe
            # another entity's made meanwhile ("already exists", lost too), which holds none
            # of our values. Writing them again is harmless (absolute values).
            await self._change_customer(created.uuid, fields, custom)
        return created.uuid

    async def _change_customer(
        self, uuid: str, fields: dict[str, Any], custom: dict[str, Any]
    ) -> None:
        if fields:
            await self._client.customers.update(uuid, CustomerUpdate(**fields))
        if custom:
            await self._client.custom_attributes.add(uuid, typed_attributes(custom))

    async def _upsert_customer(self, update: EntityUpdate, *, check: bool = False) -> str:
        uuid = await self._customer_uuid(update.external_id)
        if uuid is None:
            return await self._create_customer(update.external_id, update.fields, update.custom)
        try:
            fields, custom = update.fields, update.custom
            if check:
                fields, custom = await self._missing_on_customer(uuid, fields, custom)
            await self._change_customer(uuid, fields, custom)
        except NotFoundError:
            # the remembered customer was deleted in ChartMogul: resolve it afresh
            self._queue.forget("customer", update.external_id)
            if await self._customer_uuid(update.external_id) is not None:
                raise
            return await self._create_customer(update.external_id, update.fields, update.custom)
        return uuid

    async def _missing_on_customer(
        self, uuid: str, fields: dict[str, Any], custom: dict[str, Any]
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """The fields and custom attributes the customer does not hold yet."""
        current = await self._client.customers.get(uuid)
        stored = current.model_dump()
        held = current.attributes.custom if current.attributes else {}
        missing = changes(stored, fields), changes(held, custom)
        if not any(missing) and (fields or custom):
            self._counters["checked_already_applied"] += 1
        return missing

    async def _ensure_customer(self, external_id: str, fields: dict[str, Any]) -> str:
        """A contact's customer: created with ``fields`` when new, else left as it is."""
        uuid = await self._customer_uuid(external_id)
        return uuid or await self._create_customer(external_id, fields, {}, update_existing=False)

    async def _upsert_contact(self, update: EntityUpdate, *, check: bool = False) -> None:
        try:
            await self._upsert_contact_once(update, check=check)
        except NotFoundError as exc:
            if exc.resource != "customer":
                raise
            # a remembered customer was deleted in ChartMogul (with its contacts): resolve
            # the customers and the contact afresh and retry once, rather than dead-letter
            # this and every later event naming the stale uuid
            for external_id in {update.external_id, *update.companies}:
                self._queue.forget("customer", external_id)
            self._queue.forget("contact", update.external_id)
            await self._upsert_contact_once(update, check=check)

    async def _upsert_contact_once(self, update: EntityUpdate, *, check: bool) -> None:
        await self._ensure_earlier_companies(update)
        company_uuid = None
        if update.company_id is not None:
            company_fields = {"name": update.company_name} if update.company_name else {}
            company_uuid = await self._ensure_customer(update.company_id, company_fields)
        found = await self._find_contact(update, company_uuid, check=check)
        if found is not None and company_uuid is not None and found.customer_uuid != company_uuid:
            found = await self._move_contact(update, found, company_uuid)
        if found is not None and not found.fresh and update.touches_record and update.fields:
            found = await self._update_contact(update, found, check=check)
        if found is None and company_uuid is None and not self._own_customers:
            raise NotLinkedError
        if found is None:
            customer_uuid = company_uuid or await self._ensure_customer(
                update.external_id, _own_customer_fields(update.fields)
            )
            found = await self._create_contact(update, customer_uuid)
        self._queue.remember("contact", update.external_id, found.uuid, found.customer_uuid)
        target = company_uuid or found.customer_uuid
        if update.custom and target is not None:
            custom = update.custom
            if check:
                _, custom = await self._missing_on_customer(target, {}, custom)
            if custom:
                await self._client.custom_attributes.add(target, typed_attributes(custom))

    async def _ensure_earlier_companies(self, update: EntityUpdate) -> None:
        """Companies an earlier event of the burst named exist, as they would unfolded."""
        for company_id, name in update.companies.items():
            if company_id != update.company_id:
                await self._ensure_customer(company_id, {"name": name} if name else {})

    async def _update_contact(
        self, update: EntityUpdate, found: FoundContact, *, check: bool
    ) -> FoundContact | None:
        """PATCH the contact (only what it lacks, when checking); None if it is gone."""
        fields = update.fields
        if check and found.current is not None:
            fields = changes(found.current.model_dump(), fields)
            if not fields:
                self._counters["checked_already_applied"] += 1
                return found
        try:
            await self._client.contacts.update(found.uuid, ContactUpdate(**fields))
        except NotFoundError:
            self._queue.forget("contact", update.external_id)
            return None
        return found

    async def _create_contact(self, update: EntityUpdate, customer_uuid: str) -> FoundContact:
        created = await self._client.contacts.create(
            NewContact(
                customer_uuid=customer_uuid,
                data_source_uuid=await self._source(),
                external_id=update.external_id,
                **update.fields,
            )
        )
        return FoundContact(created.uuid, customer_uuid, created, fresh=True)

    async def _move_contact(
        self, update: EntityUpdate, found: FoundContact, company_uuid: str
    ) -> FoundContact:
        """The contact's company changed: ChartMogul cannot re-parent a contact, so create
        it under the new customer and merge the old one into it (keeping its notes and
        custom fields). Safe to repeat after a crash: a contact already created under the
        new customer is reused, and an old one already merged away is skipped."""
        moved = await self._contact_under(company_uuid, update.external_id)
        if moved is None:
            moved = await self._create_contact(update, company_uuid)
        if moved.uuid != found.uuid:
            with contextlib.suppress(NotFoundError):  # merged before a crash
                await self._client.contacts.merge(moved.uuid, found.uuid)
            self._counters["contacts_moved"] += 1
        return moved

    async def _contact_under(self, customer_uuid: str, external_id: str) -> FoundContact | None:
        async for contact in self._client.contacts.list(customer_uuid=customer_uuid):
            if contact.external_id == external_id:
                return FoundContact(contact.uuid, contact.customer_uuid, contact)
        return None

    async def _find_contact(
        self, update: EntityUpdate, company_uuid: str | None, *, check: bool
    ) -> FoundContact | None:
        remembered = self._queue.entity("contact", update.external_id)
        if remembered is not None:
            if not check:
                return FoundContact(*remembered)
            try:  # read it: what it holds decides what is still to write
                current = await self._client.contacts.get(remembered[0])
            except NotFoundError:
                self._queue.forget("contact", update.external_id)
            else:
                return FoundContact(current.uuid, current.customer_uuid, current)
        email = update.fields.get("email")
        if email:
            found = await self._contact_by_email(update.external_id, email)
            # Not remembered and not in doubt: a contact we never created. One filtered
            # lookup by email finds it if it exists; listing whole customers (a company
            # may have thousands of contacts) is kept for when a crash left a doubt.
            if found is not None or not check:
                return found
        owners = [company_uuid] if company_uuid else []
        own = await self._customer_uuid(update.external_id)
        if own is not None and own not in owners:
            owners.append(own)
        for owner in owners:
            found = await self._contact_under(owner, update.external_id)
            if found is not None:
                return found
        return None

    async def _contact_by_email(self, external_id: str, email: str) -> FoundContact | None:
        source = await self._source()
        async for contact in self._client.contacts.list(data_source_uuid=source, email=email):
            if contact.external_id == external_id:
                return FoundContact(contact.uuid, contact.customer_uuid, contact)
        return None


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

"""Contacts: insert, update, upsert under a parent customer.

ChartMogul does not keep contacts unique, so an existing contact is always looked up
(by external id or email among the parent's contacts) before one is created.
"""

from __future__ import annotations

from typing import Any

from mogulsync.chartmogul import (
    Contact,
    ContactCustomField,
    ContactUpdate,
    NewContact,
    NotFoundError,
)
from mogulsync.sync.apply._base import ApplyContext, RowRejectedError, build, found_absent, pick
from mogulsync.sync.apply.resolve import SYNC_CUSTOMERS_FIRST, Resolver
from mogulsync.sync.diff import Prior
from mogulsync.sync.mapping import CustomValue, MappedRow, custom_for_update

#: parents whose contacts' match values a run keeps (oldest forgotten first: re-listed if
#: needed again), so an insert of a million contacts under as many customers stays small
PARENTS_KEPT = 10_000

FIELDS = (
    "first_name",
    "last_name",
    "title",
    "email",
    "phone",
    "linked_in",
    "twitter",
    "notes",
    "position",
)


class ContactApplier:
    """Applies contact rows."""

    def __init__(self, context: ApplyContext, resolver: Resolver) -> None:
        self._context = context
        self._client = context.client
        self._resolver = resolver
        # insert mode: the match values of each parent's contacts, listed once per run (a
        # list before every create doubled an insert's calls) and kept up to date with the
        # contacts this run creates
        self._taken: dict[str, set[str]] = {}
        #: the data source's contacts by external id (None: not listed in this run)
        self._listed: dict[str, list[str]] | None = None
        #: why that listing failed in this run (its other rows fail alike, unlisted)
        self._listing_failed: Exception | None = None

    async def apply(self, row: MappedRow, prior: Prior | None) -> str | None:
        """Create or update per mode and match key; the contact's uuid."""
        payload = row.payload
        sync = self._context.sync
        if sync.match == "uuid":
            uuid = str(payload["uuid"])
            await self._update(uuid, row)
            return uuid
        for attempt in range(2):
            parent = await self._resolver.parent_customer(payload)
            try:
                return await self._under(parent, row, prior)
            except NotFoundError as exc:
                if exc.resource != "customer":
                    raise
                self._taken.pop(parent, None)
                if attempt == 0 and "customer_uuid" not in payload:
                    # the remembered uuid was stale: the customer was deleted in ChartMogul;
                    # look it up again (it may have been re-created) and retry once
                    external_id = str(payload["customer_external_id"])
                    self._resolver.forget("customer", external_id, gone=parent)
                    continue
                raise _no_parent(payload, parent) from None
        raise AssertionError("unreachable")  # pragma: no cover

    async def _under(self, parent: str, row: MappedRow, prior: Prior | None) -> str | None:
        """Create or update the row's contact under the customer ``parent``."""
        payload = row.payload
        sync = self._context.sync
        # compared as the lookups compare: `Ann@x.io` and `ann@x.io` must not race
        lock_key = f"contact:{parent}:{_comparable(sync.match, payload.get(sync.match))}"
        async with self._context.locks(lock_key):
            if sync.mode == "insert":
                if prior is not None and prior.digest is not None and prior.uuid:
                    return prior.uuid  # inserted before; insert mode never updates
                if prior is not None and prior.may_exist:
                    keys = ("external_id", "email")
                    found = await self._find(parent, payload, keys)
                    if found is not None:
                        return found.uuid  # our earlier attempt landed
                    if any(payload.get(key) is not None for key in keys):
                        # only a lookup that ran settles the doubt: a contact with neither
                        # key cannot be looked up, so its earlier attempt may have landed
                        found_absent()
                # ChartMogul keeps contacts unique on nothing: the lookup is the only guard
                # against a twin (one left by on_delete: ignore, or made by another tool)
                elif await self._parent_has(parent, payload.get(sync.match)):
                    raise RowRejectedError(
                        sync.match,
                        f"a contact with {sync.match} {payload.get(sync.match)!r} already exists"
                        " under the customer (insert mode never updates one)",
                        "Use mode `upsert` to update existing contacts, or remove the row.",
                    )
                try:
                    uuid = await self._create(parent, row)
                except BaseException:
                    # it may have landed all the same: list the parent again if asked
                    self._taken.pop(parent, None)
                    raise
                self._note(parent, payload.get(sync.match))
                return uuid
            found = await self._find(parent, payload, (sync.match,))
            if found is not None:
                await self._update(found.uuid, row)
                return found.uuid
            found_absent()
            if sync.mode == "update":
                raise RowRejectedError(
                    sync.match,
                    f"the customer has no contact with {sync.match} {payload.get(sync.match)!r}",
                    "Use mode `upsert` to create missing contacts, or fix the value.",
                )
            return await self._create(parent, row)

    async def delete(self, prior: Prior) -> None:
        """Delete the contact of a row that left the model.

        A row that left while in flight has no known uuid: its contact (if its create
        landed) is found by its external id among the data source's contacts.
        """
        uuids = [prior.uuid] if prior.uuid else []
        if not uuids and prior.ref:
            uuids = (await self._by_external_id()).get(prior.ref, [])
        for uuid in uuids:
            try:
                await self._client.contacts.delete(uuid)
            except NotFoundError:
                continue  # already gone

    async def _by_external_id(self) -> dict[str, list[str]]:
        """The data source's contacts by external id, listed once per run (only for rows
        that left the model while in flight: ChartMogul finds contacts by customer or
        email, not by their external id, and such a row no longer names its customer)."""
        async with self._context.locks("contacts by external id"):
            if self._listing_failed is not None:
                # once per run, failed or not: each row listing the whole data source again
                # would cost pages x rows on a ChartMogul already refusing; the rows stay
                # in the snapshot and the next run lists again
                raise self._listing_failed.with_traceback(None)
            if self._listed is None:
                listed: dict[str, list[str]] = {}
                pager = self._client.contacts.list(data_source_uuid=self._context.data_source_uuid)
                try:
                    async for contact in pager:
                        if contact.external_id is not None:
                            listed.setdefault(contact.external_id, []).append(contact.uuid)
                except Exception as exc:
                    self._listing_failed = exc
                    raise
                self._listed = listed
            return self._listed

    async def _parent_has(self, parent: str, value: object) -> bool:
        """Whether ``parent`` has a contact whose match key is ``value`` (emails in any case)."""
        if value is None:
            return False
        async with self._context.locks(f"contacts of:{parent}"):
            taken = self._taken.get(parent)
            if taken is None:
                key = self._context.sync.match
                taken = set()
                async for contact in self._client.contacts.list(customer_uuid=parent):
                    current = contact.external_id if key == "external_id" else contact.email
                    if current is not None:
                        taken.add(_comparable(key, current))
                self._taken[parent] = taken
                while len(self._taken) > PARENTS_KEPT:
                    del self._taken[next(iter(self._taken))]
        return _comparable(self._context.sync.match, value) in taken

    def _note(self, parent: str, value: object) -> None:
        """``parent`` now has a contact whose match key is ``value``."""
        if value is not None and parent in self._taken:
            self._taken[parent].add(_comparable(self._context.sync.match, value))

    async def _find(self, parent: str, payload: Any, keys: tuple[str, ...]) -> Contact | None:
        for key in keys:
            value = payload.get(key)
            if value is None:
                continue
            email = value if key == "email" else None
            async for contact in self._client.contacts.list(customer_uuid=parent, email=email):
                current = contact.external_id if key == "external_id" else contact.email
                if current is not None and _comparable(key, current) == _comparable(key, value):
                    return contact
        return None

    async def _create(self, parent: str, row: MappedRow) -> str:
        values: dict[str, Any] = {
            "customer_uuid": parent,
            "data_source_uuid": self._context.data_source_uuid,
            **pick(row.payload, (*FIELDS, "external_id")),
        }
        custom = _custom(row.custom)
        if custom:
            values["custom"] = custom
        # a 404 for the customer is handled by apply (the parent's uuid may be stale)
        contact = await self._client.contacts.create(build(NewContact, values))
        return contact.uuid

    async def _update(self, uuid: str, row: MappedRow) -> None:
        values: dict[str, Any] = pick(row.payload, FIELDS)
        custom = _custom(custom_for_update(row.custom))
        if custom:
            values["custom"] = custom
        try:
            await self._client.contacts.update(uuid, build(ContactUpdate, values))
        except NotFoundError:
            raise RowRejectedError(
                "uuid", f"ChartMogul has no contact {uuid}", "Check the contact uuid."
            ) from None


def _no_parent(payload: Any, parent: str) -> RowRejectedError:
    """The row error for a parent customer ChartMogul does not have."""
    if "customer_uuid" in payload:
        return RowRejectedError(
            "customer_uuid",
            f"ChartMogul has no customer {parent!r}",
            "Map the column holding the customer's ChartMogul uuid (cus_...), or name the"
            " customer by customer_external_id; the row is retried on every run.",
        )
    return RowRejectedError(
        "customer_external_id", "the parent customer does not exist", SYNC_CUSTOMERS_FIRST
    )


def _custom(custom: tuple[CustomValue, ...] | list[CustomValue]) -> list[ContactCustomField]:
    return [
        ContactCustomField(key=item.key, value=item.value)
        for item in custom
        if item.value is not None
    ]


def _comparable(key: str, value: object) -> str:
    """A match key's value as contacts are compared: emails in any case (``Ann@x.io`` is
    ``ann@x.io``), external ids exactly (``K-1`` and ``k-1`` are two records)."""
    return str(value).lower() if key == "email" else str(value)

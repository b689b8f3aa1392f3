"""Customers: insert, update, upsert; matched by external id, email or ChartMogul uuid."""

from __future__ import annotations

from typing import Any

from mogulsync.chartmogul import (
    AlreadyExistsError,
    ChartMogulError,
    CustomerAttributesUpdate,
    CustomerUpdate,
    NewCustomer,
    NewCustomerAttributes,
    NotFoundError,
    PrimaryContact,
)
from mogulsync.sync.apply._base import (
    ApplyContext,
    RowRejectedError,
    build,
    found_absent,
    in_doubt,
    nested,
    pick,
    split_uuids,
    typed_attributes,
)
from mogulsync.sync.apply.resolve import Resolver
from mogulsync.sync.diff import Prior
from mogulsync.sync.mapping import MappedRow, custom_for_update

FIELDS = (
    "name",
    "email",
    "company",
    "country",
    "state",
    "city",
    "zip",
    "lead_created_at",
    "free_trial_started_at",
    "owner",
    "website_url",
)
_UPSERT_HINT = "Use mode `upsert` to update customers that already exist."


def customer_fields(row: MappedRow) -> dict[str, Any]:
    """A new customer's fields (REST create and bulk import share them); may raise
    :class:`RowRejectedError` for a refused primary contact field."""
    payload = row.payload
    attributes: dict[str, Any] = {}
    if "tags" in payload:
        attributes["tags"] = payload["tags"]
    custom = typed_attributes(row.custom)
    if custom:
        attributes["custom"] = custom
    values: dict[str, Any] = {"external_id": payload["external_id"], **pick(payload, FIELDS)}
    if attributes:
        values["attributes"] = NewCustomerAttributes(**attributes)
    contact = nested(payload, "primary_contact.")
    if contact:
        values["primary_contact"] = build(PrimaryContact, contact, "primary_contact.")
    return values


class CustomerApplier:
    """Applies customer rows."""

    def __init__(self, context: ApplyContext, resolver: Resolver) -> None:
        self._context = context
        self._client = context.client
        self._resolver = resolver

    async def apply(self, row: MappedRow, prior: Prior | None) -> str | None:
        """Create or update per mode and match key; the uuid(s) touched."""
        sync = self._context.sync
        if sync.match == "uuid":
            uuid = str(row.payload["uuid"])
            await self._update(uuid, row, missing_field="uuid")
            return uuid
        if sync.match == "email":
            return await self._by_email(row, prior)
        return await self._by_external_id(row, prior)

    async def delete(self, prior: Prior) -> None:
        """Delete the customer(s) of a row that left the model (and forget its uuid)."""
        if prior.ref:  # contacts and invoices must not name it by its remembered uuid
            self._resolver.forget("customer", prior.ref)
        uuids = split_uuids(prior)
        if not uuids and prior.ref:  # bulk-imported: only the external id is known
            found = await self._client.customers.find_by_external_id(
                prior.ref, self._context.data_source_uuid
            )
            uuids = [found.uuid] if found else []
        for uuid in uuids:
            try:
                await self._client.customers.delete(uuid)
            except NotFoundError:
                continue  # already gone

    # ------------------------------------------------------------------ matching
    async def _by_external_id(self, row: MappedRow, prior: Prior | None) -> str | None:
        external_id = str(row.payload["external_id"])
        mode = self._context.sync.mode
        async with self._context.locks(f"customer:{external_id}"):
            if mode == "insert":
                return await self._insert(row, prior)
            if prior is not None and prior.uuid:
                try:
                    await self._update(prior.uuid, row, missing_field="external_id")
                except RowRejectedError:
                    pass  # deleted or merged in ChartMogul: look it up again below
                else:
                    return prior.uuid
            if mode == "upsert" and (prior is None or not prior.may_exist):
                # Never synced: create straight away (one call); a customer that already
                # exists answers 422, is looked up by the client and then updated.
                return await self._create(row, existing_is_ours=True)
            found = await self._client.customers.find_by_external_id(
                external_id, self._context.data_source_uuid
            )
            if found is not None:
                await self._update(found.uuid, row, missing_field="external_id")
                self._resolver.learn("customer", external_id, found.uuid)
                return found.uuid
            found_absent()
            if mode == "update":
                raise RowRejectedError(
                    "external_id",
                    f"no customer with external_id {external_id!r} in this data source",
                    "Use mode `upsert` to create missing customers, or fix the external_id.",
                )
            return await self._create(row, existing_is_ours=True)

    async def _insert(self, row: MappedRow, prior: Prior | None) -> str | None:
        if prior is not None and prior.digest is not None:
            return prior.uuid  # inserted before (uuid unknown after a bulk import); never updated
        if in_doubt(prior):
            # in flight: look first, so a refusal of the create below is known to be one
            # of a row that is not in ChartMogul (not a doubt kept for ever)
            external_id = str(row.payload["external_id"])
            found = await self._client.customers.find_by_external_id(
                external_id, self._context.data_source_uuid
            )
            if found is not None:  # our earlier attempt landed
                self._resolver.learn("customer", external_id, found.uuid)
                return found.uuid
            found_absent()
        return await self._create(row, existing_is_ours=prior is not None and prior.may_exist)

    async def _by_email(self, row: MappedRow, prior: Prior | None) -> str:
        email = str(row.payload["email"])
        async with self._context.locks(f"customer-email:{email.lower()}"):
            found = [c.uuid async for c in self._client.customers.search_by_email(email)]
            mode = self._context.sync.mode
            if found and mode != "insert":
                for uuid in found:  # email is not unique: every match is updated
                    await self._update(uuid, row, missing_field="email")
                return ",".join(found)
            if not found:
                found_absent()
            if found and not (prior is not None and prior.may_exist):
                raise RowRejectedError(
                    "email",
                    f"{len(found)} customer(s) with email {email!r} already exist",
                    _UPSERT_HINT,
                )
            if found:
                return ",".join(found)  # our own earlier insert landed
            if mode == "update":
                raise RowRejectedError(
                    "email",
                    f"no customer has the email {email!r}",
                    "Use mode `upsert` to create missing customers, or fix the email.",
                )
            return await self._create(row, existing_is_ours=True)

    # ------------------------------------------------------------------ writes
    async def _create(self, row: MappedRow, *, existing_is_ours: bool) -> str:
        values = {"data_source_uuid": self._context.data_source_uuid, **customer_fields(row)}
        new = build(NewCustomer, values)
        try:
            customer, created = await self._client.customers.create_or_find(new)
        except AlreadyExistsError as exc:
            existing = exc.existing_uuid
            if existing_is_ours and existing is None:
                try:
                    found = await self._client.customers.find_by_external_id(
                        new.external_id, self._context.data_source_uuid
                    )
                except ChartMogulError as failed:
                    # the lookup failed: the holder may still be this call's own lost attempt
                    failed.earlier_attempt_unknown |= exc.earlier_attempt_unknown
                    raise
                existing = found.uuid if found else None
            if existing_is_ours and existing:
                if self._context.sync.mode != "insert":
                    await self._update(existing, row, missing_field="external_id")
                self._resolver.learn("customer", new.external_id, existing)
                return existing
            if exc.earlier_attempt_unknown and existing is None:
                # an attempt of this call got no answer and the holder could not be looked
                # up: it may be that attempt's record; "already exists" would refuse the row
                # for its own record from now on. Kept in flight: the next run looks it up.
                raise
            raise RowRejectedError(
                "external_id",
                f"a customer with external_id {new.external_id!r} already exists in this"
                " data source",
                _UPSERT_HINT,
            ) from None
        if not created and self._context.sync.mode != "insert":
            # found by the lookup after an unanswered create: maybe a customer that existed
            # before, which the create never changed; updating is right either way
            await self._update(customer.uuid, row, missing_field="external_id")
        self._resolver.learn("customer", new.external_id, customer.uuid)
        return customer.uuid

    async def _update(self, uuid: str, row: MappedRow, *, missing_field: str) -> None:
        payload = row.payload
        values: dict[str, Any] = pick(payload, FIELDS)
        if "tags" in payload:
            values["attributes"] = CustomerAttributesUpdate(tags=payload["tags"])
        contact = nested(payload, "primary_contact.")
        if contact:
            values["primary_contact"] = build(PrimaryContact, contact, "primary_contact.")
        try:
            if values:
                await self._client.customers.update(uuid, build(CustomerUpdate, values))
            custom = typed_attributes(custom_for_update(row.custom))
            if custom:
                await self._client.custom_attributes.add(uuid, custom)
        except NotFoundError:
            raise RowRejectedError(
                missing_field,
                f"ChartMogul has no customer {uuid}",
                "Check the value; the customer may have been deleted or merged.",
            ) from None

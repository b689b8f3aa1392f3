"""Invoices (with line items and inline transactions) and standalone transactions: insert.

ChartMogul keeps invoice and transaction external ids unique per data source, so re-sending
one that already landed answers 422 "already exists": that is recognised as delivered (after
checking the holder really is this invoice / transaction), never duplicated, never a failure.
"""

from __future__ import annotations

from typing import Any

from mogulsync.chartmogul import (
    AlreadyExistsError,
    ChartMogulError,
    NewInvoice,
    NewLineItem,
    NewTransaction,
    NotFoundError,
    ValidationError,
)
from mogulsync.sync.apply._base import (
    ApplyContext,
    RowRejectedError,
    build,
    found_absent,
    in_doubt,
)
from mogulsync.sync.apply.resolve import Resolver
from mogulsync.sync.child_fields import child_section, pin
from mogulsync.sync.diff import Prior
from mogulsync.sync.mapping import MappedRow

_INVOICE_FIELDS = ("external_id", "date", "currency", "due_date", "collection_method")


class InvoiceApplier:
    """Applies invoice rows."""

    def __init__(self, context: ApplyContext, resolver: Resolver) -> None:
        self._context = context
        self._client = context.client
        self._resolver = resolver

    async def apply(self, row: MappedRow, prior: Prior | None) -> str | None:
        """Import the invoice into its customer; its uuid."""
        if prior is not None and prior.digest is not None:
            return prior.uuid  # delivered before (uuid unknown after a bulk import); insert-only
        payload = row.payload
        # a missing customer is the first thing to report
        await self._resolver.parent_customer(payload)
        landed = await self._landed(prior, str(payload["external_id"]))
        if landed is not None:
            return landed
        for attempt in range(2):
            invoice, plans = await self._invoice(payload)
            customer = await self._resolver.parent_customer(payload)
            try:
                imported = await self._client.invoices.import_one(customer, invoice)
            except AlreadyExistsError as exc:
                return await self._holder(exc, invoice.external_id, customer, payload)
            except NotFoundError as exc:
                if exc.resource == "customer" and attempt == 0 and "customer_uuid" not in payload:
                    # the remembered uuid was stale: the customer was deleted in ChartMogul
                    external_id = str(payload["customer_external_id"])
                    self._resolver.forget("customer", external_id, gone=customer)
                    continue
                raise
            except ValidationError as exc:
                if attempt == 0 and plans and _names_plan_uuid(exc):
                    # a plan uuid we resolved may be stale (the plan deleted in ChartMogul):
                    # look each of the invoice's plans up again, then retry once
                    for external_id, uuid in plans.items():
                        self._resolver.forget("plan", external_id, gone=uuid)
                    continue
                raise _pinned(exc, payload) from None
            self._resolver.learn("invoice", invoice.external_id, imported.uuid or "")
            return imported.uuid
        raise AssertionError("unreachable")  # pragma: no cover

    async def _holder(
        self, exc: AlreadyExistsError, external_id: str, customer: str, payload: Any
    ) -> str:
        """The uuid of the invoice already holding ``external_id`` (already delivered), or
        the refusal: a line item or transaction id is taken elsewhere."""
        try:
            found = await self._client.invoices.find_by_external_id(
                external_id, customer_uuid=customer
            )
        except ChartMogulError as failed:
            # the holder may still be this call's own lost attempt: keep that known
            failed.earlier_attempt_unknown |= exc.earlier_attempt_unknown
            raise
        if found is None:
            raise _pinned(exc, payload) from None
        return found.uuid

    async def _landed(self, prior: Prior | None, external_id: str) -> str | None:
        """A row in flight is looked up first: the uuid of the invoice its earlier attempt
        created, or None (noted: the row is not in ChartMogul, so a refusal of its import
        is an ordinary one). None at once for a row not in flight."""
        if not in_doubt(prior):
            return None
        landed = await self._client.invoices.find_by_external_id(
            external_id, data_source_uuid=self._context.data_source_uuid
        )
        if landed is None:
            found_absent()
            return None
        self._resolver.learn("invoice", external_id, landed.uuid)
        return landed.uuid

    async def delete(self, prior: Prior) -> None:
        """Delete the invoice of a row that left the model (and forget its uuid)."""
        if prior.ref:  # transactions must not name the deleted invoice by its remembered uuid
            self._resolver.forget("invoice", prior.ref)
        uuid = prior.uuid
        if not uuid and prior.ref:  # bulk-imported: only the external id is known
            found = await self._client.invoices.find_by_external_id(
                prior.ref, data_source_uuid=self._context.data_source_uuid
            )
            uuid = found.uuid if found else None
        if uuid:
            try:
                await self._client.invoices.delete(uuid)
            except NotFoundError:
                return

    async def _invoice(self, payload: Any) -> tuple[NewInvoice, dict[str, str]]:
        """The invoice to import, and the plan uuids it names that we resolved (by external
        id: the uuid the registry or a lookup gave)."""
        lines: list[NewLineItem] = []
        plans: dict[str, str] = {}
        for index, item in enumerate(payload.get("line_items", [])):
            values = dict(item)
            plan_external_id = values.pop("plan_external_id", None)
            if plan_external_id is not None and "plan_uuid" not in values:
                uuid = await self._resolver.plan(plan_external_id)
                field = f"line_items[{index}].plan_external_id"
                if uuid is None and self._resolver.was_deleted("plan", plan_external_id):
                    raise self._resolver.gone_error("plan", plan_external_id, field)
                if uuid is None:
                    raise RowRejectedError(
                        field,
                        f"no plan with external_id {plan_external_id!r} in this data source",
                        "Sync plans first, then re-run; the row is retried on every run.",
                    )
                values["plan_uuid"] = plans[plan_external_id] = uuid
            lines.append(build(NewLineItem, values, f"line_items[{index}]."))
        transactions = [
            build(NewTransaction, item, f"transactions[{index}].")
            for index, item in enumerate(payload.get("transactions", []))
        ]
        values = {name: payload[name] for name in _INVOICE_FIELDS if name in payload}
        if "customer_external_id" in payload:
            values["customer_external_id"] = payload["customer_external_id"]
        values["data_source_uuid"] = self._context.data_source_uuid
        invoice = build(NewInvoice, {**values, "line_items": lines, "transactions": transactions})
        return invoice, plans


def _names_plan_uuid(exc: ValidationError) -> bool:
    """Whether ChartMogul refused a line item's ``plan_uuid`` (a field we fill in)."""
    return any(
        child_section(name) == "line_items" and name.endswith(".plan_uuid")
        for name in exc.field_errors
    )


def _pinned(exc: ValidationError, payload: Any) -> ValidationError:
    """``exc`` with its child fields named as the row names them (``line_items[2].x``).

    ChartMogul's invoice import says ``invoices[<id>].line_items.x``; the row is the
    invoice, and the index (or the child's external id) says which of its line items.
    """
    fields: dict[str, str] = {}
    renamed: dict[str, str] = {}
    for name, message in exc.field_errors.items():
        pinned = pin(payload, name, message)
        fields[pinned.field] = f"{message}{pinned.note}"
        renamed[name] = pinned.field
    if isinstance(exc, AlreadyExistsError):
        exc.field = renamed.get(exc.field) or pin(payload, exc.field, exc.message).field
    exc.field_errors = fields
    return exc


class TransactionApplier:
    """Applies transaction rows to invoices named by uuid or found by their external id."""

    def __init__(self, context: ApplyContext, resolver: Resolver) -> None:
        self._context = context
        self._client = context.client
        self._resolver = resolver

    async def apply(self, row: MappedRow, prior: Prior | None) -> str | None:
        """Add the transaction to its invoice; its uuid."""
        if prior is not None and prior.digest is not None:
            return prior.uuid  # delivered before (maybe by bulk import); insert-only
        payload = dict(row.payload)
        named_uuid = payload.pop("invoice_uuid", None)
        invoice_external_id = payload.pop("invoice_external_id", None)
        # a missing invoice is the first thing to report
        invoice_uuid = named_uuid or await self._invoice_of(str(invoice_external_id))
        transaction = build(NewTransaction, payload)
        for attempt in range(2):
            if attempt:
                invoice_uuid = await self._invoice_of(str(invoice_external_id))
            try:
                created = await self._client.transactions.create(invoice_uuid, transaction)
            except AlreadyExistsError as exc:
                if exc.existing_uuid:
                    return exc.existing_uuid  # already delivered to this invoice
                raise
            except NotFoundError as exc:
                if exc.resource != "invoice":
                    raise
                if named_uuid is None and attempt == 0:
                    # the remembered uuid was stale: the invoice was deleted in ChartMogul
                    self._resolver.forget("invoice", str(invoice_external_id), gone=invoice_uuid)
                    continue
                if named_uuid is None:
                    raise
                raise RowRejectedError(
                    "invoice_uuid",
                    f"ChartMogul has no invoice {named_uuid!r}",
                    "Map the column holding the invoice's ChartMogul uuid (inv_...), or name the"
                    " invoice by invoice_external_id; the row is retried on every run.",
                ) from None
            return created.uuid
        raise AssertionError("unreachable")  # pragma: no cover

    async def _invoice_of(self, external_id: str) -> str:
        """The uuid of the row's invoice, or the row error saying why there is none."""
        uuid = await self._resolver.invoice(external_id)
        if uuid is not None:
            return uuid
        if self._resolver.was_deleted("invoice", external_id):
            raise self._resolver.gone_error("invoice", external_id, "invoice_external_id")
        raise RowRejectedError(
            "invoice_external_id",
            f"no invoice with external_id {external_id!r} in this data source",
            "Sync invoices first, then re-run; the row is retried on every run.",
        )

    async def delete(self, prior: Prior) -> None:
        """Transactions are never deleted (the config refuses ``on_delete: delete``)."""
        raise RowRejectedError(
            "external_id", f"transactions cannot be deleted ({prior.uuid})", "Remove on_delete."
        )

"""Invoices (with line items and inline transactions) and standalone transactions: insert.

ChartMogul keeps invoice and transaction external ids unique per data source, so re-sending
one that already landed answers 422 "already exists": that is recognised as delivered (after
checking the holder really is this invoice / transaction), never duplicated, never a failure.
"""

from __future__ import annotations

from typing import Any

from mogulsync.chartmogul import (
    AlreadyExistsError,
    NewInvoice,
    NewLineItem,
    NewTransaction,
    NotFoundError,
)
from mogulsync.sync.apply._base import ApplyContext, RowRejectedError, build
from mogulsync.sync.apply.resolve import Resolver
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
        invoice = await self._invoice(payload)
        for attempt in range(2):
            customer = await self._resolver.parent_customer(payload)
            try:
                imported = await self._client.invoices.import_one(customer, invoice)
            except AlreadyExistsError:
                found = await self._client.invoices.find_by_external_id(
                    invoice.external_id, customer_uuid=customer
                )
                if found is None:  # a line item or transaction id is taken elsewhere
                    raise
                return found.uuid  # already delivered
            except NotFoundError as exc:
                if exc.resource == "customer" and attempt == 0 and "customer_uuid" not in payload:
                    self._resolver.forget("customer", str(payload["customer_external_id"]))
                    continue  # the remembered uuid was stale
                raise
            self._resolver.learn("invoice", invoice.external_id, imported.uuid or "")
            return imported.uuid
        raise AssertionError("unreachable")  # pragma: no cover

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

    async def _invoice(self, payload: Any) -> NewInvoice:
        lines: list[NewLineItem] = []
        for index, item in enumerate(payload.get("line_items", [])):
            values = dict(item)
            plan_external_id = values.pop("plan_external_id", None)
            if plan_external_id is not None and "plan_uuid" not in values:
                uuid = await self._resolver.plan(plan_external_id)
                if uuid is None:
                    raise RowRejectedError(
                        f"line_items[{index}].plan_external_id",
                        f"no plan with external_id {plan_external_id!r} in this data source",
                        "Sync plans first, then re-run; the row is retried on every run.",
                    )
                values["plan_uuid"] = uuid
            lines.append(build(NewLineItem, values, f"line_items[{index}]."))
        transactions = [
            build(NewTransaction, item, f"transactions[{index}].")
            for index, item in enumerate(payload.get("transactions", []))
        ]
        values = {name: payload[name] for name in _INVOICE_FIELDS if name in payload}
        if "customer_external_id" in payload:
            values["customer_external_id"] = payload["customer_external_id"]
        values["data_source_uuid"] = self._context.data_source_uuid
        return build(NewInvoice, {**values, "line_items": lines, "transactions": transactions})


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
        invoice_uuid = named_uuid or await self._resolver.invoice(str(invoice_external_id))
        if invoice_uuid is None:
            raise RowRejectedError(
                "invoice_external_id",
                f"no invoice with external_id {invoice_external_id!r} in this data source",
                "Sync invoices first, then re-run; the row is retried on every run.",
            )
        transaction = build(NewTransaction, payload)
        try:
            created = await self._client.transactions.create(invoice_uuid, transaction)
        except AlreadyExistsError as exc:
            if exc.existing_uuid:
                return exc.existing_uuid  # already delivered to this invoice
            raise
        except NotFoundError as exc:
            if named_uuid is None or exc.resource != "invoice":
                raise
            raise RowRejectedError(
                "invoice_uuid",
                f"ChartMogul has no invoice {named_uuid!r}",
                "Map the column holding the invoice's ChartMogul uuid (inv_...), or name the"
                " invoice by invoice_external_id; the row is retried on every run.",
            ) from None
        return created.uuid

    async def delete(self, prior: Prior) -> None:
        """Transactions are never deleted (the config refuses ``on_delete: delete``)."""
        raise RowRejectedError(
            "external_id", f"transactions cannot be deleted ({prior.uuid})", "Remove on_delete."
        )

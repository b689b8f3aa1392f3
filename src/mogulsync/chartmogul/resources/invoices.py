"""Invoices (``/v1/import/customers/{uuid}/invoices``, ``/v1/invoices``) and transactions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from mogulsync.chartmogul._requester import JSONDict
from mogulsync.chartmogul._retry import Replay
from mogulsync.chartmogul.models import Invoice, Transaction
from mogulsync.chartmogul.pagination import MAX_PER_PAGE, Pager
from mogulsync.chartmogul.resources._base import (
    Resource,
    expect_list,
    expect_object,
    first_match,
    parse_one,
)

if TYPE_CHECKING:
    from mogulsync.chartmogul.inputs import NewInvoice, NewTransaction


_IMPORT = "/import/customers/{customer_uuid}/invoices"
_COLLECTION = "/invoices"
_ONE = "/invoices/{uuid}"
_ALL_OF_CUSTOMER = "/data_sources/{data_source_uuid}/customers/{customer_uuid}/invoices"
_TRANSACTIONS = "/import/invoices/{invoice_uuid}/transactions"


class Invoices(Resource):
    """Import, list, find and delete invoices."""

    async def import_for_customer(
        self, customer_uuid: str, invoices: Sequence[NewInvoice]
    ) -> list[Invoice]:
        """Import a batch of invoices of one customer; the imported invoices.

        After a lost answer the batch counts as delivered only when every invoice is
        found by its external id; otherwise it is sent again, and invoices that did land
        come back as duplicates (an :class:`AlreadyExistsError` naming them).
        """
        raw = await self._requester.call(
            "POST",
            _IMPORT,
            path={"customer_uuid": customer_uuid},
            body={"invoices": [invoice.payload() for invoice in invoices]},
            replay=Replay.LOOKUP,
            lookup=lambda: self._lookup_batch(customer_uuid, invoices),
        )
        return [parse_one(Invoice, _IMPORT, item) for item in expect_list(_IMPORT, raw, "invoices")]

    async def import_one(self, customer_uuid: str, invoice: NewInvoice) -> Invoice:
        """Import one invoice; the imported invoice."""
        imported = await self.import_for_customer(customer_uuid, [invoice])
        return imported[0]

    def list(
        self,
        *,
        customer_uuid: str | None = None,
        data_source_uuid: str | None = None,
        external_id: str | None = None,
        validation_type: str | None = None,
        with_disabled: bool | None = None,
        per_page: int = MAX_PER_PAGE,
    ) -> Pager[Invoice]:
        """Every invoice of the account matching the filters, page by page."""
        params = {
            "customer_uuid": customer_uuid,
            "data_source_uuid": data_source_uuid,
            "external_id": external_id,
            "validation_type": validation_type,
            "with_disabled": with_disabled,
        }
        return self._pager(Invoice, _COLLECTION, key="invoices", params=params, per_page=per_page)

    def list_for_customer(
        self, customer_uuid: str, *, per_page: int = MAX_PER_PAGE
    ) -> Pager[Invoice]:
        """Every invoice of one customer (the import API's list)."""
        return self._pager(
            Invoice,
            _IMPORT,
            key="invoices",
            path={"customer_uuid": customer_uuid},
            per_page=per_page,
        )

    async def get(self, uuid: str) -> Invoice:
        """One invoice with its line items and transactions."""
        raw = await self._requester.call("GET", _ONE, path={"uuid": uuid})
        return parse_one(Invoice, _ONE, raw)

    async def delete(self, uuid: str) -> None:
        """Delete an invoice."""
        await self._requester.call("DELETE", _ONE, path={"uuid": uuid})

    async def delete_all_for_customer(self, data_source_uuid: str, customer_uuid: str) -> None:
        """Delete every invoice of a customer in a data source."""
        await self._requester.call(
            "DELETE",
            _ALL_OF_CUSTOMER,
            path={"data_source_uuid": data_source_uuid, "customer_uuid": customer_uuid},
        )

    async def find_by_external_id(
        self,
        external_id: str,
        *,
        customer_uuid: str | None = None,
        data_source_uuid: str | None = None,
    ) -> Invoice | None:
        """The invoice with this external id, or None."""
        found = await self._lookup(external_id, customer_uuid, data_source_uuid)
        return parse_one(Invoice, _COLLECTION, found) if found else None

    async def _lookup(
        self, external_id: str, customer_uuid: str | None, data_source_uuid: str | None = None
    ) -> JSONDict | None:
        raw = await self._requester.call(
            "GET",
            _COLLECTION,
            params={
                "external_id": external_id,
                "customer_uuid": customer_uuid,
                "data_source_uuid": data_source_uuid,
            },
        )
        return first_match(expect_list(_COLLECTION, raw, "invoices"), external_id=external_id)

    async def _lookup_batch(
        self, customer_uuid: str, invoices: Sequence[NewInvoice]
    ) -> JSONDict | None:
        found: list[JSONDict] = []
        for invoice in invoices:
            match = await self._lookup(invoice.external_id, customer_uuid)
            if match is None:
                return None
            found.append(match)
        return {"invoices": found}


class Transactions(Resource):
    """Payments and refunds added to an existing invoice."""

    async def create(self, invoice_uuid: str, transaction: NewTransaction) -> Transaction:
        """A new transaction; with an external id a lost answer is resolved by lookup."""
        external_id = transaction.external_id
        raw = await self._requester.call(
            "POST",
            _TRANSACTIONS,
            path={"invoice_uuid": invoice_uuid},
            body=transaction.payload(),
            replay=Replay.UNSAFE if external_id is None else Replay.LOOKUP,
            lookup=None
            if external_id is None
            else (lambda: self._lookup(invoice_uuid, external_id)),
        )
        return parse_one(Transaction, _TRANSACTIONS, raw)

    async def _lookup(self, invoice_uuid: str, external_id: str) -> JSONDict | None:
        raw = await self._requester.call("GET", _ONE, path={"uuid": invoice_uuid})
        transactions = expect_object(_ONE, raw).get("transactions") or []
        return first_match(
            [item for item in transactions if isinstance(item, dict)], external_id=external_id
        )

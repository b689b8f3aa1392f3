"""Customers: ``/v1/customers``, search by email, lookup by external id, merges."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mogulsync.chartmogul._requester import JSONDict
from mogulsync.chartmogul._retry import Replay
from mogulsync.chartmogul.models import Customer
from mogulsync.chartmogul.pagination import MAX_PER_PAGE, Pager
from mogulsync.chartmogul.resources._base import Resource, expect_list, parse_one

if TYPE_CHECKING:
    from mogulsync.chartmogul.inputs import CustomerRef, CustomerUpdate, NewCustomer


_COLLECTION = "/customers"
_ONE = "/customers/{uuid}"
_SEARCH = "/customers/search"
_MERGES = "/customers/merges"


class Customers(Resource):
    """Customer CRUD, listing and lookups."""

    async def create(self, customer: NewCustomer) -> Customer:
        """A new customer; a lost answer is resolved by data source + external id."""
        return (await self.create_or_find(customer))[0]

    async def create_or_find(self, customer: NewCustomer) -> tuple[Customer, bool]:
        """As :meth:`create`, and whether this call's own answer created it.

        False: an attempt got no answer and the lookup before the next one found a customer
        with the external id. It may be that attempt's, or one that was there before (then
        the values sent were not applied: an upsert must still update it).
        """
        found = False

        async def lookup() -> JSONDict | None:
            nonlocal found
            item = await self._lookup(customer.external_id, customer.data_source_uuid)
            found = item is not None
            return item

        raw = await self._requester.call(
            "POST", _COLLECTION, body=customer.payload(), replay=Replay.LOOKUP, lookup=lookup
        )
        return parse_one(Customer, _COLLECTION, raw), not found

    async def get(self, uuid: str) -> Customer:
        """One customer; NotFoundError when it does not exist."""
        raw = await self._requester.call("GET", _ONE, path={"uuid": uuid})
        return parse_one(Customer, _ONE, raw)

    async def update(self, uuid: str, changes: CustomerUpdate) -> Customer:
        """Change the fields set in ``changes``; the updated customer."""
        raw = await self._requester.call("PATCH", _ONE, path={"uuid": uuid}, body=changes.payload())
        return parse_one(Customer, _ONE, raw)

    async def delete(self, uuid: str) -> None:
        """Delete a customer."""
        await self._requester.call("DELETE", _ONE, path={"uuid": uuid})

    def list(
        self,
        *,
        data_source_uuid: str | None = None,
        external_id: str | None = None,
        status: str | None = None,
        system: str | None = None,
        per_page: int = MAX_PER_PAGE,
    ) -> Pager[Customer]:
        """Every customer matching the filters, page by page."""
        params = {
            "data_source_uuid": data_source_uuid,
            "external_id": external_id,
            "status": status,
            "system": system,
        }
        return self._pager(Customer, _COLLECTION, key="entries", params=params, per_page=per_page)

    def search_by_email(self, email: str, *, per_page: int = MAX_PER_PAGE) -> Pager[Customer]:
        """Customers with this email (several may share one); empty when none match."""
        return self._pager(
            Customer,
            _SEARCH,
            key="entries",
            params={"email": email},
            per_page=per_page,
            empty_on_not_found=True,
        )

    async def find_by_external_id(
        self, external_id: str, data_source_uuid: str | None = None
    ) -> Customer | None:
        """The customer with this external id (in this data source), or None."""
        found = await self._lookup(external_id, data_source_uuid)
        return parse_one(Customer, _COLLECTION, found) if found else None

    async def merge(
        self, source: CustomerRef, into: CustomerRef, *, move_to_new_customer: bool = False
    ) -> None:
        """Merge ``source`` into ``into`` (asynchronous on ChartMogul's side)."""
        body = {
            "from": source.payload(),
            "into": into.payload(),
            "move_to_new_customer": move_to_new_customer,
        }
        await self._requester.call("POST", _MERGES, body=body, replay=Replay.UNSAFE)

    async def _lookup(self, external_id: str, data_source_uuid: str | None) -> JSONDict | None:
        raw = await self._requester.call(
            "GET",
            _COLLECTION,
            params={
                "data_source_uuid": data_source_uuid,
                "external_id": external_id,
                "per_page": MAX_PER_PAGE,
            },
        )
        for item in expect_list(_COLLECTION, raw, "entries"):
            if _has(item, "external_id", external_id) and (
                data_source_uuid is None or _has(item, "data_source_uuid", data_source_uuid)
            ):
                return item
        return None


def _has(customer: JSONDict, field: str, value: str) -> bool:
    """Whether ``field`` or its plural list (merged customers have several) holds ``value``."""
    plural = customer.get(f"{field}s")
    return customer.get(field) == value or (isinstance(plural, list) and value in plural)

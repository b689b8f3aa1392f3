"""Contacts: ``/v1/contacts`` (the people of a customer)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mogulsync.chartmogul._requester import JSONDict
from mogulsync.chartmogul._retry import Replay
from mogulsync.chartmogul.models import Contact
from mogulsync.chartmogul.pagination import MAX_PER_PAGE, Pager
from mogulsync.chartmogul.resources._base import Resource, parse_one

if TYPE_CHECKING:
    from mogulsync.chartmogul.inputs import ContactUpdate, NewContact


_COLLECTION = "/contacts"
_ONE = "/contacts/{uuid}"
_MERGE = "/contacts/{into_uuid}/merge/{from_uuid}"


class Contacts(Resource):
    """Contact CRUD, listing and merges."""

    async def create(self, contact: NewContact) -> Contact:
        """A new contact.

        With an external id or an email, a lost answer is resolved by looking for that
        contact on the customer; without either the create is not re-sent after an
        unknown outcome (it could duplicate).
        """
        natural_key = contact.external_id is not None or contact.email is not None
        raw = await self._requester.call(
            "POST",
            _COLLECTION,
            body=contact.payload(),
            replay=Replay.LOOKUP if natural_key else Replay.UNSAFE,
            lookup=(lambda: self._lookup(contact)) if natural_key else None,
        )
        return parse_one(Contact, _COLLECTION, raw)

    def list(
        self,
        *,
        customer_uuid: str | None = None,
        data_source_uuid: str | None = None,
        email: str | None = None,
        customer_external_id: str | None = None,
        per_page: int = MAX_PER_PAGE,
    ) -> Pager[Contact]:
        """Every contact matching the filters, page by page."""
        params = {
            "customer_uuid": customer_uuid,
            "data_source_uuid": data_source_uuid,
            "email": email,
            "customer_external_id": customer_external_id,
        }
        return self._pager(Contact, _COLLECTION, key="entries", params=params, per_page=per_page)

    async def get(self, uuid: str) -> Contact:
        """One contact."""
        raw = await self._requester.call("GET", _ONE, path={"uuid": uuid})
        return parse_one(Contact, _ONE, raw)

    async def update(self, uuid: str, changes: ContactUpdate) -> Contact:
        """Change the fields set in ``changes``."""
        raw = await self._requester.call("PATCH", _ONE, path={"uuid": uuid}, body=changes.payload())
        return parse_one(Contact, _ONE, raw)

    async def delete(self, uuid: str) -> None:
        """Delete a contact."""
        await self._requester.call("DELETE", _ONE, path={"uuid": uuid})

    async def merge(self, into_uuid: str, from_uuid: str) -> Contact:
        """Merge ``from_uuid`` into ``into_uuid``; the merged contact."""
        raw = await self._requester.call(
            "POST",
            _MERGE,
            path={"into_uuid": into_uuid, "from_uuid": from_uuid},
            replay=Replay.UNSAFE,
        )
        return parse_one(Contact, _MERGE, raw)

    async def _lookup(self, contact: NewContact) -> JSONDict | None:
        pager = self.list(customer_uuid=contact.customer_uuid, email=contact.email)
        async for page in pager.pages():
            for found in page.items:
                if contact.external_id is not None:
                    if found.external_id == contact.external_id:
                        return found.model_dump(by_alias=True, mode="json")
                elif found.email == contact.email:
                    return found.model_dump(by_alias=True, mode="json")
        return None

"""Tags and custom attributes of customers, by uuid or by email.

ChartMogul has "by email" endpoints only for adding; removing tags and changing or
removing custom attributes by email search the customers with that email first and then
change each one (so they cost one request per customer plus the search).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from mogulsync.chartmogul._requester import Requester
from mogulsync.chartmogul._retry import Replay
from mogulsync.chartmogul.models import Customer
from mogulsync.chartmogul.resources._base import Resource, expect_list, expect_object, parse_one
from mogulsync.chartmogul.resources.customers import Customers

if TYPE_CHECKING:
    from mogulsync.chartmogul.inputs import CustomAttribute


_TAGS = "/customers/{uuid}/attributes/tags"
_TAGS_BY_EMAIL = "/customers/attributes/tags"
_CUSTOM = "/customers/{uuid}/attributes/custom"
_CUSTOM_BY_EMAIL = "/customers/attributes/custom"
#: Adding a tag or setting an attribute twice leaves the same state: safe to re-send.
SAFE = Replay.SAFE


class _ByEmail(Resource):
    def __init__(self, requester: Requester, customers: Customers) -> None:
        super().__init__(requester)
        self._customers = customers

    async def _uuids_with_email(self, email: str) -> list[str]:
        return [customer.uuid async for customer in self._customers.search_by_email(email)]


class Tags(_ByEmail):
    """Add and remove customer tags (adding a tag twice is harmless)."""

    async def add(self, customer_uuid: str, tags: Sequence[str]) -> list[str]:
        """Add tags; every tag of the customer afterwards."""
        raw = await self._requester.call(
            "POST", _TAGS, path={"uuid": customer_uuid}, body={"tags": list(tags)}, replay=SAFE
        )
        return _tags(raw)

    async def remove(self, customer_uuid: str, tags: Sequence[str]) -> list[str]:
        """Remove tags; the tags left."""
        raw = await self._requester.call(
            "DELETE", _TAGS, path={"uuid": customer_uuid}, body={"tags": list(tags)}
        )
        return _tags(raw)

    async def add_by_email(self, email: str, tags: Sequence[str]) -> list[Customer]:
        """Add tags to every customer with this email; those customers."""
        raw = await self._requester.call(
            "POST", _TAGS_BY_EMAIL, body={"email": email, "tags": list(tags)}, replay=SAFE
        )
        return _customers(_TAGS_BY_EMAIL, raw)

    async def remove_by_email(self, email: str, tags: Sequence[str]) -> dict[str, list[str]]:
        """Remove tags from every customer with this email; tags left, by customer uuid."""
        return {uuid: await self.remove(uuid, tags) for uuid in await self._uuids_with_email(email)}


class CustomAttributes(_ByEmail):
    """Typed custom attributes: add (typed), update values, remove keys."""

    async def add(
        self, customer_uuid: str, attributes: Sequence[CustomAttribute]
    ) -> dict[str, Any]:
        """Add typed attributes; every custom attribute of the customer afterwards."""
        body = {"custom": [attribute.payload() for attribute in attributes]}
        raw = await self._requester.call(
            "POST", _CUSTOM, path={"uuid": customer_uuid}, body=body, replay=SAFE
        )
        return _custom(raw)

    async def update(self, customer_uuid: str, values: Mapping[str, Any]) -> dict[str, Any]:
        """Change values of existing attributes; all custom attributes afterwards."""
        raw = await self._requester.call(
            "PUT", _CUSTOM, path={"uuid": customer_uuid}, body={"custom": dict(values)}
        )
        return _custom(raw)

    async def remove(self, customer_uuid: str, keys: Sequence[str]) -> None:
        """Remove attributes by key."""
        await self._requester.call(
            "DELETE", _CUSTOM, path={"uuid": customer_uuid}, body={"custom": list(keys)}
        )

    async def add_by_email(
        self, email: str, attributes: Sequence[CustomAttribute]
    ) -> list[Customer]:
        """Add typed attributes to every customer with this email; those customers."""
        body = {"email": email, "custom": [attribute.payload() for attribute in attributes]}
        raw = await self._requester.call("POST", _CUSTOM_BY_EMAIL, body=body, replay=SAFE)
        return _customers(_CUSTOM_BY_EMAIL, raw)

    async def update_by_email(
        self, email: str, values: Mapping[str, Any]
    ) -> dict[str, dict[str, Any]]:
        """Change values for every customer with this email; attributes by customer uuid."""
        return {
            uuid: await self.update(uuid, values) for uuid in await self._uuids_with_email(email)
        }

    async def remove_by_email(self, email: str, keys: Sequence[str]) -> list[str]:
        """Remove keys from every customer with this email; the uuids changed."""
        uuids = await self._uuids_with_email(email)
        for uuid in uuids:
            await self.remove(uuid, keys)
        return uuids


def _tags(raw: Any) -> list[str]:
    tags = expect_object(_TAGS, raw).get("tags") or []
    return [str(tag) for tag in tags]


def _custom(raw: Any) -> dict[str, Any]:
    custom = expect_object(_CUSTOM, raw).get("custom") or {}
    return dict(custom) if isinstance(custom, dict) else {}


def _customers(endpoint: str, raw: Any) -> list[Customer]:
    return [parse_one(Customer, endpoint, item) for item in expect_list(endpoint, raw, "entries")]

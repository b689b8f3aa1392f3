"""Data sources: ``/v1/data_sources`` (unpaginated; names are unique per account)."""

from __future__ import annotations

from collections.abc import Sequence

from mogulsync.chartmogul._requester import JSONDict
from mogulsync.chartmogul._retry import Replay
from mogulsync.chartmogul.models import DataSource, reader
from mogulsync.chartmogul.pagination import Page, whole_list
from mogulsync.chartmogul.resources._base import Resource, expect_list, first_match, parse_one

_COLLECTION = "/data_sources"
_ONE = "/data_sources/{uuid}"


class DataSources(Resource):
    """Create, list, find and delete data sources."""

    async def create(self, name: str) -> DataSource:
        """A new data source; after a lost answer the one with this name is returned."""
        raw = await self._requester.call(
            "POST",
            _COLLECTION,
            body={"name": name},
            replay=Replay.LOOKUP,
            lookup=lambda: self._lookup(name),
        )
        return parse_one(DataSource, _COLLECTION, raw)

    async def list(
        self, *, name: str | None = None, system: str | None = None
    ) -> Sequence[DataSource]:
        """All data sources, optionally filtered by name or billing system."""
        return (await self.page(name=name, system=system)).items

    async def page(self, *, name: str | None = None, system: str | None = None) -> Page[DataSource]:
        """:meth:`list` as one page, whose ``raw_items`` are the entries as sent."""
        raw = await self._requester.call(
            "GET", _COLLECTION, params={"name": name, "system": system}
        )
        entries = expect_list(_COLLECTION, raw, "data_sources")
        return whole_list(entries, reader(DataSource, _COLLECTION))

    async def get(self, uuid: str) -> DataSource:
        """One data source; NotFoundError when it does not exist."""
        raw = await self._requester.call("GET", _ONE, path={"uuid": uuid})
        return parse_one(DataSource, _ONE, raw)

    async def find_by_name(self, name: str) -> DataSource | None:
        """The data source with this exact name, or None."""
        found = await self._lookup(name)
        return parse_one(DataSource, _COLLECTION, found) if found else None

    async def delete(self, uuid: str) -> None:
        """Delete a data source and everything imported into it."""
        await self._requester.call("DELETE", _ONE, path={"uuid": uuid})

    async def _lookup(self, name: str) -> JSONDict | None:
        raw = await self._requester.call("GET", _COLLECTION, params={"name": name})
        return first_match(expect_list(_COLLECTION, raw, "data_sources"), name=name)

"""Bulk JSON imports: ``/v1/data_sources/{uuid}/json_imports``."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from mogulsync.chartmogul._requester import JSONDict, Requester
from mogulsync.chartmogul._retry import Replay
from mogulsync.chartmogul.errors import JsonImportTimeoutError, NotFoundError
from mogulsync.chartmogul.models import JsonImport
from mogulsync.chartmogul.resources._base import Resource, expect_object, parse_one
from mogulsync.chartmogul.settings import JsonImportPolling

if TYPE_CHECKING:
    from mogulsync.chartmogul.bulk_inputs import NewJsonImport


_COLLECTION = "/data_sources/{uuid}/json_imports"
_ONE = "/data_sources/{uuid}/json_imports/{import_id}"
#: Statuses of an import that is still being worked on (reference 5.11).
IN_PROGRESS = frozenset({"queued", "processing"})
_BACKOFF_FACTOR = 2.0


class JsonImports(Resource):
    """Start a bulk import, read its status, wait for it to finish."""

    def __init__(self, requester: Requester, polling: JsonImportPolling) -> None:
        super().__init__(requester)
        self._polling = polling

    async def create(self, data_source_uuid: str, request: NewJsonImport) -> JsonImport:
        """Queue an import. With a batch ``external_id`` a lost answer is resolved by
        looking the import up; without one it is not re-sent after an unknown outcome.
        """
        external_id = request.external_id
        raw = await self._requester.call(
            "POST",
            _COLLECTION,
            path={"uuid": data_source_uuid},
            body=request.payload(),
            replay=Replay.UNSAFE if external_id is None else Replay.LOOKUP,
            lookup=None
            if external_id is None
            else (lambda: self._lookup(data_source_uuid, external_id)),
        )
        return parse_one(JsonImport, _COLLECTION, raw)

    async def get(self, data_source_uuid: str, import_id: str) -> JsonImport:
        """An import's status, by its id (or the batch external id)."""
        raw = await self._requester.call(
            "GET", _ONE, path={"uuid": data_source_uuid, "import_id": import_id}
        )
        return parse_one(JsonImport, _ONE, raw)

    async def wait(
        self, data_source_uuid: str, import_id: str, *, timeout_s: float | None = None
    ) -> JsonImport:
        """Poll, with growing intervals, until the import is no longer queued or processing.

        Raises :class:`JsonImportTimeoutError` after ``timeout_s`` (default from settings).
        """
        polling = self._polling
        deadline = time.monotonic() + (timeout_s if timeout_s is not None else polling.timeout_s)
        interval = polling.initial_interval_s
        while True:
            current = await self.get(data_source_uuid, import_id)
            if current.status not in IN_PROGRESS:
                return current
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise JsonImportTimeoutError(
                    f"JSON import {import_id} is still {current.status}",
                    method="GET",
                    endpoint=_ONE,
                    last_status=current.status,
                )
            await asyncio.sleep(min(interval, remaining))
            interval = min(interval * _BACKOFF_FACTOR, polling.max_interval_s)

    async def _lookup(self, data_source_uuid: str, external_id: str) -> JSONDict | None:
        try:
            raw = await self._requester.call(
                "GET", _ONE, path={"uuid": data_source_uuid, "import_id": external_id}
            )
        except NotFoundError:
            return None
        return expect_object(_ONE, raw)

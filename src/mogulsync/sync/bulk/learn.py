"""After a run's imports: learn the uuids of the records they created, when that is cheap.

The import's status names no uuids, so imported rows are recorded with their external id
only, and their first update (or delete) would cost a lookup each. Listing the data source
once finds them all: it is done when it costs at most one page (200 records) per
``ratio`` imported rows — the same trade as the existence check before importing
(:mod:`mogulsync.sync.bulk.existing`). The listing stops at that budget, or as soon as every
imported row is found; rows it does not reach keep no uuid (later found by external id).
Standalone transactions are never listed (nothing lists them per data source cheaply).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from mogulsync.chartmogul import ChartMogulClient
from mogulsync.sync.bulk.existing import data_source_pages

#: objects whose records a listing of the data source finds by external id
LEARNABLE = ("customer", "plan", "invoice")

#: (row key, external id, uuid)
Learnt = tuple[str, str, str]


def listing_budget(imported: int, ratio: int) -> int:
    """Pages the listing may take for ``imported`` rows (0: not worth listing)."""
    return imported // ratio


async def learn_uuids(
    client: ChartMogulClient,
    object_type: str,
    data_source_uuid: str,
    landed: Mapping[str, Sequence[str]],
    *,
    max_pages: int,
) -> list[Learnt]:
    """The uuids of imported rows (``landed``: external id → row keys) found in the listing."""
    if object_type not in LEARNABLE or max_pages < 1 or not landed:
        return []
    found: list[Learnt] = []
    matched: set[str] = set()
    count = 0
    async with data_source_pages(client, object_type, data_source_uuid) as pages:
        async for page in pages:
            count += 1
            for record in page.items:
                external_id = record.external_id
                if external_id is None or external_id not in landed or external_id in matched:
                    continue
                matched.add(external_id)
                found.extend((key, external_id, str(record.uuid)) for key in landed[external_id])
            if len(matched) == len(landed) or count >= max_pages:
                break  # all found, or the budget is spent: never fetch a page past it
    return found

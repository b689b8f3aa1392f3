"""Which customers / plans the data source already has (external id → uuid), when cheap.

The bulk import reuses an existing customer or plan without updating it (the emulator
does; [U] for the real API). Upserts would silently not update and inserts would not
report "already exists", so rows whose record exists go over REST instead, carrying the
uuid the listing found so an upsert is a plain update (no create → 422 → lookup). Learning
that costs one listing of the data source; when the listing would take more pages than
the rows it could save (``pages > rows / ratio``), None says "unknown": send them over REST.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from mogulsync.chartmogul import ChartMogulClient
from mogulsync.chartmogul.pagination import MAX_PER_PAGE, Page


@contextlib.asynccontextmanager
async def data_source_pages(
    client: ChartMogulClient,
    object_type: str,
    data_source_uuid: str,
    *,
    per_page: int = MAX_PER_PAGE,
) -> AsyncIterator[AsyncIterator[Page[Any]]]:
    """The pages of the data source's customers, plans or invoices, closed on exit."""
    pages: AsyncIterator[Page[Any]]
    if object_type == "customer":
        pages = client.customers.list(data_source_uuid=data_source_uuid, per_page=per_page).pages()
    elif object_type == "plan":
        pages = client.plans.list(data_source_uuid=data_source_uuid, per_page=per_page).pages()
    else:
        pages = client.invoices.list(data_source_uuid=data_source_uuid, per_page=per_page).pages()
    try:
        yield pages
    finally:
        closer = getattr(pages, "aclose", None)
        if closer is not None:
            await closer()


async def existing_records(
    client: ChartMogulClient, object_type: str, data_source_uuid: str, *, max_pages: int
) -> dict[str, str] | None:
    """External id → uuid of the data source's customers or plans; None past ``max_pages``."""
    if object_type not in ("customer", "plan"):
        return {}
    found: dict[str, str] = {}
    count = 0
    async with data_source_pages(client, object_type, data_source_uuid) as pages:
        async for page in pages:
            count += 1
            if count > max_pages:
                return None
            found.update(
                (str(item.external_id), str(item.uuid)) for item in page.items if item.external_id
            )
    return found

"""Row fetchers for :func:`~mogulsync.emulator._http.page_rows` with non-indexed filters.

``page_rows`` needs ``fetch(after_seq=, limit=, offset=)`` and ``count()``. Filters on
indexed columns (one value or an ``IN`` set) go to SQL; the rest (a customer status
computed by the MRR engine, membership in merged id lists) are applied while scanning the
rows the indexed filters left, which keeps the cursor contract identical.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from itertools import islice
from typing import Any

from mogulsync.emulator.routes.data_sources import CUSTOM_SYSTEM
from mogulsync.emulator.store import Filter, Row, Store

Keep = Callable[[Row], bool]
_SCAN_CHUNK = 500
Fetch = Callable[..., list[Row]]


def sources_with_system(store: Store, system: str) -> frozenset[str]:
    """UUIDs of the data sources whose billing system is ``system`` (case-insensitive)."""
    wanted = system.lower()
    return frozenset(
        row.uuid
        for row in store.iter_kind("data_source")
        if str(row.body.get("system", CUSTOM_SYSTEM)).lower() == wanted
    )


def nothing() -> tuple[Fetch, Callable[[], int]]:
    """A ``(fetch, count)`` pair for a filter that matches no row at all."""

    def fetch(after_seq: int = 0, limit: int | None = None, offset: int = 0) -> list[Row]:
        del after_seq, limit, offset
        return []

    return fetch, lambda: 0


def fetcher(
    store: Store,
    kind: str,
    keep: Keep | None = None,
    *,
    descending: bool = False,
    **indexed: Filter,
) -> tuple[Fetch, Callable[[], int]]:
    """A ``(fetch, count)`` pair over ``kind`` rows matching ``indexed`` and ``keep``."""
    # typed loosely so mypy does not match these keys against find()'s own keywords
    filters: dict[str, Any] = dict(indexed)

    def fetch(after_seq: int = 0, limit: int | None = None, offset: int = 0) -> list[Row]:
        if keep is None:
            return store.find(
                kind,
                after_seq=after_seq,
                limit=limit,
                offset=offset,
                descending=descending,
                **filters,
            )
        kept = (row for row in _scan(after_seq) if keep(row))
        stop = None if limit is None else offset + limit
        return list(islice(kept, offset, stop))

    def _scan(after_seq: int) -> Iterator[Row]:
        # Read in chunks so a page near the start does not decode every row after it.
        while True:
            chunk = store.find(
                kind, after_seq=after_seq, limit=_SCAN_CHUNK, descending=descending, **filters
            )
            yield from chunk
            if len(chunk) < _SCAN_CHUNK:
                return
            after_seq = chunk[-1].seq

    def count() -> int:
        if keep is None:
            return store.count(kind, **filters)
        return sum(1 for row in store.find(kind, **filters) if keep(row))

    return fetch, count

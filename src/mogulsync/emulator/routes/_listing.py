"""Row fetchers for :func:`~mogulsync.emulator._http.page_rows` with non-indexed filters.

``page_rows`` needs ``fetch(after_seq=, limit=, offset=)`` and ``count()``. Filters on
indexed columns go to SQL; the rest (computed status, list membership) are applied while
scanning, which is fine at emulator scale and keeps the cursor contract identical.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from itertools import islice
from typing import Any

from mogulsync.emulator.store import Row, Store

Keep = Callable[[Row], bool]
_SCAN_CHUNK = 500
Fetch = Callable[..., list[Row]]


def fetcher(
    store: Store,
    kind: str,
    keep: Keep | None = None,
    *,
    descending: bool = False,
    **indexed: str | None,
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

"""Async iteration over ChartMogul's cursor-paginated lists.

Every list answers ``{<key>: [...], "cursor": "...", "has_more": bool}``. Iteration
stops on ``has_more == false`` and never because the cursor is null: last pages often
still carry a cursor (reference section 2). A page claiming more without a usable cursor,
or repeating a cursor, raises :class:`ResponseFormatError` instead of looping or silently
stopping early. ``/activities`` also has the legacy ``start-after=<uuid>`` anchor mode.
"""

from __future__ import annotations

import enum
import itertools
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from mogulsync.chartmogul._requester import JSONDict, Query, Requester
from mogulsync.chartmogul.errors import NotFoundError, ResponseFormatError
from mogulsync.chartmogul.limiter import request_priority

T = TypeVar("T")

#: ChartMogul's largest page; bigger values are silently clamped to it.
MAX_PER_PAGE = 200


class PageMode(enum.Enum):
    """How the next page is asked for."""

    CURSOR = "cursor"
    #: legacy ``/activities`` anchors: ``start-after=<uuid of the last entry>``
    START_AFTER = "start_after"


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a list."""

    items: list[T]
    cursor: str | None
    has_more: bool
    #: the deprecated ``total_pages`` some first pages still carry (None when absent)
    total_pages: int | None = None
    #: the list's entries as the API sent them, ``items`` before parsing (a consumer that
    #: passes records on verbatim, e.g. the Airbyte source, keeps the API's value spelling)
    raw_items: tuple[Mapping[str, Any], ...] = ()
    #: the legacy ``meta`` block of old-style first pages (subscription events: its
    #: ``before_key`` is the time of the request), None when absent
    meta: Mapping[str, Any] | None = None


def read_page(
    raw: Mapping[str, Any],
    key: str,
    parse: Callable[[Mapping[str, Any]], T],
    *,
    endpoint: str,
) -> Page[T]:
    """One list body as a :class:`Page` (ResponseFormatError when it is not one).

    Bodies recorded before cursors existed (2016-2022) have no ``has_more``: their
    ``current_page``/``total_pages`` (or ``meta.page``/``meta.total_pages`` of old
    subscription-event lists) say whether more follows. Such a page that has more gives no
    cursor, so iterating past it still stops with a clear error rather than guessing.
    """
    items = raw.get(key)
    if not isinstance(items, list):
        raise _format_error(endpoint, f"has no '{key}' list")
    has_more = raw.get("has_more")
    if has_more is None:
        has_more = _legacy_has_more(raw)
    if not isinstance(has_more, bool):
        raise _format_error(endpoint, "has no boolean 'has_more'")
    cursor = raw.get("cursor")
    total = raw.get("total_pages")
    total_pages = total if type(total) is int else None  # bool is not a count
    parsed = [parse(item) for item in items]
    meta = raw.get("meta")
    return Page(
        parsed,
        cursor if isinstance(cursor, str) else None,
        has_more,
        total_pages,
        tuple(items),
        meta if isinstance(meta, Mapping) else None,
    )


def whole_list(
    entries: Sequence[Mapping[str, Any]], parse: Callable[[Mapping[str, Any]], T]
) -> Page[T]:
    """An unpaginated list (or one object) as a last :class:`Page`: the parsed items, and
    the entries as sent in ``raw_items``, as for a paginated list's pages."""
    return Page([parse(entry) for entry in entries], None, False, None, tuple(entries))


def _legacy_has_more(raw: Mapping[str, Any]) -> bool | None:
    meta = raw.get("meta")
    source = meta if isinstance(meta, Mapping) and "current_page" not in raw else raw
    page = source.get("current_page", source.get("page"))
    total = source.get("total_pages")
    if type(page) is int and type(total) is int:
        return page < total
    return None


def _format_error(endpoint: str, problem: str) -> ResponseFormatError:
    return ResponseFormatError(f"GET {endpoint} page {problem}", method="GET", endpoint=endpoint)


class Pager(Generic[T]):
    """An async iterator over every record of a list, fetching page by page.

    ``async for customer in client.customers.list(): ...`` iterates records;
    :meth:`pages` iterates whole pages; :meth:`collect` reads everything into a list.
    """

    def __init__(
        self,
        requester: Requester,
        endpoint: str,
        *,
        key: str,
        parse: Callable[[Mapping[str, Any]], T],
        path: Mapping[str, str | int] | None = None,
        params: Query | None = None,
        per_page: int = MAX_PER_PAGE,
        mode: PageMode = PageMode.CURSOR,
        empty_on_not_found: bool = False,
    ) -> None:
        self._requester = requester
        self._endpoint = endpoint
        self._key = key
        self._parse = parse
        self._path = dict(path or {})
        self._params = dict(params or {})
        self._per_page = max(1, min(per_page, MAX_PER_PAGE))
        self._mode = mode
        self._empty_on_not_found = empty_on_not_found

    def __aiter__(self) -> AsyncIterator[T]:
        return self._items()

    async def _items(self) -> AsyncIterator[T]:
        async for page in self.pages():
            for item in page.items:
                yield item

    async def collect(self) -> list[T]:
        """Every record, in order."""
        return [item async for item in self]

    async def pages(self) -> AsyncGenerator[Page[T], None]:
        """Every page, in order."""
        anchor: str | None = None
        seen: set[str] = set()
        first = True
        for position in itertools.count():
            # the further along its list, the sooner a page's request may start
            with request_priority(position):
                raw = await self._fetch(anchor, first=first)
            if raw is None:
                return
            first = False
            page = self._page(raw)
            yield page
            if not page.has_more:
                return
            anchor = self._next_anchor(raw, page, seen)

    async def _fetch(self, anchor: str | None, *, first: bool) -> JSONDict | None:
        params: dict[str, Any] = dict(self._params)
        if self._mode is PageMode.CURSOR:
            params["per_page"] = self._per_page
            params["cursor"] = anchor
        else:
            params["per-page"] = self._per_page
            params["start-after"] = anchor
        try:
            raw = await self._requester.call("GET", self._endpoint, path=self._path, params=params)
        except NotFoundError:
            # /customers/search answers 404 when nothing matches: that is an empty list.
            if first and self._empty_on_not_found:
                return None
            raise
        if not isinstance(raw, dict) or not isinstance(raw.get(self._key), list):
            raise self._format_error(f"has no '{self._key}' list")
        return raw

    def _page(self, raw: JSONDict) -> Page[T]:
        return read_page(raw, self._key, self._parse, endpoint=self._endpoint)

    def _next_anchor(self, raw: JSONDict, page: Page[T], seen: set[str]) -> str:
        if self._mode is PageMode.CURSOR:
            anchor = page.cursor
        else:
            entries = raw[self._key]
            last = entries[-1] if entries else None
            anchor = last.get("uuid") if isinstance(last, dict) else None
        if not isinstance(anchor, str) or not anchor:
            raise self._format_error("says has_more but gives nothing to continue from")
        if anchor in seen:
            raise self._format_error("repeats a cursor; the list would never end")
        seen.add(anchor)
        return anchor

    def _format_error(self, problem: str) -> ResponseFormatError:
        return _format_error(self._endpoint, problem)

"""Cursor pagination: many pages from the emulator, and refusal of broken page chains."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import pytest

from mogulsync.chartmogul import (
    ChartMogulClient,
    CustomerFields,
    NewJsonImport,
    RequestLogEntry,
    ResponseFormatError,
)
from mogulsync.chartmogul._requester import Requester
from mogulsync.chartmogul.limiter import _PRIORITY, request_priority
from mogulsync.chartmogul.pagination import PageMode, Pager

pytestmark = pytest.mark.anyio

CUSTOMERS = 450


async def test_iterates_every_page(
    client: ChartMogulClient, request_log: list[RequestLogEntry]
) -> None:
    """450 customers come back in pages of 200, each once, stopping on has_more=false."""
    source = (await client.data_sources.create("Bulk")).uuid
    customers = [CustomerFields(external_id=f"c-{n:04d}") for n in range(CUSTOMERS)]
    started = await client.json_imports.create(source, NewJsonImport(customers=customers))
    assert (await client.json_imports.wait(source, started.id)).status == "completed"
    before = len(request_log)
    pages = [
        page async for page in client.customers.list(data_source_uuid=source, per_page=500).pages()
    ]
    assert [len(page.items) for page in pages] == [200, 200, 50]
    assert [page.has_more for page in pages] == [True, True, False]
    # The last page still carries a cursor: only has_more ended the iteration.
    assert pages[-1].cursor is not None
    external_ids = [c.external_id for page in pages for c in page.items]
    assert sorted(external_ids) == sorted(c.external_id for c in customers)
    paths = [entry.path for entry in request_log[before:]]
    assert len(paths) == 3
    assert all("per_page=200" in path for path in paths)
    assert "cursor=" not in paths[0]
    assert all("cursor=" in path for path in paths[1:])


class ScriptedRequester:
    """Hands out prepared page bodies in order (a seam for page-chain edge cases)."""

    def __init__(self, bodies: list[dict[str, Any]]) -> None:
        self.bodies = bodies
        self.params: list[dict[str, Any]] = []

        self.priorities: list[int] = []

    async def call(self, method: str, endpoint: str, **kwargs: Any) -> dict[str, Any]:
        self.params.append(dict(kwargs["params"]))
        self.priorities.append(_PRIORITY.get())
        return self.bodies.pop(0)


def pager(
    bodies: list[dict[str, Any]], mode: PageMode = PageMode.CURSOR
) -> tuple[Pager[str], ScriptedRequester]:
    requester = ScriptedRequester(bodies)

    def parse(item: Mapping[str, Any]) -> str:
        return str(item["uuid"])

    fake: Requester = requester  # type: ignore[assignment]
    return Pager(fake, "/things", key="entries", parse=parse, mode=mode), requester


async def test_has_more_without_cursor_is_an_error() -> None:
    """A page that claims more but gives no cursor raises instead of stopping silently."""
    paged, _ = pager([{"entries": [{"uuid": "a"}], "has_more": True, "cursor": None}])
    with pytest.raises(ResponseFormatError, match="nothing to continue"):
        await paged.collect()


async def test_repeated_cursor_is_an_error() -> None:
    """A cursor seen before would loop forever, so it raises."""
    page = {"entries": [{"uuid": "a"}], "has_more": True, "cursor": "same"}
    paged, _ = pager([dict(page), dict(page), dict(page)])
    with pytest.raises(ResponseFormatError, match="repeats a cursor"):
        await paged.collect()


@pytest.mark.parametrize(
    "body", [{"entries": []}, {"has_more": False}, {"entries": {}, "has_more": False}]
)
async def test_malformed_pages_are_errors(body: dict[str, Any]) -> None:
    """A page without the list or without has_more is reported."""
    paged, _ = pager([body])
    with pytest.raises(ResponseFormatError):
        await paged.collect()


async def test_start_after_mode_anchors_on_the_last_uuid() -> None:
    """Legacy mode asks for the page after the last entry's uuid."""
    paged, requester = pager(
        [
            {"entries": [{"uuid": "a"}, {"uuid": "b"}], "has_more": True},
            {"entries": [{"uuid": "c"}], "has_more": False},
        ],
        mode=PageMode.START_AFTER,
    )
    assert await paged.collect() == ["a", "b", "c"]
    assert [p["start-after"] for p in requester.params] == [None, "b"]
    assert all(p["per-page"] == 200 for p in requester.params)


async def test_pre_cursor_pages_count_pages() -> None:
    """A body from before cursors (no has_more) is read by its page counts: a last page
    ends the list, a page with more but no cursor is an error, not a silent stop."""
    last, _ = pager([{"entries": [{"uuid": "a"}], "current_page": 2, "total_pages": 2}])
    assert await last.collect() == ["a"]
    events, _ = pager([{"entries": [{"uuid": "e"}], "meta": {"page": 1, "total_pages": 1}}])
    assert await events.collect() == ["e"]
    more, _ = pager([{"entries": [{"uuid": "a"}], "current_page": 1, "total_pages": 2}])
    with pytest.raises(ResponseFormatError, match="nothing to continue"):
        await more.collect()


async def test_each_page_request_carries_its_position_in_the_list() -> None:
    """Page *n*'s request waits for its turn with priority *n* (longest chain first), and
    the caller's own priority is as it was between pages and after."""
    paged, requester = pager(
        [
            {"entries": [{"uuid": "a"}], "has_more": True, "cursor": "1"},
            {"entries": [{"uuid": "b"}], "has_more": True, "cursor": "2"},
            {"entries": [{"uuid": "c"}], "has_more": False},
        ]
    )
    between = [_PRIORITY.get() async for _ in paged]
    assert requester.priorities == [0, 1, 2]
    assert between == [0, 0, 0]
    assert _PRIORITY.get() == 0


def _pages(count: int) -> list[dict[str, Any]]:
    return [
        {"entries": [{"uuid": str(n)}], "has_more": n < count - 1, "cursor": str(n)}
        for n in range(count)
    ]


async def test_a_pagers_priority_never_outlives_its_page_requests() -> None:
    """Whether a list ends early (break, aclose), fails mid-way, or is read from two tasks
    in turn, page *n* carries *n* and the caller's own priority is back afterwards."""
    early, requester = pager(_pages(4))
    with request_priority(7):
        async for _ in early:
            break
        assert _PRIORITY.get() == 7
    assert requester.priorities == [0]

    failing, requester = pager([*_pages(3)[:2], {"no entries": []}])
    with pytest.raises(ResponseFormatError):
        await failing.collect()
    assert requester.priorities == [0, 1, 2]
    assert _PRIORITY.get() == 0

    shared, requester = pager(_pages(4))
    pages = shared.pages()
    seen: list[int] = []

    async def next_page() -> None:
        await anext(pages)
        seen.append(_PRIORITY.get())

    for _ in range(4):
        await asyncio.ensure_future(next_page())
    await pages.aclose()
    assert requester.priorities == [0, 1, 2, 3]
    assert seen == [0, 0, 0, 0]
    assert _PRIORITY.get() == 0

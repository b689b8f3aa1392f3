"""A failed customers stream hands its error to the streams that wait for its uuids,
without leaving an un-awaited failure for asyncio to log when nothing waited."""

from __future__ import annotations

import asyncio
import datetime as dt
import gc
from typing import Any, cast

import pytest

from mogulsync.extract.context import FetchContext


def _context() -> FetchContext:
    # no request is made: the client is never used by what these tests call
    return FetchContext(client=cast("Any", None), start_date=None, end_date=dt.date(2026, 1, 31))


def test_a_failure_nobody_waited_for_is_not_logged_when_collected() -> None:
    """asyncio logs "Future exception was never retrieved" (with a traceback, on whatever
    thread collects the future) when a failure set on a future is never read. A run where
    no stream needed the customers' uuids must not leave one behind."""
    reported: list[dict[str, Any]] = []

    async def run() -> None:
        asyncio.get_running_loop().set_exception_handler(lambda _loop, ctx: reported.append(ctx))
        ctx = _context()
        ctx.publish_customers(asyncio.CancelledError())
        del ctx
        gc.collect()

    asyncio.run(run())
    assert reported == []


def test_a_waiting_stream_still_gets_the_failure() -> None:
    """The failure still reaches a stream that waits for the uuids."""

    async def run() -> None:
        ctx = _context()
        ctx.selected = frozenset({"customers"})
        ctx.publish_customers(RuntimeError("customers failed"))
        with pytest.raises(RuntimeError, match="customers failed"):
            await ctx.customer_uuids(lambda: asyncio.sleep(0, []))

    asyncio.run(run())

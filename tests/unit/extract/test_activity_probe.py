"""The activities stream's probe for the range's newest activity: where windows are spread
to, and how the probe is dropped when it is not needed."""

from __future__ import annotations

import asyncio
import datetime as dt
import gc
from typing import Any

import pytest

from mogulsync.extract import streams
from mogulsync.extract._partitions import date_windows

MOMENT = dt.datetime(2024, 3, 5, 10, 30, tzinfo=dt.UTC)
END = dt.date(2024, 12, 31)


def test_windows_spread_up_to_the_newest_activity_keep_the_range() -> None:
    """Spread up to the newest activity's day, the first window still starts at an
    intraday cursor and the last still ends with the range."""
    newest = dt.datetime(2024, 4, 1, 9, 0, tzinfo=dt.UTC)
    spread = streams._spread_to(date_windows(MOMENT, END, 4), newest)
    days = [dt.date(2024, 3, 12), dt.date(2024, 3, 19), dt.date(2024, 3, 26)]
    assert [(w.start, w.end) for w in spread] == [
        (MOMENT, days[0]),
        (days[0], days[1]),
        (days[1], days[2]),
        (days[2], END),
    ]


@pytest.mark.parametrize(
    ("newest", "known"),
    [
        (None, False),
        (dt.datetime(2025, 1, 1, tzinfo=dt.UTC), False),  # after the range
        (dt.datetime(2024, 3, 4, 23, 0, tzinfo=dt.UTC), False),  # before its first day
        (dt.datetime(2024, 3, 5, 9, 0, tzinfo=dt.UTC), True),  # its first day
        (dt.datetime(2024, 12, 31, 23, 0, tzinfo=dt.UTC), True),  # its last day
    ],
)
def test_a_newest_activity_outside_the_range_is_unknown(
    newest: dt.datetime | None, *, known: bool
) -> None:
    """Outside the range's days, the newest activity counts as unknown: neither the
    estimate nor the windows use it (one before the first day raised IndexError spreading
    the windows, one after the end inflated the estimate); unknown, the windows stay."""
    windows = date_windows(MOMENT, END, 4)
    assert streams._in_range(windows, newest) == (newest if known else None)
    assert streams._spread_to(windows, None) == windows


def test_activity_on_the_first_day_only_is_one_window() -> None:
    """All activity on the range's first day: one window, the whole range."""
    spread = streams._spread_to(date_windows(MOMENT, END, 4), MOMENT + dt.timedelta(hours=2))
    assert [(w.start, w.end) for w in spread] == [(MOMENT, END)]


@pytest.mark.anyio
async def test_dropping_the_probe_keeps_the_callers_own_cancellation() -> None:
    """Cancelled while it waits for the dropped probe to wind down, the stream stops
    (the cancellation was swallowed, and the stream carried on as if done)."""
    winding_down = asyncio.Event()
    wound_down = asyncio.Event()

    async def probe() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            winding_down.set()
            await wound_down.wait()  # a request closing its connection
            raise

    task = asyncio.ensure_future(probe())
    await asyncio.sleep(0)

    async def stream() -> str:
        await streams._drop(task)
        return "carried on"

    caller = asyncio.ensure_future(stream())
    for _ in range(3):
        await asyncio.sleep(0)
    assert winding_down.is_set()
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    assert task.cancelled()


@pytest.mark.anyio
async def test_a_dropped_probe_is_cancelled_and_its_failure_read() -> None:
    """A probe still running is cancelled and awaited; one that failed is read, so the
    loop reports no 'exception was never retrieved'."""
    reported: list[dict[str, Any]] = []
    asyncio.get_running_loop().set_exception_handler(lambda _loop, ctx: reported.append(ctx))

    running = asyncio.ensure_future(asyncio.sleep(3600))
    await streams._drop(running)
    assert running.cancelled()

    async def fail() -> None:
        raise RuntimeError("probe failed")

    failed = asyncio.ensure_future(fail())
    await asyncio.sleep(0)
    await streams._drop(failed)
    del failed
    gc.collect()
    assert reported == []

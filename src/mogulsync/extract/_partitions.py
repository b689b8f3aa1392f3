"""Splitting one stream into parts that page concurrently, and draining pagers.

Cursor pagination is sequential: page *n + 1* needs page *n*'s cursor. To fill the
account's 40 requests/s a stream is split into independent parts (a data source each, or
a date window of activities), each paged on its own, all sharing the client's limiter.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel

from mogulsync.chartmogul import Page, Pager
from mogulsync.extract._tasks import run_all
from mogulsync.extract.context import Emit
from mogulsync.extract.records import Record, RecordMode, to_record
from mogulsync.extract.start import start_moment

Transform = Callable[[Record], Record | None]
M = TypeVar("M", bound=BaseModel)


async def drain(
    pager: Pager[M],
    emit: Emit,
    mode: RecordMode,
    transform: Transform | None = None,
) -> int:
    """Read every page of ``pager``, emitting each page; returns how many records went out.

    Pages are handed on and forgotten: nothing is kept here, so memory does not grow with
    the size of the list (a caller that needs a field of every record uses ``transform``).
    """
    emitted = 0
    async for page in pager.pages():
        emitted += emit_page(page, emit, mode, transform)
    return emitted


def emit_page(
    page: Page[M], emit: Emit, mode: RecordMode, transform: Transform | None = None
) -> int:
    """Emit ``page``'s records (through ``transform``, if any); how many went out.

    JSON records are the entries as the API sent them: re-serialising the parsed models
    would respell timestamps (``+00:00`` and ``.000Z`` both as ``Z``), unlike Airbyte's
    source-chartmogul, which passes the API's JSON on. The fields a model reshapes while
    parsing (its ``RESHAPED``) are taken from the model: as sent, they break the schema.
    """
    if mode == "json" and len(page.raw_items) == len(page.items):
        records = [_as_sent(e, item) for e, item in zip(page.raw_items, page.items, strict=True)]
    else:
        records = [to_record(item, mode) for item in page.items]
    if transform is not None:
        records = [out for out in map(transform, records) if out is not None]
    if records:
        emit(records)
    return len(records)


def _as_sent(entry: Mapping[str, Any], item: BaseModel) -> Record:
    """The API's entry as a record, with the fields ``item``'s model reshapes as parsed."""
    record = dict(entry)
    fields: frozenset[str] = getattr(item, "RESHAPED", frozenset())
    reshaped = fields & record.keys()
    if reshaped:
        parsed = to_record(item, "json")
        record.update({key: parsed.get(key) for key in reshaped})
    return record


async def gather_all(parts: Iterable[Awaitable[int]]) -> int:
    """Run every part concurrently; the records they emitted, or the first failure (once
    the other parts were cancelled and ended: none reads on after its stream failed)."""
    return sum(await run_all(parts))


@dataclass(frozen=True, slots=True)
class Window:
    """A date window of activities: ``start`` (inclusive) to ``end`` (a date)."""

    start: dt.datetime | dt.date
    end: dt.date

    @property
    def first_day(self) -> dt.date:
        """The day ``start`` falls on."""
        return self.start.date() if isinstance(self.start, dt.datetime) else self.start

    @property
    def start_at(self) -> dt.datetime:
        """``start`` as an aware UTC instant (a day: its midnight)."""
        return start_moment(self.start)


def date_windows(start: dt.datetime, end: dt.date, parts: int) -> list[Window]:
    """Split ``start``..``end`` into at most ``parts`` windows of whole days.

    The first window starts at ``start`` exactly (an incremental cursor can fall inside a
    day); the others start at midnight. Each window's ``end`` is the next window's first
    day: whether the API reads a date-only ``end-date`` as inclusive (the emulator does)
    or exclusive, no day falls between two windows; the caller drops the duplicates an
    inclusive reading gives.
    """
    first_day = start.date()
    if end < first_day:
        return []
    days = (end - first_day).days + 1
    parts = max(1, min(parts, days))
    windows: list[Window] = []
    begin = 0
    for index in range(parts):
        finish = days * (index + 1) // parts  # exclusive day offset
        window_start: dt.datetime | dt.date = (
            start if index == 0 else first_day + dt.timedelta(days=begin)
        )
        last = index == parts - 1
        window_end = end if last else first_day + dt.timedelta(days=finish)
        windows.append(Window(window_start, window_end))
        begin = finish
    return windows


def read_on_is_quicker(
    *, covered_s: float, span_s: float, latency_s: float, pace_s: float, windows: int
) -> bool:
    """Whether reading on from a first page beats splitting its range into ``windows``.

    Activities come in date order, so the share of the range the first page covers
    (``covered_s`` of ``span_s`` seconds) estimates how many pages the range holds.
    Reading on costs a round trip (``latency_s``, as the first page took) per page left;
    windows run at once but start ``pace_s`` apart (the account's rate limit), so a
    small range of many windows waits for its pacing more than for the network. Only a
    range of fewer pages than windows is read on: a larger one gains from the parallel
    windows whatever the latency.
    """
    if covered_s <= 0 or span_s <= 0:
        return False  # the first page holds a single instant: no estimate
    pages_left = math.ceil(span_s / covered_s) - 1
    if pages_left >= windows:
        return False
    return pages_left * latency_s < windows * pace_s + latency_s

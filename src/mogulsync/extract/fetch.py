"""Fetch several streams at once over one client, so together they fill the account limit.

Every stream runs as its own task; they share the run's :class:`FetchContext` and hence
one client and one limiter. A failing stream does not cancel the others: each result
says how its stream ended, and the caller decides what a failure means.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from mogulsync.extract._tasks import run_all
from mogulsync.extract.context import FetchContext
from mogulsync.extract.records import Record
from mogulsync.extract.state import DELETED_COLUMN, StreamState
from mogulsync.extract.streams import Stream

#: receives every page: the stream's name and its records
Sink = Callable[[str, Sequence[Record]], None]


@dataclass(frozen=True, slots=True)
class StreamResult:
    """How one stream's fetch ended."""

    name: str
    records: int
    duration_s: float
    state: StreamState | None = None
    error: BaseException | None = None

    @property
    def ok(self) -> bool:
        """Whether every page was read."""
        return self.error is None


async def fetch_streams(
    ctx: FetchContext,
    streams: Sequence[Stream],
    sink: Sink,
    on_done: Callable[[StreamResult], None] | None = None,
) -> list[StreamResult]:
    """Fetch ``streams`` concurrently, handing each page to ``sink``; results in order."""
    ctx.selected = frozenset(stream.name for stream in streams)

    async def run(stream: Stream) -> StreamResult:
        count = 0

        def emit(records: Sequence[Record]) -> None:
            nonlocal count
            # deletion records are not records read (nor rows that land)
            count += sum(DELETED_COLUMN not in record for record in records)
            sink(stream.name, records)

        started = time.perf_counter()
        try:
            state = await stream.fetch(ctx, emit)
        except Exception as exc:  # reported per stream; the other streams go on
            result = StreamResult(stream.name, count, time.perf_counter() - started, error=exc)
        else:
            result = StreamResult(stream.name, count, time.perf_counter() - started, state)
        if on_done is not None:
            on_done(result)
        return result

    try:
        return await run_all(run(stream) for stream in streams)
    finally:
        # lookups the streams shared (data sources, first activity) may still run when
        # the fetch was cancelled: ended here, before the caller closes the client
        await ctx.end_lookups()

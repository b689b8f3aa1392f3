"""What every stream's fetch receives: the shared client, the run's settings and its caches.

One :class:`FetchContext` serves every stream of a run, so all of them share one
:class:`~mogulsync.chartmogul.ChartMogulClient` and therefore one account limiter. Lists
that several streams need (data sources, customer uuids) are fetched once and shared.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import datetime as dt
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from mogulsync.chartmogul import ChartMogulClient, DataSource
from mogulsync.chartmogul.pagination import Page
from mogulsync.chartmogul.resources.activities import ActivityOrder
from mogulsync.extract._tasks import end_tasks
from mogulsync.extract.options import DEFAULT_ACTIVITY_WINDOWS
from mogulsync.extract.records import Record, RecordMode
from mogulsync.extract.state import StreamState

Interval = Literal["day", "week", "month", "quarter"]
#: Emit receives one page (or batch) of records of the stream being fetched.
Emit = Callable[[Sequence[Record]], None]


@dataclass(slots=True)
class FetchContext:
    """Settings and shared lookups for one extract run."""

    client: ChartMogulClient
    start_date: dt.datetime | None
    end_date: dt.date
    interval: Interval = "month"
    record_mode: RecordMode = "python"
    activity_windows: int = DEFAULT_ACTIVITY_WINDOWS
    states: Mapping[str, StreamState] = field(default_factory=dict)
    #: the states, when they are still being read (from dlt's pipeline) as the fetch starts
    pending_states: concurrent.futures.Future[Mapping[str, StreamState]] | None = None
    #: streams of this run; a stream that others depend on publishes what it read
    selected: frozenset[str] = frozenset()
    #: told of a state that is safe to resume from before a stream ends (Airbyte's STATE)
    checkpoint: Callable[[str, StreamState], None] | None = None
    #: emit deletion records (``incremental.DELETED_COLUMN``) for records of an incremental
    #: stream deleted since its state; an extract run merges them away, Airbyte's records
    #: cannot express them
    deletions: bool = False
    #: every id a stream that lists all its records read (stream -> ids as text): what the
    #: destination holds beyond them was deleted in ChartMogul
    listed: dict[str, set[str]] = field(default_factory=dict)
    _data_sources: asyncio.Future[Page[DataSource]] | None = None
    _earliest: asyncio.Task[dt.datetime | None] | None = None
    _customers: asyncio.Future[list[str]] | None = None

    async def state_of(self, stream: str) -> StreamState | None:
        """The stored incremental state of a stream, if any (waits for pending states)."""
        if self.pending_states is not None:
            self.states = await asyncio.wrap_future(self.pending_states)
        return self.states.get(stream)

    async def data_sources(self) -> Page[DataSource]:
        """Every data source, as parsed and as sent (one request, shared by the whole run)."""
        if self._data_sources is None:
            self._data_sources = asyncio.ensure_future(self.client.data_sources.page())
        return await asyncio.shield(self._data_sources)

    async def data_source_uuids(self) -> list[str]:
        """Every data source uuid."""
        return [source.uuid for source in (await self.data_sources()).items]

    async def first_moment(self) -> dt.datetime | None:
        """``start_date``, else the date of the account's first activity (None: none yet).

        Metrics and activity windows need a start; without a configured one the first
        activity is where revenue history begins (one request, shared).
        """
        if self.start_date is not None:
            return self.start_date
        if self._earliest is None:
            self._earliest = asyncio.ensure_future(self._first_activity())
        return await asyncio.shield(self._earliest)

    async def _first_activity(self) -> dt.datetime | None:
        return await one_activity_moment(self.client, order="date")

    def publish_customers(self, uuids: list[str] | BaseException) -> None:
        """Called by the customers stream with every uuid it read (or why it failed)."""
        future = self._customer_future()
        if future.done():
            return
        if isinstance(uuids, BaseException):
            future.set_exception(uuids)
            # read once here: when no stream waits for the uuids, asyncio would otherwise
            # log the failure as "never retrieved" whenever the future is collected
            future.exception()
        else:
            future.set_result(uuids)

    async def customer_uuids(self, read: Callable[[], Awaitable[list[str]]]) -> list[str]:
        """Every customer uuid: from the customers stream when it runs, else ``read()``."""
        if "customers" in self.selected:
            return await asyncio.shield(self._customer_future())
        future = self._customer_future()
        if not future.done():
            try:
                future.set_result(await read())
            except Exception as exc:  # handed on to every waiter
                if not future.done():
                    future.set_exception(exc)
        return await future

    async def end_lookups(self) -> None:
        """Cancel the shared lookups still running and wait for them to end.

        They are shielded from a waiting stream's cancellation (other streams may wait
        too), so a cancelled fetch would leave them sending on a client about to close.
        """
        await end_tasks(task for task in (self._data_sources, self._earliest) if task)

    def _customer_future(self) -> asyncio.Future[list[str]]:
        if self._customers is None:
            self._customers = asyncio.get_running_loop().create_future()
        return self._customers


async def one_activity_moment(
    client: ChartMogulClient,
    *,
    order: ActivityOrder,
    start_date: dt.datetime | dt.date | None = None,
    end_date: dt.date | None = None,
) -> dt.datetime | None:
    """The moment of the first activity in ``order`` between the dates (None: none); a
    moment without a zone is UTC. One request of one record."""
    pager = client.activities.list(
        start_date=start_date, end_date=end_date, order=order, per_page=1
    )
    async with contextlib.aclosing(pager.pages()) as pages:
        page = await anext(pages)
    moment = page.items[0].date if page.items else None
    if moment is None:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)

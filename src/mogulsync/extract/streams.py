"""One small :class:`Stream` per ChartMogul endpoint we extract.

A stream's ``fetch`` reads its endpoint through the shared client, hands each page to
``emit`` as soon as it arrives, and returns the incremental state to store afterwards
(None for full-refresh streams). Lists that can be split are read in concurrent parts:
per data source (customers, plans, contacts, invoices, subscription events), per date
window (activities), per customer (subscriptions), per plan group (its plans).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from mogulsync.chartmogul import Pager
from mogulsync.chartmogul.errors import ChartMogulError
from mogulsync.chartmogul.models import Activity
from mogulsync.errors import ConfigError
from mogulsync.extract._partitions import (
    Transform,
    Window,
    date_windows,
    drain,
    emit_page,
    gather_all,
    read_on_is_quicker,
)
from mogulsync.extract._tasks import run_all
from mogulsync.extract.context import (
    Emit,
    FetchContext,
    Interval,
    one_activity_moment,
)
from mogulsync.extract.incremental import (
    CursorFilter,
    Newest,
    same_day,
)
from mogulsync.extract.records import Record
from mogulsync.extract.state import DELETED_COLUMN, StreamState, as_datetime

#: times the first activities page, to weigh reading on against windows (tests drive it)
_clock: Callable[[], float] = time.monotonic
_log = logging.getLogger(__name__)

Fetch = Callable[[FetchContext, Emit], Awaitable[StreamState | None]]
#: Customers whose subscriptions are read at the same time (the limiter still paces them).
PER_CUSTOMER_CONCURRENCY = 40


@dataclass(frozen=True, slots=True)
class Stream:
    """An extractable stream: its name, keys, and how to read it."""

    name: str
    primary_key: tuple[str, ...]
    fetch: Fetch
    description: str
    #: record field an incremental run continues from (None: full refresh only)
    cursor_field: str | None = None

    @property
    def incremental(self) -> bool:
        """Whether the stream can continue from a stored cursor."""
        return self.cursor_field is not None


def _unique(key: str) -> Callable[[Record], Record | None]:
    """A transform dropping records whose ``key`` was already emitted (parts can overlap)."""
    seen: set[object] = set()

    def keep(record: Record) -> Record | None:
        value = record.get(key)
        if value in seen:
            return None
        seen.add(value)
        return record

    return keep


# ---------------------------------------------------------------------- single requests
async def _account(ctx: FetchContext, emit: Emit) -> None:
    emit_page(await ctx.client.account_page(), emit, ctx.record_mode)


async def _data_sources(ctx: FetchContext, emit: Emit) -> None:
    emit_page(await ctx.data_sources(), emit, ctx.record_mode)


async def _metric_series(ctx: FetchContext, emit: Emit, metric: str, interval: Interval) -> None:
    start = await ctx.first_moment()
    start_day = start.date() if start else ctx.end_date
    page = await ctx.client.metrics.entries(
        "all" if metric == "all" else "customer-count", start_day, ctx.end_date, interval=interval
    )
    emit_page(page, emit, ctx.record_mode)


def customer_count_for(interval: Interval) -> Fetch:
    """Customer counts per ``interval`` exactly as the API gives them (Airbyte's streams)."""

    async def fetch(ctx: FetchContext, emit: Emit) -> None:
        await _metric_series(ctx, emit, "customer-count", interval)

    return fetch


def _with_interval(ctx: FetchContext, emit: Emit) -> Emit:
    """Our own series tables carry their interval, so several can share one table."""

    def emit_tagged(records: Sequence[Record]) -> None:
        emit([{"interval": ctx.interval, **record} for record in records])

    return emit_tagged


async def _customer_count(ctx: FetchContext, emit: Emit) -> None:
    await _metric_series(ctx, _with_interval(ctx, emit), "customer-count", ctx.interval)


async def _metrics(ctx: FetchContext, emit: Emit) -> None:
    await _metric_series(ctx, _with_interval(ctx, emit), "all", ctx.interval)


# ---------------------------------------------------------------------- per data source
ListBySource = Callable[[str | None], Pager[Any]]


async def _per_source(
    ctx: FetchContext, emit: Emit, list_by: ListBySource, keep: Transform
) -> None:
    """Read a list once per data source, concurrently (once, unfiltered, for one source).

    ``keep`` drops duplicates: a merged customer can belong to several data sources.
    """
    sources = await ctx.data_source_uuids()
    parts: list[str | None] = list(sources) if len(sources) > 1 else [None]
    await gather_all(drain(list_by(ds), emit, ctx.record_mode, keep) for ds in parts)


def _unique_customers(uuids: list[str]) -> Transform:
    """Drops customers already read (merged ones), noting the uuid of every one kept."""
    unique = _unique("uuid")

    def keep(record: Record) -> Record | None:
        kept = unique(record)
        if kept is not None:
            uuids.append(str(kept["uuid"]))
        return kept

    return keep


async def _customers(ctx: FetchContext, emit: Emit) -> None:
    uuids: list[str] = []
    customers = ctx.client.customers
    try:
        await _per_source(
            ctx, emit, lambda ds: customers.list(data_source_uuid=ds), _unique_customers(uuids)
        )
    except BaseException as exc:
        ctx.publish_customers(exc)
        raise
    ctx.publish_customers(uuids)


async def _plans(ctx: FetchContext, emit: Emit) -> None:
    await _per_source(
        ctx, emit, lambda ds: ctx.client.plans.list(data_source_uuid=ds), _unique("uuid")
    )


async def _contacts(ctx: FetchContext, emit: Emit) -> None:
    await _per_source(
        ctx, emit, lambda ds: ctx.client.contacts.list(data_source_uuid=ds), _unique("uuid")
    )


async def _invoices(ctx: FetchContext, emit: Emit) -> None:
    await _per_source(
        ctx, emit, lambda ds: ctx.client.invoices.list(data_source_uuid=ds), _unique("uuid")
    )


async def _subscription_events(ctx: FetchContext, emit: Emit) -> StreamState | None:
    # The API cannot filter by update time: every event is read, only changed ones kept.
    cursor = CursorFilter(await ctx.state_of("subscription_events"), "updated_at", "id")
    events = ctx.client.subscription_events
    sources = await ctx.data_source_uuids()
    parts: list[str | None] = list(sources) if len(sources) > 1 else [None]

    async def read(data_source_uuid: str | None) -> int:
        # An event edited after its page was read, while later pages are read, has an
        # older updated_at than an event edited (and read) after it: the next state
        # starts where the listing began (its first page's before_key, ChartMogul's clock).
        began: list[dt.datetime] = []

        def keep(record: Record) -> Record | None:
            return cursor.keep(record, since=began[0] if began else None)

        emitted = 0
        first = True
        async for page in events.list(data_source_uuid=data_source_uuid).pages():
            if first:  # only the first page's before_key is when the listing began
                first = False
                moment = cursor.listing_start(page.meta, dt.datetime.now(dt.UTC))
                if moment is not None:
                    began.append(moment)
                    cursor.listing_began(moment)
            emitted += emit_page(page, emit, ctx.record_mode, keep)
        return emitted

    await gather_all(read(ds) for ds in parts)
    # every event was listed: the runner deletes the rows of the others (deleted events)
    ctx.listed["subscription_events"] = cursor.read_ids
    return cursor.next_state()


def _emit_deletions(ctx: FetchContext, emit: Emit, uuids: Sequence[str]) -> None:
    """Deletion records for activities gone since the last run, when the run's destination
    can apply them (an extract run merges them away)."""
    if ctx.deletions and uuids:
        emit([{"uuid": uuid, DELETED_COLUMN: True} for uuid in uuids])


# ---------------------------------------------------------------------- other partitions
async def _activities(ctx: FetchContext, emit: Emit) -> StreamState | None:
    # the cursor's whole day is read again: ChartMogul rewrites a day's movements all day
    cursor = CursorFilter(await ctx.state_of("activities"), "date", "uuid", bucket=same_day)
    # with a cursor, the account's first activity (one more request) cannot be later
    configured = ctx.start_date if cursor.start is not None else await ctx.first_moment()
    candidates = [moment for moment in (configured, cursor.start) if moment is not None]
    if not candidates:
        return None  # no start date and no activity at all
    read_from = max(candidates)
    windows = date_windows(read_from, ctx.end_date, ctx.activity_windows)
    activities = ctx.client.activities
    split = await _read_whole_range(ctx, windows, cursor, emit) if len(windows) > 1 else windows
    if split is not None:
        progress = _WindowProgress(ctx, len(split))

        async def read(index: int, window: Window) -> int:
            pager = activities.list(start_date=window.start, end_date=window.end, order="date")
            count = await drain(pager, emit, ctx.record_mode, progress.keeper(index, cursor))
            progress.finished(index)
            return count

        await gather_all(read(index, window) for index, window in enumerate(split))
    if windows and read_from == cursor.start:
        # the stored day was read whole: what is gone from it was deleted
        _emit_deletions(ctx, emit, cursor.vanished())
    return cursor.next_state()


async def _read_whole_range(
    ctx: FetchContext, windows: Sequence[Window], cursor: CursorFilter, emit: Emit
) -> list[Window] | None:
    """Read the activities of every window as one range when that is quicker (None);
    otherwise the windows that should read them, in parallel (nothing emitted then).

    One page often holds every activity of the range (a small account, or an incremental
    run soon after the last): one request then replaces one per window. A few pages are
    read on from the first when their round trips cost less than pacing the windows'
    requests (:func:`read_on_is_quicker`). Otherwise the first page is dropped and the
    windows read everything, in parallel.

    How many pages are left is estimated from the share of the range the first page
    covers. The range runs to today, but an account's activity may have stopped long
    before: the newest activity of the range, asked for beside the first page, is where
    the estimate ends and where the windows are spread to (the last one still runs to the
    range's end, for activity that arrives meanwhile).
    """
    newest = asyncio.ensure_future(_newest_activity(ctx, windows))
    try:
        outcome = await _read_from_first_page(ctx, windows, cursor, emit, newest)
    except BaseException:
        await _drop(newest)
        raise
    # Waited for even when the first page held everything: one paced start at most, and a
    # run's requests do not depend on which answer came first.
    with contextlib.suppress(Exception):
        await newest
    return outcome


async def _read_from_first_page(
    ctx: FetchContext,
    windows: Sequence[Window],
    cursor: CursorFilter,
    emit: Emit,
    newest: asyncio.Future[dt.datetime | None],
) -> list[Window] | None:
    """:func:`_read_whole_range` with its newest-activity probe under way."""
    whole = ctx.client.activities.list(
        start_date=windows[0].start, end_date=windows[-1].end, order="date"
    )
    async with contextlib.aclosing(whole.pages()) as pages:
        asked = _clock()
        page = await anext(pages)
        latency_s = _clock() - asked
        if page.has_more:
            last = _in_range(windows, await newest)
            if not _few_pages_left(ctx, windows, page.items, last, latency_s):
                spread = _spread_to(windows, last)
                if len(spread) > 1:
                    return spread
                # all activity on the range's first day: its one window would be the
                # range again, read from its first page once more
        progress = _WindowProgress(ctx, 1)
        keep = progress.keeper(0, cursor)
        emit_page(page, emit, ctx.record_mode, keep)
        async for page in pages:
            emit_page(page, emit, ctx.record_mode, keep)
        progress.finished(0)
        return None


async def _drop(task: asyncio.Future[Any]) -> None:
    """Cancel ``task`` if it still runs (the reading it served failed or was cancelled)
    and wait for it; its failure is read, so it is not logged, and dropped. A cancellation
    of the caller itself while waiting goes on: swallowed, its stream would carry on."""
    if task.done():
        if not task.cancelled():
            task.exception()
        return
    task.cancel()
    try:
        with contextlib.suppress(Exception):
            await task
    except asyncio.CancelledError:
        caller = asyncio.current_task()
        if caller is not None and caller.cancelling():
            raise


async def _newest_activity(ctx: FetchContext, windows: Sequence[Window]) -> dt.datetime | None:
    """The moment of the newest activity between the windows' start and end (None: none,
    or unknown).

    Only an estimate depends on it: when the question fails (after the client's retries)
    the run goes on without it, estimating up to the range's end as it would for an
    account active until today. A rejected key fails the stream's own requests as well.
    """
    try:
        newest = await one_activity_moment(
            ctx.client, order="-date", start_date=windows[0].start, end_date=windows[-1].end
        )
    except ChartMogulError as exc:
        if isinstance(exc, ConfigError):
            raise
        _log.info("newest activity unknown (%s): activities estimated to the range's end", exc)
        return None
    return as_datetime(newest)


def _in_range(windows: Sequence[Window], newest: dt.datetime | None) -> dt.datetime | None:
    """``newest`` if its day falls within the windows' days, else None (unknown): an answer
    that ignored its filters says nothing of the range."""
    if newest is None or not windows[0].first_day <= newest.date() <= windows[-1].end:
        return None
    return newest


def _spread_to(windows: Sequence[Window], newest: dt.datetime | None) -> list[Window]:
    """``windows`` re-split to end with the newest activity's day (within the range; None:
    unknown); the last window still ends where the range does. One window when all
    activity falls on the first day."""
    first, end = windows[0], windows[-1].end
    if newest is None or newest.date() >= end:
        return list(windows)
    spread = date_windows(first.start_at, newest.date(), len(windows))
    spread[0] = dataclasses.replace(spread[0], start=first.start)
    spread[-1] = dataclasses.replace(spread[-1], end=end)
    return spread


def _few_pages_left(
    ctx: FetchContext,
    windows: Sequence[Window],
    items: Sequence[Activity],
    newest: dt.datetime | None,
    latency_s: float,
) -> bool:
    """Whether the range's pages after ``items`` (the first) are few enough to read on;
    ``newest`` is the range's newest activity (None: unknown, the range's end counts)."""
    begin = windows[0].start_at
    last = as_datetime(items[-1].date) if items else None
    if last is None:
        return False
    # without the newest activity, the range's last day is read whole
    end = newest or dt.datetime.combine(
        windows[-1].end + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC
    )
    return read_on_is_quicker(
        covered_s=(last - begin).total_seconds(),
        span_s=(end - begin).total_seconds(),
        latency_s=latency_s,
        pace_s=1.0 / ctx.client.limiter.pacer.rate,
        windows=len(windows),
    )


class _WindowProgress:
    """Checkpoints of activities: once every window up to one has ended, its newest record.

    Windows run at once and end in any order; a state is safe to resume from when every
    window before it has been emitted in full, so checkpoints follow the finished prefix.
    Records of later windows emitted earlier are read again after a resume (at least once).
    """

    def __init__(self, ctx: FetchContext, windows: int) -> None:
        self._ctx = ctx
        self.newest = [Newest(same_day) for _ in range(windows)]
        self._done = [False] * windows
        self._prefix = 0
        self._last: StreamState | None = None

    def keeper(self, index: int, cursor: CursorFilter) -> Transform:
        """The records of window ``index`` that ``cursor`` keeps, tracking the newest."""

        newest = self.newest[index]

        def keep(record: Record) -> Record | None:
            return cursor.keep(record, newest)

        return keep

    def finished(self, index: int) -> None:
        self._done[index] = True
        while self._prefix < len(self._done) and self._done[self._prefix]:
            self._prefix += 1
        if self._ctx.checkpoint is None or self._prefix == len(self._done):
            return  # the stream's final state follows when it ends
        states = [n.state() for n in self.newest[: self._prefix]]
        latest = next((state for state in reversed(states) if state is not None), None)
        if latest is not None and latest != self._last:
            self._last = latest
            self._ctx.checkpoint("activities", latest)


async def _list_customer_uuids(ctx: FetchContext) -> list[str]:
    uuids: list[str] = []
    customers = ctx.client.customers
    await _per_source(
        ctx, _ignore, lambda ds: customers.list(data_source_uuid=ds), _unique_customers(uuids)
    )
    return uuids


def _ignore(records: Sequence[Record]) -> None:
    del records


async def _subscriptions(ctx: FetchContext, emit: Emit) -> None:
    uuids = await ctx.customer_uuids(lambda: _list_customer_uuids(ctx))
    gate = asyncio.Semaphore(PER_CUSTOMER_CONCURRENCY)

    async def one(customer_uuid: str) -> int:
        def owned(record: Record) -> Record:
            return {**record, "customer_uuid": customer_uuid}

        async with gate:
            pager = ctx.client.subscriptions.list(customer_uuid)
            return await drain(pager, emit, ctx.record_mode, owned)

    await gather_all(one(uuid) for uuid in uuids)


async def _plan_groups(ctx: FetchContext, emit: Emit) -> None:
    groups: list[Record] = []
    await drain(ctx.client.plan_groups.list(), groups.extend, ctx.record_mode)

    async def with_plans(record: Record) -> Record:
        plans = await ctx.client.plan_groups.plans(str(record["uuid"])).collect()
        return {**record, "plans": [plan.uuid for plan in plans]}

    records = await run_all(with_plans(group) for group in groups)
    if records:
        emit(list(records))


# ---------------------------------------------------------------------- the registry
def _streams(*streams: Stream) -> dict[str, Stream]:
    return {stream.name: stream for stream in streams}


#: Every stream of ``mogulsync extract run``, in a stable order.
STREAMS = _streams(
    Stream("account", ("id",), _account, "The account: name, currency, time zone."),
    Stream("data_sources", ("uuid",), _data_sources, "Billing systems and import sources."),
    Stream("customers", ("uuid",), _customers, "Customers with tags and custom attributes."),
    Stream("contacts", ("uuid",), _contacts, "Contact persons of customers."),
    Stream("plans", ("uuid",), _plans, "Plans of every data source."),
    Stream("plan_groups", ("uuid",), _plan_groups, "Plan groups and the uuids of their plans."),
    Stream("invoices", ("uuid",), _invoices, "Invoices; line items and transactions nested."),
    Stream(
        "subscriptions",
        ("uuid",),
        _subscriptions,
        "Customer subscriptions (metrics view), with their customer_uuid.",
    ),
    Stream(
        "subscription_events",
        ("id",),
        _subscription_events,
        "Subscription events of Custom data sources.",
        cursor_field="updated_at",
    ),
    Stream(
        "activities",
        ("uuid",),
        _activities,
        "MRR movements, incremental by date.",
        cursor_field="date",
    ),
    Stream(
        "customer_count",
        ("interval", "date"),
        _customer_count,
        "Customer count per configured interval.",
    ),
    Stream("metrics", ("interval", "date"), _metrics, "Every metric per configured interval."),
)

_AIRBYTE_INTERVALS: tuple[tuple[str, Interval], ...] = (
    ("daily", "day"),
    ("weekly", "week"),
    ("monthly", "month"),
    ("quarterly", "quarter"),
)
#: Airbyte source-chartmogul's four customer-count streams (one fixed interval each).
AIRBYTE_COUNT_STREAMS = _streams(
    *(
        Stream(
            f"customer_{label}_count",
            ("date",),
            customer_count_for(interval),
            f"Customer count per {interval} (as Airbyte's source-chartmogul).",
        )
        for label, interval in _AIRBYTE_INTERVALS
    )
)

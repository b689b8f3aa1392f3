"""No request of a fetch outlives it, so no connection is left open once its client closed.

A request still on its way when the client closes (it was opening a connection) goes on
over a connection no pool owns: its socket stays open until the garbage collector finds
it, with ``ResourceWarning: unclosed transport`` (the suite turns that into an error in
whichever later test the collection happens). Two ways a fetch left requests running:
a stream part that failed left its sibling parts reading on (``asyncio.gather``), and a
cancelled fetch left the lookups its streams share (the data sources) running.

The transport here is httpx's own over loopback to the emulator; it only holds a chosen
request back until the client is closed, the moment the race needs it to be on its way.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import gc
import warnings
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import httpx
import pytest
from tests.conftest import unlimited_settings
from tests.integration.extract._seed import client_settings

from mogulsync.chartmogul import ChartMogulClient, NewCustomer
from mogulsync.chartmogul.errors import ResponseFormatError
from mogulsync.emulator.server import EmulatorServer
from mogulsync.extract._pump import PagePump
from mogulsync.extract.context import FetchContext
from mogulsync.extract.fetch import Sink, StreamResult, fetch_streams
from mogulsync.extract.records import Record
from mogulsync.extract.runner import ExtractOptions, fetch_pages
from mogulsync.extract.state import StreamState
from mogulsync.extract.streams import STREAMS


class _HoldingTransport(httpx.AsyncHTTPTransport):
    """Real HTTP; a request whose URL contains ``held`` waits until the client closed."""

    def __init__(self, held: str) -> None:
        super().__init__()
        self._held = held
        self.holding = asyncio.Event()
        self.ended = asyncio.Event()
        self.sent_after_close = 0
        self._closed = asyncio.Event()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._held not in str(request.url):
            return await super().handle_async_request(request)
        self.holding.set()
        try:
            await self._closed.wait()
            self.sent_after_close += 1
            return await super().handle_async_request(request)
        finally:  # cancelled while held, or answered after the close
            self.ended.set()

    async def aclose(self) -> None:
        await super().aclose()
        self._closed.set()


@pytest.fixture(scope="module")
def two_sources() -> Iterator[tuple[EmulatorServer, list[str]]]:
    """An emulator with two data sources of two customers each."""

    async def seed(server: EmulatorServer) -> list[str]:
        async with ChartMogulClient(client_settings(server.base_url, server.api_key)) as client:
            uuids = []
            for name in ("a", "b"):
                source = await client.data_sources.create(f"Source {name}")
                for index in range(2):
                    customer = NewCustomer(
                        data_source_uuid=source.uuid, external_id=f"{name}{index}"
                    )
                    await client.customers.create(customer)
                uuids.append(source.uuid)
            return uuids

    with EmulatorServer(unlimited_settings()) as server:
        yield server, asyncio.run(seed(server))


def _ignore(stream: str, records: Sequence[Record]) -> None:
    del stream, records


def _resource_warnings(caught: list[warnings.WarningMessage]) -> list[str]:
    return [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]


def test_a_failed_part_stops_its_siblings_before_the_client_closes(
    two_sources: tuple[EmulatorServer, list[str]],
) -> None:
    """Customers are read per data source at once; the first source's list answers a body
    that is not JSON (not retried), while the second's request is on its way."""
    server, (first, second) = two_sources
    malformed = {"fault": "malformed", "query_pattern": f"data_source_uuid={first}"}
    script = f"{server.base_url}/_emulator/faults/script"
    httpx.post(script, json=malformed, timeout=30).raise_for_status()

    async def fetch() -> tuple[type[BaseException] | None, int]:
        transport = _HoldingTransport(held=f"data_source_uuid={second}")
        settings = client_settings(server.base_url, server.api_key)
        async with ChartMogulClient(settings, transport=transport) as client:
            ctx = FetchContext(client=client, start_date=None, end_date=dt.date(2026, 1, 31))
            (result,) = await fetch_streams(ctx, [STREAMS["customers"]], _ignore)
        await transport.ended.wait()  # cancelled while held, or answered after the close
        # the error's type only: its traceback holds the client until it is dropped
        return type(result.error) if result.error else None, transport.sent_after_close

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        error, sent_after_close = asyncio.run(fetch())
        gc.collect()
    assert error is ResponseFormatError
    assert _resource_warnings(caught) == []
    assert sent_after_close == 0


def test_a_cancelled_fetch_ends_the_lookups_its_streams_share(
    two_sources: tuple[EmulatorServer, list[str]],
) -> None:
    """The extract's pump cancels the fetch when the run stops (Ctrl-C, a dlt failure);
    here while the data sources every per-source stream waits for are being asked."""
    server, _ = two_sources

    async def fetch() -> int:
        transport = _HoldingTransport(held="/data_sources")
        settings = client_settings(server.base_url, server.api_key)
        async with ChartMogulClient(settings, transport=transport) as client:
            ctx = FetchContext(client=client, start_date=None, end_date=dt.date(2026, 1, 31))
            streams = [STREAMS["customers"], STREAMS["plans"]]
            fetching = asyncio.ensure_future(fetch_streams(ctx, streams, _ignore))
            await transport.holding.wait()
            fetching.cancel()
            with pytest.raises(asyncio.CancelledError):
                await fetching
        await transport.ended.wait()
        return transport.sent_after_close

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sent_after_close = asyncio.run(fetch())
        gc.collect()
    assert _resource_warnings(caught) == []
    assert sent_after_close == 0


class _CancelledAsItClosesTransport(httpx.AsyncHTTPTransport):
    """Real HTTP; the first two requests wait for each other (two pooled connections), and
    the fetch is cancelled as the client closes, as the pump does when the run stops then."""

    def __init__(self) -> None:
        super().__init__()
        self.fetch: asyncio.Task[object] | None = None
        self._waiting = 0
        self._both_in = asyncio.Event()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self._waiting += 1
        if self._waiting == 2:
            self._both_in.set()
        await self._both_in.wait()
        return await super().handle_async_request(request)

    async def aclose(self) -> None:
        assert self.fetch is not None
        self.fetch.cancel()
        await super().aclose()


def test_a_fetch_cancelled_as_its_client_closes_leaves_no_connection_open(
    two_sources: tuple[EmulatorServer, list[str]], tmp_path: Path
) -> None:
    """The run stopped (Ctrl-C, a dlt failure, serve cancelling it) just as the fetch was
    over: the pump's cancel lands while the client closes its connections."""
    server, _ = two_sources
    transport = _CancelledAsItClosesTransport()
    options = ExtractOptions(destination=f"duckdb:///{tmp_path}/x.duckdb", state_dir=tmp_path)
    streams = [STREAMS["account"], STREAMS["data_sources"]]  # one request each, at once
    states: concurrent.futures.Future[Mapping[str, StreamState]] = concurrent.futures.Future()
    states.set_result({})
    settings = client_settings(server.base_url, server.api_key)

    async def fetch_all(sink: Sink) -> list[StreamResult]:
        transport.fetch = asyncio.current_task()
        return await fetch_pages(settings, options, streams, states, sink, transport)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pump = PagePump(fetch_all)
        pages = list(pump.pages())
        # the error's type only: its traceback holds the connections being closed
        error = type(pump.error)
        del pump
        gc.collect()
    assert {name for name, _ in pages} == {"account", "data_sources"}
    assert error is asyncio.CancelledError
    assert _resource_warnings(caught) == []

"""The page pump: pages flow from the fetch thread with bounded memory, and stop cleanly."""

from __future__ import annotations

import asyncio
import threading

from mogulsync.extract._pump import FetchCancelledError, PagePump
from mogulsync.extract.fetch import Sink, StreamResult

PAGES = 30
QUEUED = 3


def _producer(produced: list[int], failure: list[BaseException]) -> object:
    async def fetch_all(sink: Sink) -> list[StreamResult]:
        try:
            for index in range(PAGES):
                sink("s", [{"n": index}])
                produced.append(index)
                await asyncio.sleep(0)
        except BaseException as exc:
            failure.append(exc)
            raise
        return [StreamResult("s", PAGES, 0.0)]

    return fetch_all


def test_pages_arrive_in_order_and_the_fetch_never_runs_far_ahead() -> None:
    """The fetch thread is at most the queue size (plus the page in hand) ahead of dlt."""
    produced: list[int] = []
    pump = PagePump(_producer(produced, []), max_pages=QUEUED)  # type: ignore[arg-type]
    received = []
    for taken, (stream, records) in enumerate(pump.pages(), start=1):
        assert stream == "s"
        received.append(records[0]["n"])
        # pages handed over but not yet taken sit in the queue: never more than its size
        assert len(produced) <= taken + QUEUED + 1
    assert received == list(range(PAGES))
    assert [r.records for r in pump.results] == [PAGES]
    assert pump.error is None


def test_a_consumer_that_stops_cancels_the_fetch_and_joins_its_thread() -> None:
    """Closing the page iterator early stops the fetch instead of leaving it blocked."""
    produced: list[int] = []
    failure: list[BaseException] = []
    pump = PagePump(_producer(produced, failure), max_pages=1)  # type: ignore[arg-type]
    pages = pump.pages()
    next(pages)
    pages.close()
    assert len(produced) < PAGES
    assert failure
    assert isinstance(failure[0], FetchCancelledError | asyncio.CancelledError)
    assert not [t for t in threading.enumerate() if t.name == "mogulsync-extract-fetch"]


def test_a_failing_fetch_is_reported_after_the_pages() -> None:
    """An error escaping the fetch as a whole ends the pages and is kept in ``error``."""

    async def fetch_all(sink: Sink) -> list[StreamResult]:
        sink("s", [{"n": 1}])
        raise RuntimeError("boom")

    pump = PagePump(fetch_all)
    assert [records for _, records in pump.pages()] == [[{"n": 1}]]
    assert isinstance(pump.error, RuntimeError)
    assert pump.results == []


def test_a_started_pump_fetches_before_anyone_reads() -> None:
    """``start`` runs the fetch at once; its pages wait in the queue for ``pages``."""
    produced: list[int] = []
    pump = PagePump(_producer(produced, []), max_pages=PAGES + 1)  # type: ignore[arg-type]
    pump.start()
    # the whole fetch fits in the queue, so it ends without a reader
    pump._thread.join()  # type: ignore[union-attr]
    assert produced == list(range(PAGES))
    assert [records[0]["n"] for _, records in pump.pages()] == list(range(PAGES))


def test_closing_a_pump_nobody_read_stops_its_fetch() -> None:
    """A run whose set-up fails closes the pump: the blocked fetch ends, its thread joins."""
    produced: list[int] = []
    failure: list[BaseException] = []
    pump = PagePump(_producer(produced, failure), max_pages=1)  # type: ignore[arg-type]
    pump.start()
    pump.close()
    assert len(produced) < PAGES
    assert not [t for t in threading.enumerate() if t.name == "mogulsync-extract-fetch"]
    assert pump.error is not None or failure

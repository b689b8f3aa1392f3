"""Fetch on a background thread while dlt extracts on the caller's, one page at a time.

dlt pulls records from a generator in the calling thread; the streams fetch on an asyncio
loop. The pump runs that loop on its own thread and passes pages through a bounded queue,
so memory stays flat however large the account: when dlt falls behind, handing over a page
blocks the fetch loop (back-pressure) instead of piling pages up. If the consumer goes away
(a dlt error, Ctrl-C), the fetch is cancelled and its thread joined before ``pages`` ends.

``start`` begins fetching before anyone reads: a run starts its requests first and sets
dlt up while the first pages are on their way (``close`` stops a fetch nobody will read).
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import Final

from mogulsync import _threads
from mogulsync.extract.fetch import Sink, StreamResult
from mogulsync.extract.records import Record

#: Pages (up to 200 records each) waiting for dlt; bounds the records held in memory.
MAX_QUEUED_PAGES = 64
#: How often a blocked hand-over looks whether the consumer has gone away.
_POLL_S = 0.2
_END: Final = object()

Page = tuple[str, Sequence[Record]]
FetchAll = Callable[[Sink], Awaitable[list[StreamResult]]]


class FetchCancelledError(Exception):
    """The consumer stopped reading pages; the fetch ends early."""


class PagePump:
    """Runs ``fetch_all(sink)`` on a thread of its own; ``pages()`` yields what it emits."""

    def __init__(self, fetch_all: FetchAll, max_pages: int = MAX_QUEUED_PAGES) -> None:
        self._fetch_all = fetch_all
        self._queue: queue.Queue[Page | object] = queue.Queue(max_pages)
        self._stop = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[object] | None = None
        self._started = threading.Event()
        self._thread: threading.Thread | None = None
        self.results: list[StreamResult] = []
        #: why the fetch as a whole failed (a stream's failure is in its result instead)
        self.error: BaseException | None = None

    def start(self) -> None:
        """Start fetching now; pages wait in the queue (at most ``max_pages``) for ``pages``."""
        if self._thread is None:
            self._thread = _threads.Thread(
                target=self._run, name="mogulsync-extract-fetch", daemon=True
            )
            self._thread.start()

    def pages(self) -> Iterator[Page]:
        """Yield ``(stream, records)`` pages until every stream ended (starts if needed)."""
        self.start()
        try:
            while (item := self._queue.get()) is not _END:
                yield item  # type: ignore[misc]
        finally:
            self.close()

    def close(self) -> None:
        """Stop the fetch if it still runs, and wait for its thread."""
        self._stop.set()
        self._cancel()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        try:
            self.results = asyncio.run(self._main())
        except BaseException as exc:  # handed to the consumer thread via ``error``
            self.error = exc
        finally:
            self._hand_over(_END)

    async def _main(self) -> list[StreamResult]:
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.current_task()
        self._started.set()
        if self._stop.is_set():  # closed before the loop was up: ``_cancel`` could not reach it
            raise FetchCancelledError("the extract stopped before fetching")
        return await self._fetch_all(self._sink)

    def _sink(self, stream: str, records: Sequence[Record]) -> None:
        if not self._hand_over((stream, records)):
            raise FetchCancelledError("the extract stopped reading")

    def _hand_over(self, item: Page | object) -> bool:
        """Queue ``item``, waiting while the queue is full; False once the consumer left."""
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=_POLL_S)
            except queue.Full:
                continue
            return True
        return False

    def _cancel(self) -> None:
        if self._started.is_set() and self._loop is not None and self._task is not None:
            loop, task = self._loop, self._task
            if not loop.is_closed():
                try:
                    loop.call_soon_threadsafe(task.cancel)
                except RuntimeError:  # the loop closed in between: nothing left to cancel
                    return

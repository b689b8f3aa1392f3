"""A client closed while its caller is cancelled still closes every pooled connection.

httpx closes a pool's connections one after the other, awaiting each; a cancellation
landing between two (the extract's pump cancels its fetch when the run stops, which can be
just as the fetch closes its client; ``serve`` stops a job the same way) left the others
open: ``ResourceWarning: unclosed <socket.socket ...>`` once the garbage collector found
them, and in a long-running ``serve`` a descriptor held until then.
"""

from __future__ import annotations

import asyncio
import gc
import warnings
from collections.abc import Callable

import httpx

from mogulsync.chartmogul import ChartMogulClient, ClientSettings
from mogulsync.emulator.server import EmulatorServer

#: requests held until all are on their way: the pool then holds this many connections
_CONNECTIONS = 3


class _TogetherTransport(httpx.AsyncHTTPTransport):
    """Real HTTP; each request waits until ``_CONNECTIONS`` are in flight, so each has
    opened a connection of its own before any is answered."""

    def __init__(self) -> None:
        super().__init__()
        self._waiting = 0
        self._all_in = asyncio.Event()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self._waiting += 1
        if self._waiting == _CONNECTIONS:
            self._all_in.set()
        await self._all_in.wait()
        return await super().handle_async_request(request)


def test_a_cancel_while_the_client_closes_leaves_no_connection_open(
    emulator_server: EmulatorServer, client_settings: Callable[..., ClientSettings]
) -> None:
    settings = client_settings(emulator_server)

    async def close_cancelled() -> bool:
        client = ChartMogulClient(settings, transport=_TogetherTransport())
        await asyncio.gather(*(client.data_sources.page() for _ in range(_CONNECTIONS)))
        closing = asyncio.ensure_future(client.aclose())
        await asyncio.sleep(0)  # the close has begun
        closing.cancel()
        try:
            await closing
        except asyncio.CancelledError:
            return True
        return False

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cancelled = asyncio.run(close_cancelled())
        gc.collect()
    unclosed = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
    assert unclosed == []
    assert cancelled  # the caller's cancellation is not swallowed

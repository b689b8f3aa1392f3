"""Run a client against the emulator in-process, with no socket (unit-test seam).

Use :func:`in_process_transport` as an httpx transport; connection drops injected by the
emulator surface as :class:`httpx.ReadError`, exactly what a client would see on loopback.
"""

from __future__ import annotations

import httpx

from mogulsync.emulator._connections import ConnectionDropped
from mogulsync.emulator.app import EmulatorApp


class _DroppingASGITransport(httpx.ASGITransport):
    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            return await super().handle_async_request(request)
        except ConnectionDropped as exc:
            raise httpx.ReadError("connection reset by peer", request=request) from exc


def in_process_transport(app: EmulatorApp) -> httpx.AsyncBaseTransport:
    """An httpx transport that calls the emulator app directly."""
    return _DroppingASGITransport(app=app)

"""Connections to our servers send small responses at once (``TCP_NODELAY``).

Every server binds its listening socket itself (race-free ports) and hands it to uvicorn.
When uvicorn accepts on asyncio's own loop (a server embedded in an asyncio program, the
tests' in-process ``serve``), asyncio turns Nagle's algorithm off only on sockets whose
protocol says TCP: one made without it left every accepted connection with Nagle on, so a
response's body (sent after its headers) waited for the client's delayed ACK, ~40 ms per
request on a keep-alive connection. (uvloop, which the command-line servers run on, sets
it anyway; the events endpoint and ``serve`` accept connections themselves and set it.)
Checked on the accepted connections themselves, never by timing.
"""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import httpx
import pytest
import uvicorn

from mogulsync._listen import listening_socket
from mogulsync.config import parse_config
from mogulsync.events.server import EventsService

pytestmark = pytest.mark.anyio
WRITE_KEY = "wk-nodelay-0123456789"


def _nodelay(connections: set[asyncio.Protocol]) -> list[int]:
    """TCP_NODELAY of each connection the server holds."""
    found = []
    for connection in connections:
        transport = connection.transport  # type: ignore[attr-defined]
        sock = transport.get_extra_info("socket")
        found.append(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
    return found


async def _hello(scope: dict, _receive: object, send) -> None:  # type: ignore[no-untyped-def]
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


async def test_a_server_on_our_listening_socket_turns_nagle_off() -> None:
    """uvicorn on asyncio's loop serving on ``listening_socket``."""
    listener = listening_socket("127.0.0.1")
    port = listener.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(_hello, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    task = asyncio.create_task(server.serve(sockets=[listener]))
    try:
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            for _ in range(3):
                assert (await http.get("/")).text == "ok"
            assert _nodelay(server.server_state.connections) == [1]
    finally:
        server.should_exit = True
        await task


def test_the_events_endpoint_turns_nagle_off(tmp_path: Path, dead_url: str) -> None:
    """The events service's hardened server (its own accept path) on its own socket."""
    raw = {
        "chartmogul": {"api_key": "${API_KEY}", "base_url": dead_url},
        "state_dir": str(tmp_path),
        "events": {"write_keys": ["${WRITE_KEY}"]},
    }
    config = parse_config(raw, env={"API_KEY": "unused", "WRITE_KEY": WRITE_KEY})
    with (
        EventsService(config, host="127.0.0.1", port=0, forward=False) as service,
        httpx.Client(base_url=service.base_url, auth=(WRITE_KEY, ""), timeout=30) as http,
    ):
        for n in range(3):
            sent = http.post("/v1/identify", json={"userId": "u", "messageId": f"m{n}"})
            assert sent.status_code == 200
        assert service._server is not None
        assert _nodelay(service._server.server_state.connections) == [1]

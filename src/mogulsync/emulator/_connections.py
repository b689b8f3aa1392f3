"""Lets the app reset the TCP connection of a request (fault injection).

The server's protocol class registers each connection's transport under its peer address;
the ASGI scope's ``client`` names the same address. In-process (no socket), dropping raises
:class:`ConnectionDropped` instead, which the in-process transport turns into the
connection error an HTTP client would see.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import MutableMapping
from typing import Any

_TRANSPORTS: dict[tuple[str, int], asyncio.Transport] = {}


class ConnectionDropped(Exception):  # noqa: N818 - it is an event, not an error of ours
    """Raised in-process where a real server would reset the connection."""


def register(peer: tuple[str, int], transport: asyncio.Transport) -> None:
    """Remember a live connection."""
    _TRANSPORTS[peer] = transport


def unregister(peer: tuple[str, int]) -> None:
    """Forget a closed connection."""
    _TRANSPORTS.pop(peer, None)


def drop(scope: MutableMapping[str, Any]) -> None:
    """Reset the connection of this request with a TCP RST, sending nothing."""
    client = scope.get("client")
    transport = _TRANSPORTS.get(tuple(client)) if client else None
    if transport is None:
        raise ConnectionDropped
    sock = transport.get_extra_info("socket")
    if sock is not None:
        # linger 0 makes close() send RST: the client sees "connection reset by peer".
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()

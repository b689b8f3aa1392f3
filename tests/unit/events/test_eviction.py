"""At the connection cap, the connection evicted is one really waiting for its headers."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest

from mogulsync.config.events import IngestLimits
from mogulsync.events._protocol import ConnectionGuard


class _Transport:
    """The two calls eviction makes on a transport, over a real socket."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.closed = False

    def get_extra_info(self, name: str) -> Any:
        return self.sock if name == "socket" else None

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True


class _Connection:
    def __init__(self, transport: _Transport) -> None:
        self.transport = transport


@pytest.fixture
def pairs() -> Iterator[list[tuple[socket.socket, socket.socket]]]:
    made: list[tuple[socket.socket, socket.socket]] = []
    yield made
    for server_side, client_side in made:
        server_side.close()
        client_side.close()


def _connection(pairs: list[tuple[socket.socket, socket.socket]], sent: bytes) -> _Connection:
    server_side, client_side = socket.socketpair()
    pairs.append((server_side, client_side))
    if sent:
        client_side.sendall(sent)
    return _Connection(_Transport(server_side))


def test_a_connection_whose_request_is_unread_is_passed_over(pairs) -> None:
    """The oldest waiting connection has its request in the socket already (accepted in
    the same loop turn, not read yet): the next one, idle, is evicted instead."""
    guard = ConnectionGuard(IngestLimits(), max_connections=2)
    arrived = _connection(pairs, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
    idle = _connection(pairs, b"")
    guard.waiting.update({arrived: None, idle: None})  # type: ignore[dict-item]

    assert guard.evict_oldest_waiting() is True

    assert (arrived.transport.closed, idle.transport.closed) == (False, True)
    assert list(guard.waiting) == [arrived]
    assert guard.counts["evicted"] == 1


def test_when_every_waiting_connection_has_its_request_unread_none_is_evicted(pairs) -> None:
    guard = ConnectionGuard(IngestLimits(), max_connections=1)
    arrived = _connection(pairs, b"GET / HTTP/1.1\r\n")
    guard.waiting[arrived] = None  # type: ignore[index]

    assert guard.evict_oldest_waiting() is False
    assert arrived.transport.closed is False
    assert guard.counts["evicted"] == 0

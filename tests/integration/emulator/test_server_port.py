"""An emulator started without a port holds its port from the moment it is created.

It used to probe a free port, close the probe and let uvicorn bind the number later: in
between, another process (a second test run's emulator, an outgoing connection's source
port) could take it, and the emulator then failed to start.
"""

from __future__ import annotations

import errno
import socket

import httpx
import pytest
from tests.conftest import unlimited_settings

from mogulsync.emulator.server import EmulatorServer
from mogulsync.testing.ports import reserved_port


def test_the_port_is_taken_before_the_server_starts() -> None:
    server = EmulatorServer(unlimited_settings())
    try:
        with socket.socket() as other, pytest.raises(OSError) as taken:
            other.bind((server.host, server.port))
        assert taken.value.errno == errno.EADDRINUSE
        server.start()
        stats = httpx.get(f"{server.base_url}/_emulator/stats", timeout=10)
        assert stats.status_code == 200
    finally:
        server.stop()


def test_a_given_port_is_still_bound_by_the_server() -> None:
    """An explicit port (a restart on the same port) is bound at start, as before."""
    with reserved_port() as port, EmulatorServer(unlimited_settings(), port=port) as server:
        assert server.port == port
        assert httpx.get(f"{server.base_url}/_emulator/stats", timeout=10).status_code == 200

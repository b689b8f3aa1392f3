"""Race-free ports: sockets bound before a server starts, and ports held for refusals."""

from __future__ import annotations

import errno
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from mogulsync._listen import bound_port, listening_socket, url_host
from mogulsync.testing.ports import announced_url, refused_port, reserved_port


def _bind_fails(port: int) -> None:
    with socket.socket() as other, pytest.raises(OSError) as taken:
        other.bind(("127.0.0.1", port))
    assert taken.value.errno == errno.EADDRINUSE


def test_a_listening_socket_on_port_0_accepts_before_anyone_calls_accept() -> None:
    """The OS picks the port; a client connecting before the server's loop runs is queued."""
    with listening_socket("127.0.0.1") as server:
        port = bound_port(server)
        assert port != 0
        _bind_fails(port)
        with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
            accepted, _ = server.accept()
            with accepted:
                client.sendall(b"x")
                assert accepted.recv(1) == b"x"


def _open_descriptors() -> set[str]:
    return {entry.name for entry in Path("/proc/self/fd").iterdir()}


def test_a_taken_port_raises_and_leaves_no_socket_open() -> None:
    with listening_socket("127.0.0.1") as first:
        before = _open_descriptors()
        with pytest.raises(OSError) as taken:
            listening_socket("127.0.0.1", bound_port(first))
        assert _open_descriptors() == before  # the failed socket was closed
    assert taken.value.errno == errno.EADDRINUSE


def test_ipv6_hosts_are_bracketed_in_urls() -> None:
    assert url_host("::1") == "[::1]"
    assert url_host("127.0.0.1") == "127.0.0.1"


def test_a_refused_port_refuses_and_cannot_be_taken_meanwhile() -> None:
    with refused_port() as port:
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=10)
        _bind_fails(port)


def test_a_reserved_port_takes_a_server_twice_and_nobody_else() -> None:
    """A stop and a restart on the same number, with the port never free in between."""
    with reserved_port() as port:
        _bind_fails(port)  # a plain bind (another process's probe) is refused
        for _ in range(2):  # start, stop, start again
            with listening_socket("127.0.0.1", port) as server:
                with socket.create_connection(("127.0.0.1", port), timeout=10):
                    server.accept()[0].close()
                with pytest.raises(OSError):  # a second listener is refused while it runs
                    listening_socket("127.0.0.1", port)
            _bind_fails(port)


def _printer(tmp_path: Path, *lines: str) -> tuple[subprocess.Popen[bytes], Path]:
    log = tmp_path / "out.log"
    script = "import time\n" + "".join(f"print({line!r}, flush=True)\n" for line in lines)
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, "-c", script], stdout=out)
    return process, log


def test_the_announced_address_is_found_past_other_loopback_urls(tmp_path: Path) -> None:
    process, log = _printer(
        tmp_path,
        "ChartMogul at http://127.0.0.1:8780 is configured",
        "mogulsync serve on http://127.0.0.1:40001 (tokens required; 0 scheduled job(s))",
    )
    try:
        assert announced_url(process, log) == "http://127.0.0.1:40001"
    finally:
        process.wait(timeout=30)


def test_a_server_that_exits_without_an_address_fails_with_its_output(tmp_path: Path) -> None:
    process, log = _printer(tmp_path, "Error: cannot listen")
    process.wait(timeout=30)
    with pytest.raises(AssertionError, match="Error: cannot listen"):
        announced_url(process, log)

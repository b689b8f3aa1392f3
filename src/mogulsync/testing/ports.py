"""Ports for tests and benchmarks without races: servers pick their own, refused ports stay held.

A port probed free and handed to a server later can be taken in between by a parallel
test or another run. Servers here start on port 0 (the OS picks one as they bind) and the
test reads the address the server announces; a port where "nobody listens" is held bound
(never listening) by the test itself for as long as it needs the refusal.
"""

from __future__ import annotations

import re
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

#: seconds a server process gets to announce its address
ANNOUNCE_S = 60.0
#: the address lines of `serve`, `emulator serve` and `events serve` (text or JSON logs);
#: other loopback URLs (the emulator's a project points at) may come before them
ANNOUNCED = re.compile(
    r'(?:mogulsync serve on |ChartMogul emulator on |Segment endpoint on |"url": ?")'
    r"(http://127\.0\.0\.1:[0-9]+)"
)


@contextmanager
def refused_port(host: str = "127.0.0.1") -> Iterator[int]:
    """A port that refuses connections while the block runs (bound, never listening)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        yield sock.getsockname()[1]


@contextmanager
def silent_port(host: str = "127.0.0.1") -> Iterator[int]:
    """A port that accepts connections and never answers while the block runs (a hung
    server, or a host behind a firewall that drops packets): listening, never accepting."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        sock.listen(8)  # the kernel completes the handshakes; nobody reads a byte
        yield sock.getsockname()[1]


@contextmanager
def reserved_port(host: str = "127.0.0.1") -> Iterator[int]:
    """A port kept for a server that must be started (and restarted) on a known number.

    The socket holding it is bound with ``SO_REUSEADDR`` and never listens: a server that
    also sets ``SO_REUSEADDR`` (uvicorn, PostgreSQL, ``mogulsync._listen``) can bind and
    listen on it, any other bind fails, and the port stays ours between two runs of the
    server for as long as the block runs.
    """
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, 0))
        yield sock.getsockname()[1]


def announced_url(
    process: subprocess.Popen[bytes] | subprocess.Popen[str],
    log: Path,
    timeout: float = ANNOUNCE_S,
) -> str:
    """The ``http://127.0.0.1:PORT`` a server process announced in ``log``.

    The servers print their address once bound (``--port 0`` shows the real port).
    """
    deadline = time.monotonic() + timeout
    while True:
        text = log.read_text(encoding="utf-8", errors="replace") if log.exists() else ""
        if found := ANNOUNCED.search(text):
            return found.group(1)
        if process.poll() is not None:
            raise AssertionError(f"exited ({process.returncode}) with no address:\n{text}")
        if time.monotonic() > deadline:
            raise AssertionError(f"no address announced in {timeout} s:\n{text}")
        time.sleep(0.02)

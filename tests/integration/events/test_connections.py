"""The events server against slow, idle and oversized connections: real sockets, loopback.

Each test opens raw TCP connections to a running ``EventsService`` (uvicorn with the
hardened protocol) and waits, with a generous bound, for what the server must do: close,
answer 408/431/503, or accept a valid request. No assertion depends on how fast that is.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from mogulsync._listen import bound_port, listening_socket
from mogulsync.config import parse_config
from mogulsync.config.events import IngestLimits
from mogulsync.events._throttle import INGEST_LOGGER
from mogulsync.events.hosting import hardened_server
from mogulsync.events.queue import EventQueue
from mogulsync.events.server import EventsService
from mogulsync.testing.ports import refused_port

WRITE_KEY = "wk-conn"
#: how long a test waits for the server to act (the timeouts under test are far shorter)
PATIENCE_S = 20.0
IDENTIFY = {"userId": "u", "messageId": "valid"}


def service_for(tmp_path: Path, base_url: str, **limits: object) -> EventsService:
    raw = {
        "chartmogul": {"api_key": "${API_KEY}", "base_url": base_url},
        "state_dir": str(tmp_path),
        "events": {"write_keys": ["${WRITE_KEY}"], "limits": limits},
    }
    config = parse_config(raw, env={"API_KEY": "unused", "WRITE_KEY": WRITE_KEY})
    return EventsService(config, host="127.0.0.1", port=0, forward=False)


@contextlib.contextmanager
def serving(tmp_path: Path, **limits: object) -> Iterator[EventsService]:
    with unstarted(tmp_path, **limits) as service:
        yield service.start()


@contextlib.contextmanager
def unstarted(tmp_path: Path, **limits: object) -> Iterator[EventsService]:
    """A service listening but not yet serving: what clients send before ``start()``
    waits in the kernel, so a deadline under test starts with the bytes already there."""
    with refused_port() as dead:  # not forwarding: ChartMogul is never called
        service = service_for(tmp_path, f"http://127.0.0.1:{dead}", **limits)
        try:
            yield service
        finally:
            service.stop()


def connect(service: EventsService) -> socket.socket:
    sock = socket.create_connection((service.host, service.port), timeout=PATIENCE_S)
    sock.settimeout(PATIENCE_S)
    return sock


def read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes (a timeout here fails the test)."""
    chunks = []
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + PATIENCE_S
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def identify(service: EventsService) -> httpx.Response:
    return httpx.post(
        f"{service.base_url}/v1/identify", json=IDENTIFY, auth=(WRITE_KEY, ""), timeout=PATIENCE_S
    )


def test_an_idle_connection_and_unfinished_headers_are_closed(tmp_path: Path) -> None:
    """No bytes: closed silently; headers never finished: 408 and closed.

    Both connect and the partial headers are sent before the server accepts: sent after,
    a client held off the CPU for the 0.2 s would look idle (closed, no 408).
    """
    with unstarted(tmp_path, header_timeout_s=0.2) as service:
        with connect(service) as idle, connect(service) as partial:
            partial.sendall(b"POST /v1/identify HTTP/1.1\r\nHost: x\r\n")
            service.start()
            assert read_until_closed(idle) == b""
            answer = read_until_closed(partial)
        assert answer.startswith(b"HTTP/1.1 408 ")
        assert b'"code": "request_timeout"' in answer
        assert service.guard.counts["header_timeouts"] == 2


def test_a_body_that_never_finishes_is_closed_and_nothing_stored(tmp_path: Path) -> None:
    """Headers in, body stalled: the connection is closed after the body timeout.

    The headers are in before the server accepts (as above: no header deadline to race).
    """
    with unstarted(tmp_path, body_timeout_s=0.2) as service:
        with connect(service) as sock:
            sock.sendall(
                b"POST /v1/identify HTTP/1.1\r\nHost: x\r\n"
                b"Authorization: Basic d2stY29ubjo=\r\nContent-Length: 100\r\n\r\n{"
            )
            service.start()
            assert read_until_closed(sock) == b""
        assert service.guard.counts["body_timeouts"] == 1
        assert identify(service).status_code == 200
    queue = EventQueue(service.path)
    assert queue.counts()["pending"] == 1


def test_unterminated_headers_beyond_the_cap_get_431(tmp_path: Path) -> None:
    """A header that never ends is cut at the cap: 431 and closed, not buffered to 100 MB."""
    with serving(tmp_path, max_header_bytes=8 * 1024) as service:
        sent = 0
        with connect(service) as sock:
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                sock.sendall(b"POST /v1/identify HTTP/1.1\r\nX-Big: ")
                for _ in range(400):  # up to 25 MB if the server kept reading
                    sock.sendall(b"a" * 65536)
                    sent += 65536
            answer = read_until_closed(sock)
        assert answer.startswith(b"HTTP/1.1 431 ")
        assert sent < 400 * 65536
        assert service.guard.counts["headers_too_large"] == 1
        assert identify(service).status_code == 200


def test_idle_connections_at_the_cap_are_evicted_for_real_clients(tmp_path: Path) -> None:
    """At max_connections idle sockets, a valid identify still lands (oldest idle is closed)."""
    with serving(tmp_path, max_connections=8) as service, contextlib.ExitStack() as stack:
        idle = [stack.enter_context(connect(service)) for _ in range(8)]
        wait_until(lambda: len(service.guard.waiting) == 8, "8 idle connections")
        assert identify(service).status_code == 200
        assert service.guard.counts["evicted"] >= 1
        assert read_until_closed(idle[0]) == b""  # the oldest went first


def test_busy_connections_at_the_cap_make_new_ones_wait_and_log_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Every connection mid-request: new ones wait in the listen queue (no descriptor),
    the cap is logged once per interval, and they are served once a slot frees."""
    with serving(tmp_path, max_connections=8, log_interval_s=3600) as service:
        with contextlib.ExitStack() as stack, caplog.at_level(logging.WARNING, INGEST_LOGGER):
            busy = []
            for _ in range(8):  # headers in, body pending: not evictable
                sock = stack.enter_context(connect(service))
                sock.sendall(
                    b"POST /v1/identify HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"
                )
                busy.append(sock)
            wait_until(lambda: service.open_connections == 8, "8 connections")
            wait_until(lambda: not service.guard.waiting, "8 busy connections")
            queued = [stack.enter_context(connect(service)) for _ in range(20)]
            for sock in queued:
                sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            wait_until(lambda: service.guard.counts["paused"] >= 1, "the acceptor to pause")
            assert service.guard.open <= 9  # the cap, plus the one that found it full
            for sock in busy:
                sock.close()
            answers = [read_until_closed(sock) for sock in queued]
        assert all(a.startswith(b"HTTP/1.1 200 ") for a in answers), [
            a[:200] for a in answers if not a.startswith(b"HTTP/1.1 200 ")
        ]
        cap_lines = [r for r in caplog.records if "connection cap" in r.getMessage()]
        assert len(cap_lines) == 1
        assert service.guard.counts["paused"] >= 2  # paused again as the queue drained
        assert identify(service).status_code == 200


def test_another_asgi_app_served_by_hardened_server_gets_the_same_limits() -> None:
    """hardened_server() wraps any ASGI app (as `mogulsync serve` will): headers time out.

    Both requests are sent before the server accepts (the listener queues them), so the
    0.2 s deadline never races the test's own sending.
    """

    async def hello(scope, receive, send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"hi"})

    listener = listening_socket("127.0.0.1")
    port = bound_port(listener)
    server = hardened_server(
        hello, host="127.0.0.1", port=port, limits=IngestLimits(header_timeout_s=0.2)
    )
    thread = threading.Thread(
        target=lambda: asyncio.run(server.serve(sockets=[listener])), daemon=True
    )
    with (
        socket.create_connection(("127.0.0.1", port), timeout=PATIENCE_S) as whole,
        socket.create_connection(("127.0.0.1", port), timeout=PATIENCE_S) as partial,
    ):
        whole.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        partial.sendall(b"GET / HTTP/1.1\r\n")
        thread.start()
        try:
            answered = read_until_closed(whole)
            assert answered.startswith(b"HTTP/1.1 200 ")
            assert answered.endswith(b"\r\n\r\n2\r\nhi\r\n0\r\n\r\n")  # chunked: no length
            assert read_until_closed(partial).startswith(b"HTTP/1.1 408 ")
            assert server.guard.counts["header_timeouts"] == 1
        finally:
            server.should_exit = True
            thread.join(timeout=PATIENCE_S)


def test_a_body_left_unread_after_a_401_does_not_count_as_the_next_headers(
    tmp_path: Path,
) -> None:
    """A wrong key is answered before the body is read; the connection then serves on."""
    body = b"x" * 100_000
    with serving(tmp_path) as service, connect(service) as sock:
        sock.sendall(
            b"POST /v1/batch HTTP/1.1\r\nHost: x\r\nAuthorization: Basic d3Jvbmc6\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n"
        )
        first = sock.recv(65536)  # the 401 comes before the body is sent
        sock.sendall(body)
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        answers = first + read_until_closed(sock)
    assert answers.startswith(b"HTTP/1.1 401 ")
    assert b"HTTP/1.1 200 " in answers
    assert service.guard.counts["headers_too_large"] == 0

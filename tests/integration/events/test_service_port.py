"""EventsService holds its port (0: the OS's pick) from the moment it is made, as EmulatorServer does.

It used to take the number it was given and bind it only once started: a port probed
free by the caller could be taken in between by another process.
"""

from __future__ import annotations

import errno
import socket
from pathlib import Path

import httpx
import pytest

from mogulsync.config import parse_config
from mogulsync.events.server import EventsService


def _service(tmp_path: Path, base_url: str) -> EventsService:
    raw = {
        "chartmogul": {"api_key": "${API_KEY}", "base_url": base_url},
        "state_dir": str(tmp_path),
        "events": {"write_keys": ["${WRITE_KEY}"]},
    }
    config = parse_config(raw, env={"API_KEY": "unused", "WRITE_KEY": "wk-port"})
    return EventsService(config, host="127.0.0.1", port=0, forward=False)


def _bind_fails(port: int) -> None:
    with socket.socket() as other, pytest.raises(OSError) as taken:
        other.bind(("127.0.0.1", port))
    assert taken.value.errno == errno.EADDRINUSE


def test_port_0_is_bound_at_creation_and_served_at_start(tmp_path: Path, dead_url: str) -> None:
    service = _service(tmp_path, dead_url)
    try:
        assert service.port != 0
        assert service.base_url == f"http://127.0.0.1:{service.port}"
        _bind_fails(service.port)  # nobody else can take it before start()
        service.start()
        assert httpx.get(f"{service.base_url}/health", timeout=10).status_code == 200
    finally:
        service.stop()
    with socket.socket() as again:  # released on stop
        again.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        again.bind(("127.0.0.1", service.port))


def test_a_service_never_started_releases_its_port_on_stop(tmp_path: Path, dead_url: str) -> None:
    service = _service(tmp_path, dead_url)
    service.stop()
    with socket.socket() as again:
        again.bind(("127.0.0.1", service.port))


def test_a_service_that_fails_to_start_releases_its_port(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dead_url: str
) -> None:
    """start() raising leaves no caller to stop it: the service lets the port go itself."""
    from mogulsync.events import server

    def broken(*args: object, **kwargs: object) -> object:
        raise RuntimeError("queue unreadable")

    monkeypatch.setattr(server, "running_events", broken)
    service = _service(tmp_path, dead_url)
    with pytest.raises(RuntimeError, match="queue unreadable"):
        service.start()
    with socket.socket() as again:
        again.bind(("127.0.0.1", service.port))


def test_an_ipv6_host_is_bracketed_in_the_address(tmp_path: Path) -> None:
    """`events serve --host ::1` printed http://::1:8790/v1, which no client can use."""
    raw = {
        "chartmogul": {"api_key": "${API_KEY}"},
        "state_dir": str(tmp_path),
        "events": {"write_keys": ["${WRITE_KEY}"]},
    }
    config = parse_config(raw, env={"API_KEY": "unused", "WRITE_KEY": "wk-port"})
    service = EventsService(config, host="::1", port=0, forward=False)
    try:
        assert service.base_url == f"http://[::1]:{service.port}"
        assert httpx.URL(f"{service.base_url}/v1").port == service.port
    finally:
        service.stop()

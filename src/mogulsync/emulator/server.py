"""Serves the emulator on a TCP port with uvicorn.

The protocol subclass registers each connection so fault injection can reset it with a TCP
RST (see ``_connections``). :class:`EmulatorServer` runs uvicorn in a background thread for
tests, benchmarks and the demo.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
import time
from typing import Any, Self

import uvicorn

from mogulsync import _threads, logs
from mogulsync._listen import bound_port, listening_socket
from mogulsync.emulator import _connections
from mogulsync.emulator.app import EmulatorApp, create_app
from mogulsync.emulator.settings import EmulatorSettings

try:  # httptools is faster; h11 is the pure-Python fallback
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol as _BaseProtocol
except ImportError:  # pragma: no cover - depends on the installed extras
    from uvicorn.protocols.http.h11_impl import H11Protocol as _BaseProtocol  # type: ignore[assignment,unused-ignore]


class _RegisteringProtocol(_BaseProtocol):
    """uvicorn's HTTP protocol that tells the app how to reach its transport."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override,unused-ignore]
        super().connection_made(transport)
        peer = transport.get_extra_info("peername")
        self._mogul_peer = tuple(peer[:2]) if peer else None
        if self._mogul_peer:
            _connections.register(self._mogul_peer, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._mogul_peer:
            _connections.unregister(self._mogul_peer)
        super().connection_lost(exc)


def uvicorn_config(
    app: EmulatorApp, host: str, port: int, *, log_level: str = "warning"
) -> uvicorn.Config:
    """A uvicorn config that serves ``app`` with connection-drop support."""
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        http=_RegisteringProtocol,
        log_level=log_level,
        access_log=False,
        lifespan="off",
        timeout_keep_alive=30,
        backlog=2048,
        **logs.uvicorn_settings(),  # --log-format json: uvicorn's lines too
    )


class EmulatorServer:
    """An emulator on a loopback port in a background thread (context manager)."""

    def __init__(
        self,
        settings: EmulatorSettings | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.app = create_app(settings)
        self.emulator = self.app.emulator
        self.host = host
        # Without a port, bind one now and hand the socket to uvicorn: a port only probed
        # here and bound later by uvicorn could be taken in between by another process
        # (another test run's emulator, an outgoing connection) and the start would fail.
        self._socket = None if port else listening_socket(host)
        self.port = bound_port(self._socket) if self._socket else port
        self._server = uvicorn.Server(uvicorn_config(self.app, self.host, self.port))
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        """``http://host:port`` (the API lives under ``/v1``)."""
        return f"http://{self.host}:{self.port}"

    @property
    def api_key(self) -> str:
        """The first accepted API key."""
        return self.emulator.settings.api_keys[0]

    def start(self, timeout: float = 10.0) -> Self:
        """Start serving and wait until the port accepts connections."""
        logging.getLogger("uvicorn.error").setLevel(logging.CRITICAL)
        sockets = [self._socket] if self._socket else None
        self._thread = _threads.Thread(
            target=self._server.run, kwargs={"sockets": sockets}, name="emulator", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                # `with` never reaches __exit__: release the socket and the thread here
                self.stop()
                raise RuntimeError(f"emulator did not start on {self.base_url}")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        """Stop serving and close the store."""
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._socket is not None:
            self._socket.close()  # uvicorn closes its listener; never started: ours to close
        with contextlib.suppress(Exception):
            self.emulator.store.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve(
    settings: EmulatorSettings,
    host: str,
    port: int,
    *,
    sock: socket.socket | None = None,
    **kwargs: Any,
) -> None:
    """Serve in the foreground until interrupted (the CLI's ``emulator serve``).

    ``sock``: an already listening socket (``--port 0``) instead of binding ``host:port``.
    """
    config = uvicorn_config(create_app(settings), host, port, **kwargs)
    uvicorn.Server(config).run(sockets=[sock] if sock else None)

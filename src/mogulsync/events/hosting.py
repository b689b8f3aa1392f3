"""Serving an ASGI app with the events endpoint's connection limits (reusable).

The request-level protections live in :class:`~mogulsync.events.app.IngestApp` (a plain
ASGI app: mount it anywhere). The connection-level ones need the server's cooperation:
:func:`hardened_config` builds a ``uvicorn.Config`` for *any* ASGI app with header and
body read timeouts, a header cap, a connection cap that fits the open-files limit and
throttled logging, and :class:`GuardedServer` accepts connections only while there is
room for them. A host serving more than the events endpoint on the same port
(``mogulsync serve``) gets the same protections::

    server = hardened_server(host_app, host=..., port=..., limits=limits)
    await server.serve()  # server.guard.counts: evicted, timeouts, ...
"""

from __future__ import annotations

import asyncio
import math
import resource
import socket
from typing import Any

import uvicorn

from mogulsync import logs
from mogulsync.config.events import IngestLimits
from mogulsync.events._accept import ACCEPT_BATCH, Acceptor
from mogulsync.events._protocol import ConnectionGuard, protocol_class
from mogulsync.events._throttle import install_log_throttle

#: file descriptors kept free for everything but client connections (the queue's SQLite
#: files, the forwarder's HTTP connections, the listening socket, logs, stdio)
FD_RESERVE = 64
#: connections the kernel may hold before ``accept`` (they cost no file descriptor)
BACKLOG = 2048
#: descriptors the accept batch may take before a closed connection gives one back
_ACCEPT_HEADROOM = ACCEPT_BATCH
#: below this many file descriptors the cap would be useless: raise the limit instead
MIN_CONNECTIONS = 8


def effective_max_connections(limits: IngestLimits) -> int:
    """``limits.max_connections``, lowered to leave :data:`FD_RESERVE` descriptors free.

    Running out of descriptors makes ``accept`` fail in a loop (each failure a logged
    traceback) and breaks the queue's own file access: the cap must stay below it.
    """
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return limits.max_connections
    return max(MIN_CONNECTIONS, min(limits.max_connections, soft - FD_RESERVE - _ACCEPT_HEADROOM))


def connection_guard(limits: IngestLimits) -> ConnectionGuard:
    """The shared state of one server's connections (counts, who waits for headers)."""
    return ConnectionGuard(limits, effective_max_connections(limits))


def hardened_config(
    app: Any,
    *,
    host: str,
    port: int,
    limits: IngestLimits | None = None,
    guard: ConnectionGuard | None = None,
    **overrides: Any,
) -> uvicorn.Config:
    """A ``uvicorn.Config`` serving ``app`` with the limits of ``events.limits``.

    Also throttles the warnings hostile clients can cause to one per
    ``limits.log_interval_s`` per kind (a process-wide logging filter).
    """
    limits = limits or IngestLimits()
    guard = guard or connection_guard(limits)
    install_log_throttle(limits.log_interval_s)
    settings: dict[str, Any] = {
        "host": host,
        "port": port,
        "http": protocol_class(guard),
        "timeout_keep_alive": max(1, math.ceil(limits.keep_alive_s)),
        # the guard caps connections when they open; uvicorn's own limit would only
        # answer 503 once headers are in, after the connection already holds a descriptor
        "limit_concurrency": None,
        "backlog": BACKLOG,
        "log_level": "warning",
        "access_log": False,
        "lifespan": "off",
        "ws": "none",
        "proxy_headers": False,
        "server_header": False,
    }
    settings.update(logs.uvicorn_settings())  # --log-format json: uvicorn's lines too
    settings.update(overrides)
    return uvicorn.Config(app, **settings)


class GuardedServer(uvicorn.Server):
    """A uvicorn server whose listening sockets accept only while ``guard`` has room."""

    def __init__(self, config: uvicorn.Config, guard: ConnectionGuard) -> None:
        super().__init__(config)
        self.guard = guard

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        """Start as uvicorn does, then take over accepting on the listening sockets."""
        if sockets is None:
            sockets = [self.config.bind_socket()]
        await super().startup(sockets)
        loop = asyncio.get_running_loop()
        config = self.config

        def factory() -> asyncio.Protocol:
            # what uvicorn's own protocol factory builds
            protocol: asyncio.Protocol = config.http_protocol_class(  # type: ignore[call-arg]
                config=config, server_state=self.server_state, app_state=self.lifespan.state
            )
            return protocol

        for sock in sockets:
            Acceptor(loop, sock, factory, self.guard).start()


def hardened_server(
    app: Any, *, host: str, port: int, limits: IngestLimits | None = None, **overrides: Any
) -> GuardedServer:
    """A :class:`GuardedServer` for ``app`` with :func:`hardened_config`'s settings."""
    limits = limits or IngestLimits()
    guard = connection_guard(limits)
    config = hardened_config(app, host=host, port=port, limits=limits, guard=guard, **overrides)
    return GuardedServer(config, guard)

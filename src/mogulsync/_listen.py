"""A listening socket bound before the server starts, so ``port=0`` is race-free.

uvicorn given a host and port binds them itself at start-up, so a caller that wants an
OS-chosen port would have to probe one first and hope nobody takes it in between (a
parallel test, another run's server, an outgoing connection's source port). Binding here
and handing the socket to ``uvicorn.Server.serve(sockets=[...])`` closes that gap, and the
actual port is known before the server announces its address.
"""

from __future__ import annotations

import socket

#: connections the kernel queues before the server accepts them (uvicorn's default)
DEFAULT_BACKLOG = 2048


def listening_socket(host: str, port: int = 0, backlog: int = DEFAULT_BACKLOG) -> socket.socket:
    """A TCP socket bound to ``host:port`` (0: a free port the OS picks), listening.

    It listens at once: a client that connects before the server's loop runs waits in
    the backlog instead of being refused.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP named: asyncio turns Nagle off (TCP_NODELAY) only on accepted sockets
    # that say TCP; without it a response body sent after its headers could wait ~40 ms
    # for the client's delayed ACK on every keep-alive request
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        # as uvicorn does: a restart may reuse a port whose old connections linger
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(backlog)
    except OSError:
        sock.close()
        raise
    return sock


def bound_port(sock: socket.socket) -> int:
    """The port ``sock`` is bound to."""
    port: int = sock.getsockname()[1]
    return port


def url_host(host: str) -> str:
    """``host`` as it goes in a URL (IPv6 addresses in brackets)."""
    return f"[{host}]" if ":" in host else host

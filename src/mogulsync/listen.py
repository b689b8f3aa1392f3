"""Can a server listen on HOST:PORT? Asked before it starts.

A busy port (say, an earlier ``mogulsync serve`` still running) would otherwise surface as
uvicorn's log line and its exit status 3, which our exit codes read as "partial"; a port
out of range as a traceback. One clear line and exit 1 instead (docs/errors.md).
"""

from __future__ import annotations

import socket

import typer

from mogulsync import exit_codes, output


def listen_problem(host: str, port: int) -> str | None:
    """Why nothing could listen on ``host:port`` now, or None when a bind succeeds."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except (OSError, OverflowError, UnicodeError) as exc:
        return f"cannot listen on {host}:{port}: {exc}"
    with socket.socket(family, kind, proto) as probe:
        # as uvicorn binds: a port left in TIME_WAIT by a stopped server is free
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except (OSError, OverflowError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            return f"cannot listen on {host}:{port}: {reason}"
    return None


def require_listen(host: str, port: int, *, option: str = "--port") -> None:
    """Return when ``host:port`` can be listened on; else say why and exit 1."""
    problem = listen_problem(host, port)
    if problem is None:
        return
    output.error(
        f"{problem}\n  → Another process (an earlier server?) may hold the port: stop it or"
        f" choose another with {option}.",
        exit_code=exit_codes.FAILED,
    )
    raise typer.Exit(exit_codes.FAILED)

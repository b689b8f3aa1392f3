"""A server command's listening socket, bound before it announces its address.

The three servers (``serve``, ``events serve``, ``emulator serve``) bind their socket
here and hand it to uvicorn: the address they print is the one they serve (``--port 0``
included), there is no gap between a check and uvicorn's own bind, and a port that
cannot be had is one clear line and exit 1 (docs/errors.md) instead of uvicorn's log line
and its exit status 3, which our exit codes read as "partial".
"""

from __future__ import annotations

import errno
import socket
from typing import NoReturn

import typer

from mogulsync import exit_codes, output
from mogulsync._listen import listening_socket


def open_listener(host: str, port: int, *, option: str = "--port") -> socket.socket:
    """A socket listening on ``host:port`` (0: a port the OS picks); else say why, exit 1."""
    try:
        return listening_socket(host, port)
    except (OSError, OverflowError) as exc:
        cannot_listen(host, port, exc, option=option)


def cannot_listen(host: str, port: int, exc: BaseException, *, option: str = "--port") -> NoReturn:
    """Report that nothing can listen on ``host:port`` (one line and a hint) and exit 1."""
    code = exc.errno if isinstance(exc, OSError) else None
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    if code == errno.EADDRINUSE:
        hint = (
            "Another process (an earlier server?) may hold the port: stop it or choose"
            f" another with {option}."
        )
    elif code == errno.EADDRNOTAVAIL:
        hint = "The address is not one of this machine's: check --host (127.0.0.1, 0.0.0.0, ...)."
    else:
        hint = f"Check --host and {option}."
    output.error(
        f"cannot listen on {host}:{port}: {reason}\n  → {hint}", exit_code=exit_codes.FAILED
    )
    raise typer.Exit(exit_codes.FAILED)

"""uvicorn's httptools HTTP/1.1 protocol with the connection limits it lacks.

uvicorn closes a connection only when it sits idle *after* a response
(``timeout_keep_alive``): a connection that never finishes its headers or its body is
kept forever, its headers may grow without bound (httptools has no header limit), and
``limit_concurrency`` answers 503 only once a request's headers are in, so idle
connections still pile up until the process runs out of file descriptors. This subclass
adds, per connection:

- a **header timeout**: the request line and headers must arrive within
  ``header_timeout_s`` of the connection opening (or of the previous response), else
  ``408`` and close;
- a **body timeout**: the body must arrive within ``body_timeout_s`` after the headers,
  else the connection is closed (the app sees a disconnect);
- a **header cap**: more than ``max_header_bytes`` before the end of the headers is
  ``431`` and close (memory per connection stays near the cap plus one socket read);

The per-server **connection cap** is enforced where connections are accepted (see
``_accept.py``); this module keeps the registry it needs: the connections waiting for
their request headers, oldest first, which are the ones closed to make room.
"""

from __future__ import annotations

import asyncio
import json
import logging
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

try:  # FIONREAD: POSIX only; elsewhere every waiting connection may be evicted
    import fcntl
    import termios
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from mogulsync.config.events import IngestLimits
from mogulsync.events._throttle import INGEST_LOGGER

log = logging.getLogger(INGEST_LOGGER)


def _unread_bytes(transport: asyncio.BaseTransport) -> int:
    """Bytes received on the transport's socket that the loop has not read yet (0 when
    the platform cannot tell)."""
    sock = transport.get_extra_info("socket")
    if sock is None or fcntl is None:
        return 0
    try:
        answer = fcntl.ioctl(sock.fileno(), termios.FIONREAD, b"\0\0\0\0")
    except (OSError, ValueError):
        return 0
    return int(struct.unpack("i", answer)[0])


def _raw_response(status: int, phrase: str, code: str, message: str) -> bytes:
    """A complete ``Connection: close`` answer in Segment's error shape."""
    body = json.dumps({"success": False, "code": code, "message": message}).encode()
    head = (
        f"HTTP/1.1 {status} {phrase}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode() + body


@dataclass
class ConnectionGuard:
    """What the connections of one server share: limits, who waits, counts."""

    limits: IngestLimits
    max_connections: int
    #: accepted sockets not yet closed (each holds a file descriptor)
    open: int = 0
    #: connections waiting for request headers, oldest first (dicts keep insertion order)
    waiting: dict[HardenedHttpToolsProtocol, None] = field(default_factory=dict)
    counts: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(
            ("paused", "evicted", "header_timeouts", "body_timeouts", "headers_too_large"), 0
        )
    )
    #: called when a connection is gone (the acceptor resumes if it had paused)
    on_release: list[Callable[[], None]] = field(default_factory=list)

    def evict_oldest_waiting(self) -> bool:
        """Close the connection waiting longest for its headers; whether there was one.

        A connection whose request already sits unread in its socket is not waiting but
        about to be served (accepted in the same turn of the loop as the one at the cap,
        its bytes not yet read): it is passed over, or a client that did nothing wrong
        would be closed unanswered.
        """
        for candidate in list(self.waiting):
            if candidate.transport.is_closing():
                del self.waiting[candidate]
                continue
            if _unread_bytes(candidate.transport) > 0:
                continue
            del self.waiting[candidate]
            candidate.transport.close()
            self.counts["evicted"] += 1
            return True
        return False

    def released(self) -> None:
        """A connection's socket is closed: one more may be accepted."""
        self.open -= 1
        for callback in self.on_release:
            callback()


class HardenedHttpToolsProtocol(HttpToolsProtocol):
    """One connection; ``guard`` is set on the subclass :func:`protocol_class` makes."""

    guard: ClassVar[ConnectionGuard]

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._limits = self.guard.limits
        #: what to do at ``_deadline_at`` (None: no read deadline now)
        self._on_deadline: Callable[[], None] | None = None
        self._deadline_at = 0.0
        #: one timer per connection, re-armed only when it fires early: moving a deadline
        #: at every request phase costs a float, not a timer (de)allocation
        self._timer: asyncio.TimerHandle | None = None
        self._awaiting_headers = True
        self._header_bytes = 0
        self._request_bytes_seen = False

    # connection life

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Register the connection; its headers are due within the header timeout."""
        super().connection_made(transport)
        self._wait_for_headers()

    def connection_lost(self, exc: Exception | None) -> None:
        """Forget the connection and free its slot."""
        self._stop_timer()
        self.guard.waiting.pop(self, None)
        try:
            super().connection_lost(exc)
        finally:
            self.guard.released()

    def data_received(self, data: bytes) -> None:
        """Feed the parser; refuse headers beyond the cap."""
        if self._awaiting_headers:
            self._header_bytes += len(data)
            self._request_bytes_seen = True
        super().data_received(data)
        if (
            self._awaiting_headers
            and self._header_bytes > self._limits.max_header_bytes
            and not self.transport.is_closing()
        ):
            self.guard.counts["headers_too_large"] += 1
            log.warning("closed a connection whose headers exceeded %d bytes", self._header_bytes)
            self._close_with(
                431,
                "Request Header Fields Too Large",
                "headers_too_large",
                f"The request line and headers must fit in {self._limits.max_header_bytes} bytes.",
            )

    # parser callbacks (called from data_received)

    def on_message_begin(self) -> None:
        """A new request starts: its headers are counted from here."""
        super().on_message_begin()
        if not self._awaiting_headers:
            self._wait_for_headers()

    def on_headers_complete(self) -> None:
        """Headers in: the body now has its own deadline."""
        self._awaiting_headers = False
        self.guard.waiting.pop(self, None)
        self._arm(self._limits.body_timeout_s, self._body_timed_out)
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        """The whole request is in: no read deadline until the response is sent."""
        self._cancel_deadline()
        answered = self.cycle is not None and self.cycle.response_complete
        super().on_message_complete()
        if answered and not self.transport.is_closing():
            # answered before its body was read (a 401, a 400): now the next request
            self._wait_for_headers()

    def on_response_complete(self) -> None:
        """The response is out: the next request's headers have a deadline again.

        If the request's body is still arriving (the app answered without reading it),
        its body deadline keeps running; the next request waits for the body's end.
        """
        super().on_response_complete()
        if self.transport.is_closing() or self._awaiting_headers:
            return
        if self._on_deadline is None:  # the request was complete: no body deadline
            self._wait_for_headers()

    # deadlines

    def _wait_for_headers(self) -> None:
        self._awaiting_headers = True
        self._header_bytes = 0
        self._request_bytes_seen = False
        self.guard.waiting[self] = None
        self._arm(self._limits.header_timeout_s, self._headers_timed_out)

    def _arm(self, delay: float, callback: Callable[[], None]) -> None:
        self._deadline_at = self.loop.time() + delay
        self._on_deadline = callback
        if self._timer is not None and self._timer.when() > self._deadline_at:
            self._timer.cancel()
            self._timer = None
        if self._timer is None:
            self._timer = self.loop.call_at(self._deadline_at, self._check_deadline)

    def _cancel_deadline(self) -> None:
        self._on_deadline = None  # the timer stays; firing, it finds nothing due

    def _stop_timer(self) -> None:
        self._on_deadline = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _check_deadline(self) -> None:
        self._timer = None
        callback = self._on_deadline
        if callback is None:
            return
        if self.loop.time() < self._deadline_at:  # the deadline moved on: wait for it
            self._timer = self.loop.call_at(self._deadline_at, self._check_deadline)
            return
        self._on_deadline = None
        callback()

    def _headers_timed_out(self) -> None:
        if self.transport.is_closing():
            return
        self.guard.counts["header_timeouts"] += 1
        if not self._request_bytes_seen:
            self.transport.close()  # an idle connection: nothing to answer
            return
        self._close_with(
            408,
            "Request Timeout",
            "request_timeout",
            f"The request headers did not arrive within {self._limits.header_timeout_s:g} s.",
        )

    def _body_timed_out(self) -> None:
        if not self.transport.is_closing():
            self.guard.counts["body_timeouts"] += 1
            self.transport.close()  # the app, waiting for the body, sees a disconnect

    def _close_with(self, status: int, phrase: str, code: str, message: str) -> None:
        self._cancel_deadline()
        self.transport.write(_raw_response(status, phrase, code, message))
        self.transport.close()


def protocol_class(guard: ConnectionGuard) -> type[HardenedHttpToolsProtocol]:
    """A protocol class for one server, its connections sharing ``guard``."""
    return type("GuardedHttpProtocol", (HardenedHttpToolsProtocol,), {"guard": guard})

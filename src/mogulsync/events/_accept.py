"""Accepting connections only while there is room for them.

asyncio's own accept loop takes up to ``backlog`` connections per wake-up, before any
protocol can close one, and on ``EMFILE`` it logs a traceback for every remaining turn
of that loop: a flood of idle connections exhausted the descriptors and filled the log.
:class:`Acceptor` replaces that loop on a listening socket (with the loop's public
``add_reader``/``remove_reader``/``connect_accepted_socket``): a connection accepted at
the cap closes the one that has waited longest for its headers (idle keep-alive or
slow); when every connection is mid-request, it stops reading the listening socket until
one is gone. Open sockets stay at most ``max_connections + 1``; the connections that
wait stay in the kernel's listen queue, which costs no descriptor; nothing is refused.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
from collections.abc import Callable

from mogulsync.events._protocol import ConnectionGuard
from mogulsync.events._throttle import INGEST_LOGGER

log = logging.getLogger(INGEST_LOGGER)

#: connections accepted per wake-up at most (others wait for the next turn of the loop)
ACCEPT_BATCH = 64
#: after running out of descriptors anyway (another part of the process), retry after
RETRY_AFTER_S = 1.0
_OUT_OF_RESOURCES = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})


class Acceptor:
    """Accepts on ``sock`` for ``factory`` while ``guard`` has room."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        sock: socket.socket,
        factory: Callable[[], asyncio.Protocol],
        guard: ConnectionGuard,
    ) -> None:
        self._loop = loop
        self._sock = sock
        self._factory = factory
        self._guard = guard
        self._reading = False
        self._tasks: set[asyncio.Task[object]] = set()

    def start(self) -> None:
        """Take the listening socket over from the loop's own accept handler."""
        self._loop.remove_reader(self._sock.fileno())
        self._guard.on_release.append(self.resume)
        self.resume()

    def resume(self) -> None:
        """Read the listening socket again (if it is still open)."""
        if not self._reading and self._sock.fileno() != -1:
            self._loop.add_reader(self._sock.fileno(), self._accept)
            self._reading = True

    def _pause(self) -> None:
        if self._reading and self._sock.fileno() != -1:
            self._loop.remove_reader(self._sock.fileno())
        self._reading = False

    def _accept(self) -> None:
        guard = self._guard
        for _ in range(ACCEPT_BATCH):
            if guard.open > guard.max_connections:
                self._pause()  # over by the last one: wait for an evicted socket to close
                return
            try:
                conn, _ = self._sock.accept()
            except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                return
            except OSError as exc:
                if exc.errno not in _OUT_OF_RESOURCES:
                    raise
                log.warning("cannot accept connections: %s; retrying in 1 s", exc.strerror)
                self._pause()
                self._loop.call_later(RETRY_AFTER_S, self.resume)
                return
            conn.setblocking(False)
            if conn.family in (socket.AF_INET, socket.AF_INET6):
                # asyncio sets this only for sockets whose proto is TCP, and uvicorn's
                # bound socket says 0: without it a response's two writes wait for the
                # client's delayed ACK (~40 ms per request)
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            guard.open += 1
            task = self._loop.create_task(self._connect(conn))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            if guard.open > guard.max_connections and not guard.evict_oldest_waiting():
                # every connection is mid-request: the next ones wait in the listen queue
                guard.counts["paused"] += 1
                log.warning(
                    "at the connection cap (%d open; events.limits.max_connections): new"
                    " connections wait in the listen queue",
                    guard.max_connections,
                )
                self._pause()
                return

    async def _connect(self, conn: socket.socket) -> None:
        try:
            await self._loop.connect_accepted_socket(self._factory, conn)
        except Exception:  # the client left during set-up: the slot is free again
            conn.close()
            self._guard.released()

"""Runs the events endpoint: the ingest app and the forwarder on one event loop.

``mogulsync events serve`` runs :meth:`EventsService.serve` in the foreground; tests and
benchmarks use :meth:`EventsService.start` / :meth:`EventsService.stop`, which run the
same thing in a background thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Self

import httpx
import uvicorn

from mogulsync import _threads
from mogulsync._listen import bound_port, listening_socket, url_host
from mogulsync._pid_lock import PidFileLock
from mogulsync.chartmogul import ChartMogulClient, ClientSettings
from mogulsync.config.events import check_write_keys
from mogulsync.config.models import AppConfig
from mogulsync.errors import ConfigError
from mogulsync.events._protocol import ConnectionGuard
from mogulsync.events.app import IngestApp
from mogulsync.events.delivery import Delivery, WebhookDelivery
from mogulsync.events.delivery_api import ApiDelivery
from mogulsync.events.forwarder import Forwarder
from mogulsync.events.hosting import GuardedServer, connection_guard, hardened_config
from mogulsync.events.mappings import DEFAULT_MAPPINGS
from mogulsync.events.queue import EventQueue, GroupCommitWriter
from mogulsync.events.watch import alert_watch

log = logging.getLogger(__name__)
QUEUE_FILE = "events.sqlite"
START_TIMEOUT_S = 15.0
STOP_TIMEOUT_S = 30.0
#: how long a stopping server lets the forwarder's round finish; then it is cancelled
FORWARDER_GRACE_S = 10.0
_POLL_S = 0.01
SECONDS_PER_DAY = 86_400


def queue_path(config: AppConfig) -> Path:
    """Where the durable queue lives (``events.queue_path`` or the state dir)."""
    return Path(config.events.queue_path or Path(config.state_dir) / QUEUE_FILE)


def forwarder_lock_path(queue: Path) -> Path:
    """The lock the forwarding process holds, beside the queue file."""
    return queue.with_name(queue.name + ".forwarder.lock")


def build_delivery(
    config: AppConfig, queue: EventQueue, transport: httpx.AsyncBaseTransport | None = None
) -> Delivery:
    """The configured delivery mode; create it on the loop that will use it."""
    events = config.events
    if events.delivery == "webhook":
        if events.webhook_url is None:  # the config model already refuses this
            raise ConfigError("events.webhook_url is required for webhook delivery")
        return WebhookDelivery(events.webhook_url.get_secret_value(), transport=transport)
    chartmogul = config.chartmogul
    settings = ClientSettings(
        api_key=chartmogul.api_key,
        base_url=chartmogul.base_url,
        rate_limit=chartmogul.rate_limit,
        max_in_flight=chartmogul.max_in_flight,
    )
    client = ChartMogulClient(settings, transport=transport)
    return ApiDelivery(
        client, queue, events.data_source, contacts_without_company=events.contacts_without_company
    )


@asynccontextmanager
async def running_events(
    config: AppConfig,
    *,
    forward: bool = True,
    clock: Callable[[], float] = time.time,
    grace_s: float = FORWARDER_GRACE_S,
) -> AsyncIterator[tuple[IngestApp, Forwarder | None]]:
    """The ingest app and its forwarder on this loop, for as long as the block runs.

    ``mogulsync events serve`` serves the app alone; ``mogulsync serve`` mounts it beside
    its API. On exit the forwarder finishes its round and the queue is closed; events
    already acknowledged stay queued for the next start; a round still going after
    ``grace_s`` (sending into a ChartMogul outage, each call retrying for up to two minutes)
    is cancelled, and the events it was sending, marked in flight, are checked at the next
    start as after a crash. ``clock`` is the forwarder's (its
    retries and retention, and when the events alerts look at the queue; tests drive it).
    """
    path = queue_path(config)
    writer = GroupCommitWriter(path)
    queue = EventQueue(path)
    stop = asyncio.Event()
    forwarder = None
    forwarder_task = None
    watch_task: asyncio.Task[None] | None = None
    delivery = build_delivery(config, queue) if forward else None
    if delivery is not None:
        mappings = config.events.mappings or DEFAULT_MAPPINGS
        keep_days, keep_dead_days = config.events.keep_days, config.events.keep_dead_days
        forwarder = Forwarder(
            queue,
            delivery,
            mappings,
            config.events.retry,
            clock=clock,
            keep_s=None if keep_days is None else keep_days * SECONDS_PER_DAY,
            keep_dead_s=None if keep_dead_days is None else keep_dead_days * SECONDS_PER_DAY,
            lock=PidFileLock(forwarder_lock_path(path)),
        )
        watch = alert_watch(config, queue, clock)
        if watch is not None:
            # before the first round: what it dead-letters is new to a rule seen first now
            watch.prime()
            watch_task = asyncio.create_task(watch.run(stop))
        forwarder_task = asyncio.create_task(forwarder.run(stop))
    keys = [key.get_secret_value() for key in config.events.write_keys]
    wake = forwarder.wake if forwarder else None
    ingest = IngestApp(writer, keys, wake, limits=config.events.limits)
    try:
        yield ingest, forwarder
    finally:
        stop.set()
        if watch_task is not None:  # an alert being sent may take its retries: not waited for
            watch_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watch_task
        if forwarder_task is not None:
            done, _ = await asyncio.wait({forwarder_task}, timeout=grace_s)
            if not done:
                log.warning(
                    "events: the forwarder's round did not end within %.0f s of the stop:"
                    " cancelled; the events it was sending are checked at the next start",
                    grace_s,
                )
                forwarder_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await forwarder_task
        if delivery is not None:
            await delivery.aclose()
        await asyncio.to_thread(writer.close)
        queue.close()


class EventsService:
    """The ingest endpoint plus the forwarder, sharing one durable queue."""

    def __init__(
        self,
        config: AppConfig,
        *,
        host: str | None = None,
        port: int | None = None,
        forward: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        events = config.events
        if not events.write_keys:
            raise ConfigError(
                "events.write_keys is empty: no Segment library could authenticate",
                hint="Add a write key under events.write_keys (as ${ENV} reference).",
            )
        check_write_keys(events)
        self.config = config
        self.host = host or events.host
        # Bound now and served on that socket: base_url is right from here on (port 0: the
        # OS's pick), and no other process can take the port before the server starts.
        # OSError when the address cannot be listened on.
        self._socket: socket.socket = listening_socket(
            self.host, port if port is not None else events.port
        )
        self.port = bound_port(self._socket)
        self.forward = forward
        self.clock = clock
        self.path = queue_path(config)
        self.forwarder: Forwarder | None = None
        #: the connections' shared state (counts of refused, evicted, timed-out ones)
        self.guard: ConnectionGuard = connection_guard(events.limits)
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    @property
    def base_url(self) -> str:
        """``http://host:port`` (Segment libraries take this as their host)."""
        return f"http://{url_host(self.host)}:{self.port}"

    @property
    def open_connections(self) -> int:
        """HTTP connections the server holds now."""
        return len(self._server.server_state.connections) if self._server else 0

    @property
    def started(self) -> bool:
        """Whether the HTTP server accepts connections."""
        return bool(self._server and self._server.started)

    async def serve(self) -> None:
        """Serve until the server is told to exit (Ctrl-C / SIGTERM in the foreground)."""
        running = running_events(self.config, forward=self.forward, clock=self.clock)
        async with running as (ingest, forwarder):
            self.forwarder = forwarder
            limits = self.config.events.limits
            self._server = GuardedServer(
                hardened_config(
                    ingest.app, host=self.host, port=self.port, limits=limits, guard=self.guard
                ),
                self.guard,
            )
            await self._server.serve(sockets=[self._socket])

    def start(self) -> Self:
        """Serve in a background thread; return once the port accepts connections."""
        logging.getLogger("uvicorn.error").setLevel(logging.CRITICAL)
        self._thread = _threads.Thread(target=self._run, name="events-service", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self.started:
            failed: BaseException | None = self._error
            if failed is None and (time.monotonic() > deadline or not self._thread.is_alive()):
                failed = RuntimeError(f"events endpoint did not start on {self.base_url}")
            if failed is not None:
                # `with`/`finally: stop()` callers never get the service: release it here
                self.stop()
                raise failed
            time.sleep(_POLL_S)
        return self

    def _run(self) -> None:
        try:
            asyncio.run(self.serve())
        except BaseException as exc:  # reported by start()
            self._error = exc

    def stop(self) -> None:
        """Stop serving, let the forwarder finish its round, close the queue."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=STOP_TIMEOUT_S)
        self._socket.close()  # uvicorn closes it once served; never served: ours to close

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

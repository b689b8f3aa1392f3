"""An Airbyte source for ChartMogul: ``spec``, ``check``, ``discover`` and ``read``.

It accepts the config of Airbyte's source-chartmogul and offers the same streams
(``customers``, ``activities``, ``customer_{daily,weekly,monthly,quarterly}_count``, with
the same records; ``customer_count`` per the config's ``interval`` as in its 0.x versions)
plus every other stream of ``mogulsync extract``. ``activities`` and
``subscription_events`` also support incremental syncs. ``read`` fetches all configured
streams at once through one rate-limited client and prints records as pages arrive.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import json
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any, TextIO

import httpx

from mogulsync.chartmogul import AuthenticationError, ChartMogulClient
from mogulsync.config.chartmogul import DEFAULT_BASE_URL
from mogulsync.errors import ConfigError, MogulsyncError
from mogulsync.extract import airbyte_protocol as protocol
from mogulsync.extract.context import FetchContext
from mogulsync.extract.fetch import StreamResult, fetch_streams
from mogulsync.extract.records import Record
from mogulsync.extract.schemas import stream_schema
from mogulsync.extract.state import StreamState
from mogulsync.extract.streams import AIRBYTE_COUNT_STREAMS, STREAMS, Stream

#: Airbyte's streams first (same names as source-chartmogul 1.x), then ours. Among ours,
#: ``customer_count`` follows the config's ``interval`` as the 0.x connector's stream of
#: that name did, so catalogs from either generation keep working.
AIRBYTE_STREAMS: dict[str, Stream] = {
    "customers": STREAMS["customers"],
    "activities": STREAMS["activities"],
    **AIRBYTE_COUNT_STREAMS,
    **{name: s for name, s in STREAMS.items() if name not in {"customers", "activities"}},
}
#: Airbyte's connector keys customers by the integer ``id``; keep that for drop-in use.
_PRIMARY_KEYS = {"customers": ("id",)}
_FLUSH_EVERY = 1000


def _rejected_key(base_url: str) -> str:
    # the key came from the connector config, not from a mogulsync.yml; a wrong base_url
    # (the emulator's key sent to ChartMogul, or the other way round) looks the same
    return (
        f"The ChartMogul API key was rejected at {base_url}: check `api_key` in the connector"
        " config (--config), and `base_url` if it is set."
    )


def catalog() -> protocol.Message:
    """The ``CATALOG`` message of ``discover``: a fresh copy per call.

    The schemas share their leaf dicts (one ``{"type": [...]}`` serves many fields), so a
    caller editing what it was handed would otherwise edit every later catalog; decoding
    the catalog's JSON, built once, gives a tree of its own at half deepcopy's cost.
    """
    copied: protocol.Message = json.loads(_catalog_json())
    return copied


@functools.cache
def _catalog_json() -> str:
    streams = []
    for name, stream in AIRBYTE_STREAMS.items():
        entry: dict[str, Any] = {
            "name": name,
            "json_schema": stream_schema(name),
            "supported_sync_modes": ["full_refresh", "incremental"]
            if stream.incremental
            else ["full_refresh"],
            "source_defined_primary_key": [
                [key] for key in _PRIMARY_KEYS.get(name, stream.primary_key)
            ],
        }
        if stream.cursor_field is not None:
            entry["source_defined_cursor"] = True
            entry["default_cursor_field"] = [stream.cursor_field]
        streams.append(entry)
    return json.dumps({"type": "CATALOG", "catalog": {"streams": streams}})


class AirbyteSource:
    """Runs one protocol command, printing its messages to ``out``; returns the exit code."""

    def __init__(self, out: TextIO, *, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._out = out
        self._transport = transport
        self._pending = 0
        #: where the config sends requests (named when the key is rejected)
        self._base_url = DEFAULT_BASE_URL

    def _send(self, message: protocol.Message) -> None:
        self._out.write(protocol.encode(message) + "\n")
        self._pending += 1
        if self._pending >= _FLUSH_EVERY:
            self._out.flush()
            self._pending = 0

    def _fail(self, exc: BaseException, stream: str | None = None) -> None:
        if isinstance(exc, AuthenticationError):
            message = _rejected_key(self._base_url)
        elif isinstance(exc, MogulsyncError):
            message = exc.user_message
        else:
            message = str(exc)
        internal = f"{type(exc).__name__}: {exc}"
        config_error = isinstance(exc, ConfigError)
        self._send(
            protocol.error_trace(message, internal, config_error=config_error, stream=stream)
        )

    def spec(self) -> int:
        """Print ``SPEC``."""
        self._send(protocol.spec_message())
        self._out.flush()
        return 0

    def check(self, raw_config: object) -> int:
        """Print ``CONNECTION_STATUS``: whether the key can read customers."""
        try:
            config = protocol.parse_config(raw_config)
        except ConfigError as exc:
            self._send(protocol.connection_status(ok=False, message=exc.user_message))
            self._out.flush()
            return 0
        self._base_url = config.base_url
        try:
            asyncio.run(self._check(config))
        except AuthenticationError:
            message = _rejected_key(self._base_url)
            self._send(protocol.connection_status(ok=False, message=message))
        except MogulsyncError as exc:
            # the request's own error names a path, not the server: say which one failed
            message = f"Could not read customers from {config.base_url}: {exc.user_message}"
            self._send(protocol.connection_status(ok=False, message=message))
        except Exception as exc:  # anything else, too, is a FAILED check, not a traceback
            message = f"Could not read customers from {config.base_url}: {exc!r}"
            self._send(protocol.connection_status(ok=False, message=message))
        else:
            self._send(protocol.connection_status(ok=True))
        self._out.flush()
        return 0

    async def _check(self, config: protocol.SourceConfig) -> None:
        async with ChartMogulClient(config.client_settings(), transport=self._transport) as client:
            async for _page in client.customers.list(per_page=1).pages():
                break  # one page proves the key reads customers (as Airbyte's check)

    def discover(self, raw_config: object) -> int:
        """Print ``CATALOG`` (the config is validated but nothing is fetched)."""
        try:
            protocol.parse_config(raw_config)
        except ConfigError as exc:
            self._fail(exc)
            self._out.flush()
            return 1
        self._send(catalog())
        self._out.flush()
        return 0

    def read(self, raw_config: object, raw_catalog: object, raw_state: object = None) -> int:
        """Print the records of the configured streams, their states and statuses."""
        try:
            config = protocol.parse_config(raw_config)
            self._base_url = config.base_url
            today = dt.datetime.now(dt.UTC).date()
            _not_after(config, today)
            chosen = _known(protocol.configured_streams(raw_catalog))
            blobs = protocol.state_blobs(raw_state)
        except ConfigError as exc:
            self._fail(exc)
            self._out.flush()
            return 1
        states = protocol.readable_states(blobs)
        incremental = {name for name, mode in chosen.items() if mode == "incremental"}
        for name in sorted(incremental):
            if name not in states and not protocol.is_blank_state(blobs.get(name)):
                # e.g. another connector's cursor: reading it all again loses nothing
                self._send(
                    protocol.log(
                        f"--state holds a state of {name} that this source did not write"
                        f" (no cursor/seen); {name} is read from start_date",
                        level="WARN",
                    )
                )
        streams = [AIRBYTE_STREAMS[name] for name in chosen]
        usable = {n: s for n, s in states.items() if n in incremental}
        results = asyncio.run(self._read(config, today, streams, usable, incremental))
        self._out.flush()
        return 0 if all(result.ok for result in results) else 1

    async def _read(
        self,
        config: protocol.SourceConfig,
        today: dt.date,
        streams: Sequence[Stream],
        states: dict[str, StreamState],
        incremental: set[str],
    ) -> list[StreamResult]:
        started = time.perf_counter()
        self._send(protocol.log(f"Reading {len(streams)} stream(s) from {config.base_url}"))
        progress = _ReadProgress(self._send, self._fail, states, incremental)
        for stream in streams:
            self._send(protocol.stream_status(stream.name, "STARTED"))
        async with ChartMogulClient(config.client_settings(), transport=self._transport) as client:
            ctx = FetchContext(
                client=client,
                start_date=config.start,
                end_date=today,
                interval=config.interval,
                record_mode="json",
                activity_windows=config.activity_windows,
                states=states,
                checkpoint=progress.checkpoint,
            )
            results = await fetch_streams(ctx, streams, progress.sink, progress.done)
        self._send(protocol.log(f"Finished in {time.perf_counter() - started:.1f} s"))
        return results


class _ReadProgress:
    """The RECORD, STATE and status messages of one ``read``, as its streams progress."""

    def __init__(
        self,
        send: Callable[[protocol.Message], None],
        fail: Callable[[BaseException, str | None], None],
        states: dict[str, StreamState],
        incremental: set[str],
    ) -> None:
        self._send = send
        self._fail = fail
        self._states = states
        self._incremental = incremental
        self._running: set[str] = set()
        # records since each stream's last STATE: its sourceStats.recordCount, which the
        # platform compares with what the destination committed
        self._unstated: Counter[str] = Counter()

    def _mark_running(self, name: str) -> None:
        if name not in self._running:
            self._running.add(name)
            self._send(protocol.stream_status(name, "RUNNING"))

    def _state(self, name: str, stream_state: dict[str, Any]) -> None:
        self._send(protocol.state(name, stream_state, record_count=self._unstated[name]))
        self._unstated[name] = 0

    def sink(self, name: str, records: Sequence[Record]) -> None:
        """Print a page of records."""
        self._mark_running(name)
        emitted_at = protocol.now_ms()
        for data in records:
            self._send(protocol.record(name, data, emitted_at))
        self._unstated[name] += len(records)

    def checkpoint(self, name: str, state: StreamState) -> None:
        """Print a state safe to resume from (incremental syncs only)."""
        if name in self._incremental:
            self._state(name, state.as_dict())

    def done(self, result: StreamResult) -> None:
        """Print a stream's end: its final state and COMPLETE, or its error and INCOMPLETE."""
        if not result.ok and result.error is not None:
            self._fail(result.error, result.name)
            self._send(protocol.stream_status(result.name, "INCOMPLETE"))
            return
        # STARTED, RUNNING..., COMPLETE even without records, as the platform expects
        self._mark_running(result.name)
        self._state(result.name, _final_state(result, self._states))
        self._send(
            protocol.log(
                f"Read {result.records} records from {result.name} in {result.duration_s:.1f} s"
            )
        )
        self._send(protocol.stream_status(result.name, "COMPLETE"))


def _final_state(result: StreamResult, given: dict[str, StreamState]) -> dict[str, Any]:
    """The state to emit once a stream completed: new, else unchanged, else "no cursor"."""
    if result.state is not None:
        return result.state.as_dict()
    if result.name in given:
        return given[result.name].as_dict()
    return dict(protocol.NO_CURSOR_STATE)


def _not_after(config: protocol.SourceConfig, today: dt.date) -> None:
    """A start_date after today reads nothing but errors from the metrics endpoints."""
    if config.start.date() > today:
        raise ConfigError(
            f"invalid config: start_date {config.start:%Y-%m-%dT%H:%M:%SZ} is after today"
            f" ({today:%Y-%m-%d}, UTC); set a start_date in the past"
        )


def _known(chosen: dict[str, protocol.SyncMode]) -> dict[str, protocol.SyncMode]:
    unknown = sorted(set(chosen) - set(AIRBYTE_STREAMS))
    if unknown:
        raise ConfigError(f"the catalog names unknown stream(s): {', '.join(unknown)}")
    return chosen

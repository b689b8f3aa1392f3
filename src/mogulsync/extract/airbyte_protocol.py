"""The Airbyte protocol: its config, catalogs, states and the messages we print.

Messages are single JSON lines on stdout (``SPEC``, ``CONNECTION_STATUS``, ``CATALOG``,
``RECORD``, ``STATE``, ``LOG``, ``TRACE``). The config is the one Airbyte's
source-chartmogul takes (``api_key``, ``start_date``) plus our optional keys, so a
connection set up for that connector keeps working when this image replaces it.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from mogulsync._docs import EXTRACT
from mogulsync.chartmogul.settings import ClientSettings
from mogulsync.config.chartmogul import DEFAULT_BASE_URL
from mogulsync.errors import ConfigError
from mogulsync.extract.context import Interval
from mogulsync.extract.options import DEFAULT_ACTIVITY_WINDOWS
from mogulsync.extract.start import start_moment
from mogulsync.extract.state import StreamState

Message = dict[str, Any]
SyncMode = Literal["full_refresh", "incremental"]
StreamStatus = Literal["STARTED", "RUNNING", "COMPLETE", "INCOMPLETE"]
START_DATE_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$"
DOCUMENTATION_URL = EXTRACT
_MS_PER_S = 1000
DEFAULT_RATE_LIMIT = 40.0
#: what Airbyte's CDK puts in the STATE of a stream without a cursor
NO_CURSOR_STATE = {"__ab_no_cursor_state_message": True}


class SourceConfig(BaseModel):
    """``--config``: source-chartmogul's keys plus ours (all extras are ignored)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    api_key: SecretStr
    start_date: dt.datetime
    base_url: str = DEFAULT_BASE_URL
    interval: Interval = "month"
    activity_windows: int = Field(default=DEFAULT_ACTIVITY_WINDOWS, ge=1)
    rate_limit: float = Field(default=DEFAULT_RATE_LIMIT, gt=0)

    def client_settings(self) -> ClientSettings:
        """Client settings for this config."""
        return ClientSettings(
            api_key=self.api_key, base_url=self.base_url, rate_limit=self.rate_limit
        )

    @property
    def start(self) -> dt.datetime:
        """``start_date`` as an aware UTC datetime (an offset is converted, as `extract
        run` does: the metrics and the activity windows start on its UTC day)."""
        return start_moment(self.start_date)


def connection_specification() -> dict[str, Any]:
    """The ``connectionSpecification`` JSON schema of ``spec``."""
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": "ChartMogul source (mogulsync)",
        "type": "object",
        "required": ["api_key", "start_date"],
        "additionalProperties": True,
        "properties": {
            "api_key": {
                "type": "string",
                "title": "API key",
                "description": "A ChartMogul API key (read-only is enough).",
                "airbyte_secret": True,
                "order": 0,
            },
            "start_date": {
                "type": "string",
                "title": "Start date",
                "description": "UTC date and time from which activities and metrics are read.",
                "pattern": START_DATE_PATTERN,
                "examples": ["2024-01-01T00:00:00Z"],
                "format": "date-time",
                "order": 1,
            },
            "base_url": {
                "type": "string",
                "title": "API base URL",
                "default": DEFAULT_BASE_URL,
                "order": 2,
            },
            "interval": {
                "type": "string",
                "title": "Interval of the customer_count and metrics streams",
                "enum": ["day", "week", "month", "quarter"],
                "default": "month",
                "order": 3,
            },
            "activity_windows": {
                "type": "integer",
                "title": "Activity date windows read in parallel",
                "minimum": 1,
                "default": DEFAULT_ACTIVITY_WINDOWS,
                "order": 4,
            },
            "rate_limit": {
                "type": "number",
                "title": "Requests per second",
                "description": "Client-side limit of API requests per second.",
                "exclusiveMinimum": 0,
                "default": DEFAULT_RATE_LIMIT,
                "order": 5,
            },
        },
    }


def parse_config(raw: object) -> SourceConfig:
    """The ``--config`` file's content, or ConfigError naming every problem."""
    try:
        config = SourceConfig.model_validate(raw)
        # the client's own checks (e.g. base_url's scheme) fail here, not mid-read
        config.client_settings()
    except ValidationError as exc:
        # each problem's location and message only: the input may be the API key
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc']) or 'config'}: {error['msg']}"
            for error in exc.errors(include_url=False)
        )
        raise ConfigError(f"invalid config: {problems}") from None
    return config


#: what a configured catalog looks like, for a user who passed `discover`'s output
_CONFIGURED_SHAPE = (
    '--catalog wants a configured catalog: {"streams": [{"stream": <a stream of'
    ' discover\'s catalog>, "sync_mode": "full_refresh" or "incremental",'
    ' "destination_sync_mode": "overwrite" or "append"}]}'
)


_SYNC_MODES = frozenset({"full_refresh", "incremental"})


def configured_streams(raw: object) -> dict[str, SyncMode]:
    """``--catalog``: the stream names chosen and their sync modes."""
    if isinstance(raw, Mapping) and raw.get("type") == "CATALOG":
        # `discover > catalog.json` then `read --catalog catalog.json`: say what is wanted
        raise ConfigError(
            "invalid catalog: this is the CATALOG message `discover` prints, not a configured"
            " catalog",
            hint=_CONFIGURED_SHAPE,
        )
    streams = raw.get("streams") if isinstance(raw, Mapping) else None
    if not isinstance(streams, list):
        raise ConfigError("invalid catalog: no 'streams' list", hint=_CONFIGURED_SHAPE)
    chosen: dict[str, SyncMode] = {}
    for index, entry in enumerate(streams):
        stream = entry.get("stream") if isinstance(entry, Mapping) else None
        name = stream.get("name") if isinstance(stream, Mapping) else None
        if not isinstance(name, str):
            if isinstance(entry, Mapping) and "name" in entry and "stream" not in entry:
                what = "is a stream of a catalog, not a configured stream"
            else:
                what = "has no stream.name"
            raise ConfigError(f"invalid catalog: streams[{index}] {what}", hint=_CONFIGURED_SHAPE)
        mode = entry.get("sync_mode", "full_refresh")
        if mode not in _SYNC_MODES:
            # a typo must not quietly turn an incremental sync into full re-reads
            raise ConfigError(
                f"invalid catalog: streams[{index}] ({name}) has sync_mode {mode!r},"
                " not 'full_refresh' or 'incremental'",
                hint=_CONFIGURED_SHAPE,
            )
        chosen[name] = "incremental" if mode == "incremental" else "full_refresh"
    return chosen


#: what ``--state`` may hold, for the error when it holds something else
_STATE_SHAPE = (
    "--state wants the STATE messages of an earlier read: a list of"
    ' {"type": "STREAM", "stream": {"stream_descriptor": {"name": ...}, "stream_state": ...}}'
    " (or GLOBAL / LEGACY ones, as Airbyte stores them), one such message, or a legacy"
    " {stream name: state} map"
)
_MESSAGE_TYPES = frozenset({"STREAM", "GLOBAL", "LEGACY", "STATE"})


def stream_states(raw: object) -> dict[str, StreamState]:
    """``--state``: the readable incremental states in it, by stream name."""
    return readable_states(state_blobs(raw))


def readable_states(blobs: Mapping[str, object]) -> dict[str, StreamState]:
    """The stream states of :func:`state_blobs` that are cursors this source wrote."""
    states = {name: StreamState.from_dict(value) for name, value in blobs.items()}
    return {name: state for name, state in states.items() if state is not None}


def is_blank_state(blob: object) -> bool:
    """Whether a stream state holds no cursor on purpose (a full refresh's, or none)."""
    return blob is None or blob in ({}, NO_CURSOR_STATE)


def state_blobs(raw: object) -> dict[str, object]:
    """``--state`` as the platform passes it, by stream name; ConfigError on another shape.

    Accepted: a list of state messages (``STREAM``, ``GLOBAL`` with its ``stream_states``,
    ``LEGACY`` with ``data``, each possibly inside its ``{"type": "STATE"}`` envelope as
    ``read`` prints it), one such message, or the legacy ``{stream: state}`` map.
    """
    if raw is None:
        return {}
    if isinstance(raw, list):
        found: dict[str, object] = {}
        for index, message in enumerate(raw):
            found.update(_message_states(message, f"state[{index}]"))
        return found
    if isinstance(raw, Mapping):
        if raw.get("type") in _MESSAGE_TYPES:
            return _message_states(raw, "state")
        return {str(name): value for name, value in raw.items()}
    raise ConfigError(f"invalid state: a JSON {type(raw).__name__}", hint=_STATE_SHAPE)


def _message_states(message: object, where: str) -> dict[str, object]:
    """The stream states of one state message (``where`` names it in errors)."""
    if not isinstance(message, Mapping):
        raise ConfigError(f"invalid state: {where} is not a state message", hint=_STATE_SHAPE)
    kind = message.get("type")
    if kind == "STATE" and isinstance(message.get("state"), Mapping):
        return _message_states(message["state"], f"{where}.state")
    if kind == "STREAM" or (kind is None and "stream" in message):
        return dict([_stream_state(message.get("stream"), f"{where}.stream")])
    if kind == "GLOBAL":
        shared = message.get("global")
        entries = shared.get("stream_states") if isinstance(shared, Mapping) else None
        if not isinstance(entries, list):
            raise ConfigError(
                f"invalid state: {where} (GLOBAL) has no global.stream_states list",
                hint=_STATE_SHAPE,
            )
        return dict(
            _stream_state(entry, f"{where}.global.stream_states[{index}]")
            for index, entry in enumerate(entries)
        )
    if kind == "LEGACY" or (kind is None and "data" in message):
        data = message.get("data")
        if not isinstance(data, Mapping):
            raise ConfigError(f"invalid state: {where} (LEGACY) has no data map", hint=_STATE_SHAPE)
        return {str(name): value for name, value in data.items()}
    raise ConfigError(
        f"invalid state: {where} has type {kind!r}, not STREAM, GLOBAL or LEGACY",
        hint=_STATE_SHAPE,
    )


def _stream_state(entry: object, where: str) -> tuple[str, object]:
    """``(name, stream_state)`` of a ``{"stream_descriptor": ..., "stream_state": ...}``."""
    descriptor = entry.get("stream_descriptor") if isinstance(entry, Mapping) else None
    name = descriptor.get("name") if isinstance(descriptor, Mapping) else None
    if not isinstance(name, str) or not isinstance(entry, Mapping):
        raise ConfigError(
            f"invalid state: {where} has no stream_descriptor.name", hint=_STATE_SHAPE
        )
    return name, entry.get("stream_state")


# ---------------------------------------------------------------------- messages
def now_ms() -> int:
    """Airbyte's ``emitted_at``: milliseconds since the epoch."""
    return int(time.time() * _MS_PER_S)


def encode(message: Message) -> str:
    """One protocol line."""
    return json.dumps(message, separators=(",", ":"), default=str)


def spec_message() -> Message:
    """``SPEC``."""
    return {
        "type": "SPEC",
        "spec": {
            "documentationUrl": DOCUMENTATION_URL,
            "connectionSpecification": connection_specification(),
            "supportsIncremental": True,
            "supported_destination_sync_modes": ["overwrite", "append", "append_dedup"],
        },
    }


def connection_status(ok: bool, message: str | None = None) -> Message:
    """``CONNECTION_STATUS``."""
    status: Message = {"status": "SUCCEEDED" if ok else "FAILED"}
    if message:
        status["message"] = message
    return {"type": "CONNECTION_STATUS", "connectionStatus": status}


def record(stream: str, data: Mapping[str, Any], emitted_at: int) -> Message:
    """``RECORD``."""
    return {"type": "RECORD", "record": {"stream": stream, "data": data, "emitted_at": emitted_at}}


def state(stream: str, stream_state: Mapping[str, Any], *, record_count: int) -> Message:
    """A per-stream ``STATE``; ``record_count``: the stream's records since its last STATE."""
    return {
        "type": "STATE",
        "state": {
            "type": "STREAM",
            "stream": {"stream_descriptor": {"name": stream}, "stream_state": stream_state},
            # the protocol's AirbyteStateStats.recordCount is a number (float in its schema)
            "sourceStats": {"recordCount": float(record_count)},
        },
    }


def log(message: str, level: str = "INFO") -> Message:
    """``LOG``."""
    return {"type": "LOG", "log": {"level": level, "message": message}}


def stream_status(stream: str, status: StreamStatus) -> Message:
    """``TRACE`` of type ``STREAM_STATUS``."""
    return {
        "type": "TRACE",
        "trace": {
            "type": "STREAM_STATUS",
            "emitted_at": now_ms(),
            "stream_status": {"stream_descriptor": {"name": stream}, "status": status},
        },
    }


def error_trace(message: str, internal: str, *, config_error: bool, stream: str | None) -> Message:
    """``TRACE`` of type ``ERROR``."""
    error: Message = {
        "message": message,
        "internal_message": internal,
        "failure_type": "config_error" if config_error else "system_error",
    }
    if stream is not None:
        error["stream_descriptor"] = {"name": stream}
    return {"type": "TRACE", "trace": {"type": "ERROR", "emitted_at": now_ms(), "error": error}}

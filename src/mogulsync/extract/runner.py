"""``extract run``: fetch the chosen streams concurrently, then load them with dlt.

Steps of one run:

1. finish a load an earlier, interrupted run left behind (dlt keeps extracted packages on
   disk until they are loaded) and read the incremental states, restoring them from the
   destination when the local working directory is new;
2. fetch every stream at once over one client (one limiter for the whole run);
3. hand the records to dlt, whose package carries the new incremental states; dlt writes
   those states to the destination in the same load as the data. A crash before the load
   completes therefore never moves a cursor past data the destination does not have.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import dlt
import httpx
from dlt.common.pipeline import LoadInfo
from dlt.extract.resource import DltResource

from mogulsync._redact import Redactor
from mogulsync.chartmogul import ChartMogulClient, ClientSettings
from mogulsync.errors import ConfigError, FatalError, MogulsyncError
from mogulsync.extract.context import DEFAULT_ACTIVITY_WINDOWS, FetchContext, Interval, StreamState
from mogulsync.extract.destinations import resolve_destination
from mogulsync.extract.fetch import StreamResult, fetch_streams
from mogulsync.extract.records import Record
from mogulsync.extract.streams import STREAMS, Stream

ExtractMode = Literal["overwrite", "append", "incremental"]
Stage = Literal["fetched", "extracted", "loaded"]
SOURCE_NAME = "chartmogul"
_STATE_KEY = "state"
_DIGEST_CHARS = 10


class ExtractError(FatalError):
    """A stream or the load failed; nothing of this run was committed past the failure."""


@dataclass(frozen=True, slots=True)
class ExtractOptions:
    """What to extract, where to, and how."""

    destination: str
    dataset: str = "chartmogul"
    mode: ExtractMode = "incremental"
    streams: tuple[str, ...] | None = None
    start_date: dt.date | None = None
    interval: Interval = "month"
    state_dir: Path = Path(".mogulsync")
    activity_windows: int = DEFAULT_ACTIVITY_WINDOWS


@dataclass(frozen=True, slots=True)
class StreamReport:
    """Records and fetch time of one stream."""

    name: str
    records: int
    duration_s: float


@dataclass(frozen=True, slots=True)
class ExtractReport:
    """What a run did, for ``--json`` and the run history."""

    destination: str
    dataset: str
    mode: ExtractMode
    streams: tuple[StreamReport, ...]
    fetch_s: float
    load_s: float
    duration_s: float
    load_ids: tuple[str, ...] = field(default_factory=tuple)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready summary."""
        return {
            "destination": self.destination,
            "dataset": self.dataset,
            "mode": self.mode,
            "streams": {
                s.name: {"records": s.records, "duration_s": round(s.duration_s, 3)}
                for s in self.streams
            },
            "records": sum(s.records for s in self.streams),
            "fetch_s": round(self.fetch_s, 3),
            "load_s": round(self.load_s, 3),
            "duration_s": round(self.duration_s, 3),
            "load_ids": list(self.load_ids),
        }


def select_streams(names: Sequence[str] | None) -> list[Stream]:
    """The streams named (all when None), in registry order; ConfigError on unknown ones."""
    if not names:
        return list(STREAMS.values())
    unknown = sorted(set(names) - set(STREAMS))
    if unknown:
        raise ConfigError(
            f"unknown stream(s): {', '.join(unknown)}",
            hint=f"Known streams: {', '.join(STREAMS)}.",
        )
    return [stream for name, stream in STREAMS.items() if name in names]


def run_extract(
    settings: ClientSettings,
    options: ExtractOptions,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    on_records: Callable[[str, int], None] | None = None,
    on_stage: Callable[[Stage], None] | None = None,
) -> ExtractReport:
    """Extract ``options.streams`` from ChartMogul into ``options.destination``."""
    started = time.perf_counter()
    streams = select_streams(options.streams)
    target = resolve_destination(options.destination)
    pipeline = dlt.pipeline(
        pipeline_name=_pipeline_name(options),
        destination=target.destination,
        dataset_name=options.dataset,
        pipelines_dir=str(options.state_dir / "extract"),
    )
    try:
        states = _recover(pipeline) if options.mode == "incremental" else {}
    except Exception as exc:
        raise _load_error("finishing the previous run", exc, options.destination) from exc
    buffers: dict[str, list[Record]] = defaultdict(list)

    def sink(name: str, records: Sequence[Record]) -> None:
        buffers[name].extend(records)
        if on_records is not None:
            on_records(name, len(records))

    results = asyncio.run(_fetch(settings, options, streams, states, sink, transport))
    fetch_s = time.perf_counter() - started
    failed = [result for result in results if not result.ok]
    if failed:
        raise _stream_error(failed)
    _stage(on_stage, "fetched")
    source = _source(streams, buffers, results, options.mode)
    load_started = time.perf_counter()
    try:
        pipeline.extract(source, loader_file_format=target.loader_file_format)
        _stage(on_stage, "extracted")
        pipeline.normalize()
        info: LoadInfo = pipeline.load()
    except Exception as exc:
        raise _load_error("loading", exc, options.destination) from exc
    _stage(on_stage, "loaded")
    reports = tuple(StreamReport(r.name, r.records, r.duration_s) for r in results)
    now = time.perf_counter()
    return ExtractReport(
        destination=target.display,
        dataset=options.dataset,
        mode=options.mode,
        streams=reports,
        fetch_s=fetch_s,
        load_s=now - load_started,
        duration_s=now - started,
        load_ids=tuple(info.loads_ids),
    )


async def _fetch(
    settings: ClientSettings,
    options: ExtractOptions,
    streams: Sequence[Stream],
    states: Mapping[str, StreamState],
    sink: Callable[[str, Sequence[Record]], None],
    transport: httpx.AsyncBaseTransport | None,
) -> list[StreamResult]:
    start = (
        dt.datetime.combine(options.start_date, dt.time(), tzinfo=dt.UTC)
        if options.start_date
        else None
    )
    async with ChartMogulClient(settings, transport=transport) as client:
        ctx = FetchContext(
            client=client,
            start_date=start,
            end_date=dt.datetime.now(dt.UTC).date(),
            interval=options.interval,
            activity_windows=options.activity_windows,
            states=states,
        )
        return await fetch_streams(ctx, streams, sink)


def _recover(pipeline: dlt.Pipeline) -> dict[str, StreamState]:
    """Load what an interrupted run left, then read the incremental states."""
    if pipeline.has_pending_data:
        pipeline.normalize()
        pipeline.load()
    else:
        # A new working directory (or another machine) takes the state from the destination.
        pipeline.sync_destination()
    sources = pipeline.state.get("sources", {})
    resources = sources.get(SOURCE_NAME, {}).get("resources", {})
    states: dict[str, StreamState] = {}
    for name, resource_state in resources.items():
        state = StreamState.from_dict(resource_state.get(_STATE_KEY))
        if state is not None:
            states[name] = state
    return states


def _source(
    streams: Sequence[Stream],
    buffers: Mapping[str, list[Record]],
    results: Sequence[StreamResult],
    mode: ExtractMode,
) -> Any:
    new_states = {result.name: result.state for result in results}

    @dlt.source(name=SOURCE_NAME)
    def chartmogul() -> Iterator[DltResource]:
        for stream in streams:
            yield dlt.resource(
                _rows(buffers.get(stream.name, []), new_states.get(stream.name)),
                name=stream.name,
                primary_key=list(stream.primary_key),
                write_disposition=_disposition(stream, mode),
            )

    return chartmogul()


def _rows(records: list[Record], state: StreamState | None) -> Iterator[list[Record]]:
    if records:
        yield records
    if state is not None:
        # Saved into this load package; dlt commits it with the data it belongs to.
        dlt.current.resource_state()[_STATE_KEY] = state.as_dict()


def _disposition(stream: Stream, mode: ExtractMode) -> Literal["replace", "append", "merge"]:
    if mode == "append":
        return "append"
    if mode == "incremental" and stream.incremental:
        return "merge"
    return "replace"


def _pipeline_name(options: ExtractOptions) -> str:
    """One dlt pipeline (local state) per destination and dataset."""
    key = f"{options.destination}|{options.dataset}".encode()
    return f"mogulsync_extract_{hashlib.sha256(key).hexdigest()[:_DIGEST_CHARS]}"


def _stage(hook: Callable[[Stage], None] | None, stage: Stage) -> None:
    if hook is not None:
        hook(stage)


def _stream_error(failed: Sequence[StreamResult]) -> MogulsyncError:
    details = "; ".join(f"{result.name}: {_describe(result.error)}" for result in failed)
    first = failed[0].error
    if isinstance(first, MogulsyncError) and len(failed) == 1:
        return first
    return ExtractError(
        f"{len(failed)} stream(s) failed, nothing was loaded: {details}",
        hint="Fix the cause and run again; incremental cursors did not move.",
    )


def _describe(error: BaseException | None) -> str:
    if isinstance(error, MogulsyncError):
        return error.user_message
    return f"{type(error).__name__}: {error}"


def _load_error(step: str, exc: Exception, destination: str) -> ExtractError:
    """The failure, with the destination's password masked wherever dlt quoted it."""
    redactor = Redactor([urlsplit(destination).password or ""])
    return ExtractError(
        redactor.text(f"{step} into {destination} failed: {type(exc).__name__}: {exc}"),
        hint="Nothing past the last committed load was recorded; run again to retry.",
    )

"""``extract run``: fetch the chosen streams concurrently and stream them into dlt.

The fetch side of a run (the load side is ``loading.py``):

1. start fetching every stream at once over one client (one limiter for the whole run)
   on a background thread, before dlt is even imported: a small account is fetched while
   dlt loads, and its pages wait in the pump's bounded queue (``_pump.py``);
2. hand the pages to the load, in this process or in the loader process the CLI started
   beside it (``loader_process.py``); the incremental streams wait for the states the
   load reads from dlt, the others do not;
3. when the load's extract step fails, say why: a cancel, the fetch, or failed streams.

Importing this module does not import dlt: the package's public surface stays cheap for
the Airbyte entry point.
"""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from mogulsync.chartmogul import ChartMogulClient, ClientSettings, OutageBreaker
from mogulsync.errors import ConfigError, MogulsyncError
from mogulsync.extract._dlt_setup import no_telemetry
from mogulsync.extract._pump import FetchCancelledError, PagePump
from mogulsync.extract.context import FetchContext
from mogulsync.extract.destinations import DestinationSpec, parse_destination
from mogulsync.extract.fetch import Sink, StreamResult, fetch_streams
from mogulsync.extract.loading import (
    SOURCE_NAME,
    LoadHooks,
    LoadJob,
    TableSpec,
    load_streams,
    pipeline_name_for,
    recover_states,
    streams_dlt_source,
    write_disposition,
)
from mogulsync.extract.options import (
    ExtractCancelledError,
    ExtractDestinationRefusedError,
    ExtractError,
    ExtractMode,
    ExtractOptions,
    ExtractReport,
    Stage,
    StreamReport,
)
from mogulsync.extract.start import start_moment
from mogulsync.extract.state import StreamState
from mogulsync.extract.streams import STREAMS, Stream

if TYPE_CHECKING:
    import threading

    from mogulsync.extract.loader_process import LoaderProcess

__all__ = [
    "SOURCE_NAME",
    "ExtractCancelledError",
    "ExtractDestinationRefusedError",
    "ExtractError",
    "ExtractMode",
    "ExtractOptions",
    "ExtractReport",
    "Stage",
    "StreamReport",
    "fetch_pages",
    "pipeline_name_for",
    "recover_states",
    "run_extract",
    "select_streams",
    "streams_dlt_source",
    "write_disposition",
]


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
    stop: threading.Event | None = None,
    on_set_up: Callable[[], None] | None = None,
    on_failed_streams: Callable[[Sequence[str]], None] | None = None,
    loader: LoaderProcess | None = None,
) -> ExtractReport:
    """Extract ``options.streams`` from ChartMogul into ``options.destination``.

    ``on_records`` hears of every page as dlt takes it (stream name, record count);
    ``on_stage`` of the end of fetching, of dlt's extract step, and of the load;
    ``on_set_up`` (called once, on the calling thread) of dlt being set up, just before
    it takes the first page; ``on_failed_streams`` of the streams whose fetch failed, just
    before the run raises (the alerts name them).
    ``stop`` (set from another thread) ends the run before the next page with
    ExtractCancelledError, and nothing of it is loaded; once every page was read, the load
    goes through. ``loader``: the loader process the CLI started (``loader_process.py``);
    None loads in this process.
    """
    started = time.perf_counter()
    no_telemetry()
    streams = select_streams(options.streams)
    spec = parse_destination(options.destination, options.dataset)
    if spec.kind == "duckdb":
        _make_folder(spec)
    # The requests start before dlt is even imported: on a small account they are over
    # by the time dlt is ready (pages wait in the pump's bounded queue), on a large one
    # dlt's set-up costs nothing. Incremental streams wait for the stored states, unless
    # nothing can be stored yet.
    states: concurrent.futures.Future[Mapping[str, StreamState]] = concurrent.futures.Future()
    if options.mode != "incremental" or _nothing_stored(options, spec):
        states.set_result({})
    listed: dict[str, set[str]] = {}
    pump = PagePump(
        lambda sink: fetch_pages(settings, options, streams, states, sink, transport, listed)
    )
    pump.start()
    job = LoadJob(options, tuple(TableSpec.of(stream) for stream in streams), spec)
    hooks = LoadHooks(on_records, on_stage, on_set_up)

    def explain(cancelled: bool) -> MogulsyncError | None:
        return _extract_failure(pump, on_failed_streams, cancelled=cancelled)

    try:
        if loader is not None:
            loaded = loader.load(job, pump, states, listed, hooks, explain, stop)
        else:
            loaded = load_streams(job, pump, states, listed, hooks, explain, stop)
    finally:
        if not states.done():  # set-up failed: release the streams waiting for states
            states.set_exception(ExtractError("the run stopped before it read its state"))
        pump.close()
    now = time.perf_counter()
    return ExtractReport(
        destination=loaded.display,
        dataset=options.dataset,
        mode=options.mode,
        streams=tuple(StreamReport(r.name, r.records, r.duration_s) for r in pump.results),
        fetch_s=(now if loaded.fetched_at is None else loaded.fetched_at) - started,
        load_s=loaded.load_s,
        duration_s=now - started,
        load_ids=loaded.load_ids,
    )


def _extract_failure(
    pump: PagePump,
    on_failed_streams: Callable[[Sequence[str]], None] | None,
    *,
    cancelled: bool,
) -> MogulsyncError | None:
    """Why dlt's extract step failed: a cancel, the fetch, or failed streams (None: dlt
    itself failed)."""
    if cancelled:
        return ExtractCancelledError("the extract was cancelled: nothing was loaded")
    if isinstance(pump.error, MogulsyncError):
        return pump.error
    # streams stopped because dlt stopped reading are not why the run failed
    failed = [
        result
        for result in pump.results
        if not result.ok and not isinstance(result.error, FetchCancelledError)
    ]
    if failed:
        if on_failed_streams is not None:
            on_failed_streams([result.name for result in failed])
        return _stream_error(failed)
    return None


def _make_folder(spec: DestinationSpec) -> None:
    """Create the DuckDB file's folder, as dlt's file destinations create theirs (DuckDB
    only creates the file, and fails on a missing folder with a bare IO error)."""
    folder = Path(spec.location).parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"destination {spec.display}: cannot create the folder {folder}: {exc.strerror}",
            hint="Point --destination / extract.destination at a folder you can write to.",
        ) from None


async def fetch_pages(
    settings: ClientSettings,
    options: ExtractOptions,
    streams: Sequence[Stream],
    states: concurrent.futures.Future[Mapping[str, StreamState]],
    sink: Sink,
    transport: httpx.AsyncBaseTransport | None,
    listed: dict[str, set[str]] | None = None,
) -> list[StreamResult]:
    start = start_moment(options.start_date) if options.start_date else None
    # one breaker for every stream: ChartMogul down stops the run instead of each stream
    # retrying on its own for minutes
    breaker = OutageBreaker(settings.base_url)
    async with ChartMogulClient(settings, transport=transport, breaker=breaker) as client:
        ctx = FetchContext(
            client=client,
            start_date=start,
            end_date=options.end_date or dt.datetime.now(dt.UTC).date(),
            interval=options.interval,
            activity_windows=options.activity_windows,
            pending_states=states,
            deletions=options.mode == "incremental",
            listed={} if listed is None else listed,
        )
        return await fetch_streams(ctx, streams, sink)


def _nothing_stored(options: ExtractOptions, spec: DestinationSpec) -> bool:
    """True when no state can exist: neither dlt's working directory of this destination
    nor its DuckDB file does (a first run). Reading the states would then open the new
    file only to find none, after dlt's import and set-up; the incremental streams need
    not wait for that.

    Only for an absolute DuckDB path (the project file's are made absolute): dlt places
    a relative one under its own local directory, which it decides.
    """
    if spec.kind != "duckdb":
        return False  # a remote destination may hold the state of another machine's runs
    database = Path(spec.location)
    working_dir = options.state_dir / "extract" / pipeline_name_for(options)
    return database.is_absolute() and not database.exists() and not working_dir.exists()


def _stream_error(failed: Sequence[StreamResult]) -> MogulsyncError:
    # one reason shared by many streams (a rejected key fails all twelve) is said once
    by_reason: dict[str, list[str]] = {}
    for result in failed:
        by_reason.setdefault(_describe(result.error), []).append(result.name)
    details = "; ".join(f"{', '.join(names)}: {reason}" for reason, names in by_reason.items())
    first = failed[0].error
    if isinstance(first, MogulsyncError) and len(failed) == 1:
        return first
    message = f"{len(failed)} stream(s) failed, nothing was loaded: {details}"
    hint = "Fix the cause and run again; incremental cursors did not move."
    if all(isinstance(result.error, ConfigError) for result in failed):
        # e.g. a rejected key: still the configuration's to fix (exit 4, as for one stream)
        return ConfigError(message, hint=hint)
    return ExtractError(message, hint=hint)


def _describe(error: BaseException | None) -> str:
    if isinstance(error, MogulsyncError):
        return error.user_message
    return f"{type(error).__name__}: {error}"

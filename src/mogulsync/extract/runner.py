"""``extract run``: fetch the chosen streams concurrently and stream them into dlt.

Steps of one run:

1. start fetching every stream at once over one client (one limiter for the whole run)
   on a background thread, before dlt is even imported: a small account is fetched while
   dlt loads, and its pages wait in the pump's bounded queue (``_pump.py``);
2. set dlt up, finish a load an earlier, interrupted run left behind (dlt keeps extracted
   packages on disk until they are loaded) and read the incremental states, restoring them
   from the destination when the local working directory is new; the incremental streams
   wait for them, the others do not;
3. dlt writes each page to its load package as it arrives: memory holds a bounded number
   of pages, not the whole account;
4. once every stream ended, put the new incremental states into the same package; dlt
   writes them to the destination in the same load as the data. A stream that failed
   aborts the package, and a crash before the load completes never moves a cursor past
   data the destination does not have.

dlt is imported inside the functions that need it: importing this module (and the
package's public surface) stays cheap for the Airbyte entry point.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import datetime as dt
import hashlib
import itertools
import logging
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal
from urllib.parse import unquote, urlsplit

import httpx

from mogulsync._redact import Redactor
from mogulsync.chartmogul import ChartMogulClient, ClientSettings, OutageBreaker
from mogulsync.config.extract import DEFAULT_KEEP_LOAD_PACKAGES
from mogulsync.errors import ConfigError, FatalError, MogulsyncError
from mogulsync.extract._dlt_setup import (
    STAGING_DROPPED,
    drop_staging,
    no_telemetry,
    small_job_settings,
    urls_without_sqlalchemy,
)
from mogulsync.extract._packages import drop_unfinished_packages, prune_loaded_packages
from mogulsync.extract._pump import FetchCancelledError, PagePump
from mogulsync.extract.context import DEFAULT_ACTIVITY_WINDOWS, FetchContext, Interval, StreamState
from mogulsync.extract.destinations import DestinationSpec, parse_destination
from mogulsync.extract.fetch import Sink, StreamResult, fetch_streams
from mogulsync.extract.incremental import DELETED_COLUMN, as_datetime
from mogulsync.extract.start import start_moment
from mogulsync.extract.streams import STREAMS, Stream

if TYPE_CHECKING:
    import threading

    import dlt
    from dlt.common.schema.typing import TColumnSchema
    from dlt.extract.items import DataItemWithMeta

    from mogulsync.extract.destinations import FileFormat, ResolvedDestination

ExtractMode = Literal["overwrite", "append", "incremental"]
Stage = Literal["fetched", "extracted", "loaded"]
SOURCE_NAME = "chartmogul"
_STATE_KEY = "state"
#: beside a dated stream's state: the ``start_date`` its table was read from ("": from the
#: account's first activity); a run with an earlier one reads from there again
_START_KEY = "start_date"
#: streams whose rows begin at ``start_date``
_DATED_STREAMS: Final = frozenset({"activities"})
_DIGEST_CHARS = 10
#: the single dlt resource every stream's pages go through (each to its own table)
_RESOURCE_NAME = "streams"
#: what PostgreSQL answers when the URL's credentials or database are wrong: running again
#: cannot help, the URL must change (exit 4, as for a rejected API key)
_LOGIN_REFUSED = re.compile(
    r'password authentication failed|no password supplied|(role|database) "[^"]*" does not exist'
)
_log = logging.getLogger(__name__)
#: the column marking deletion records: dlt's merge deletes the row and inserts nothing
_DELETION_HINT: Final[dict[str, TColumnSchema]] = {
    DELETED_COLUMN: {"name": DELETED_COLUMN, "data_type": "bool", "hard_delete": True}
}
#: DuckDB cannot load an empty JSON-lines file, so an emptied table is replaced with INSERTs
_DUCKDB_EMPTY_FORMAT: Final = "insert_values"


class ExtractError(FatalError):
    """A stream or the load failed; nothing of this run was committed past the failure."""


class ExtractDestinationRefusedError(ExtractError, ConfigError):
    """The destination refused the login (password, user, database): the URL is to fix."""


class ExtractCancelledError(ExtractError):
    """``stop`` was set while pages were read: the run loaded nothing."""


@dataclass(frozen=True, slots=True)
class ExtractOptions:
    """What to extract, where to, and how."""

    destination: str
    dataset: str = "chartmogul"
    mode: ExtractMode = "incremental"
    streams: tuple[str, ...] | None = None
    #: a day (from midnight UTC) or an exact instant (Airbyte's start_date)
    start_date: dt.datetime | dt.date | None = None
    interval: Interval = "month"
    #: last day of the customer_count and metrics series (None: today, UTC)
    end_date: dt.date | None = None
    state_dir: Path = Path(".mogulsync")
    activity_windows: int = DEFAULT_ACTIVITY_WINDOWS
    #: loaded dlt packages kept in the working directory (older ones deleted after a load)
    keep_load_packages: int = DEFAULT_KEEP_LOAD_PACKAGES


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
    stop: threading.Event | None = None,
    on_set_up: Callable[[], None] | None = None,
    on_failed_streams: Callable[[Sequence[str]], None] | None = None,
) -> ExtractReport:
    """Extract ``options.streams`` from ChartMogul into ``options.destination``.

    ``on_records`` hears of every page as dlt takes it (stream name, record count);
    ``on_stage`` of the end of fetching, of dlt's extract step, and of the load;
    ``on_set_up`` (called once, on the calling thread) of dlt being set up, just before
    it takes the first page; ``on_failed_streams`` of the streams whose fetch failed, just
    before the run raises (the alerts name them).
    ``stop`` (set from another thread) ends the run before the next page with
    ExtractCancelledError, and nothing of it is loaded; once every page was read, the load
    goes through.
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
    try:
        with contextlib.ExitStack() as stack:
            stack.enter_context(small_job_settings())
            if spec.kind == "duckdb":
                stack.enter_context(urls_without_sqlalchemy())
            hooks = _Hooks(on_records, on_stage, on_set_up, on_failed_streams)
            run = _Run(options, streams, spec, pump, states, listed)
            return _extract_and_load(run, started, hooks, stop)
    finally:
        if not states.done():  # set-up failed: release the streams waiting for states
            states.set_exception(ExtractError("the run stopped before it read its state"))
        pump.close()


@dataclass(frozen=True, slots=True)
class _Hooks:
    """The caller's callbacks (see ``run_extract``)."""

    on_records: Callable[[str, int], None] | None
    on_stage: Callable[[Stage], None] | None
    on_set_up: Callable[[], None] | None
    on_failed_streams: Callable[[Sequence[str]], None] | None = None

    def set_up(self) -> None:
        if self.on_set_up is not None:
            self.on_set_up()


@dataclass(frozen=True, slots=True)
class _Run:
    """What one run reads and where it loads it."""

    options: ExtractOptions
    streams: Sequence[Stream]
    spec: DestinationSpec
    pump: PagePump
    states: concurrent.futures.Future[Mapping[str, StreamState]]
    #: every id read by streams that list all their records (see ``FetchContext.listed``)
    listed: Mapping[str, set[str]]


def _extract_and_load(
    run: _Run, started: float, hooks: _Hooks, stop: threading.Event | None = None
) -> ExtractReport:
    import dlt

    options, streams, spec, pump, states = (
        run.options,
        run.streams,
        run.spec,
        run.pump,
        run.states,
    )

    on_records, on_stage = hooks.on_records, hooks.on_stage

    target = spec.build()
    pipeline = dlt.pipeline(
        pipeline_name=pipeline_name_for(options),
        destination=target.destination,
        dataset_name=options.dataset,
        pipelines_dir=str(options.state_dir / "extract"),
    )
    if not states.done():
        step = _recovery_step(pipeline)
        try:
            states.set_result(recover_states(pipeline, _start_text(options)))
        except Exception as exc:
            raise _load_error(step, exc, options.destination) from exc
    fetched_at: list[float] = []

    def fetched() -> None:
        fetched_at.append(time.perf_counter())
        _stage(on_stage, "fetched")

    source = streams_dlt_source(
        streams,
        pump,
        options.mode,
        target,
        on_records,
        fetched,
        stop,
        run.listed,
        _start_text(options),
    )
    hooks.set_up()
    drop_unfinished_packages(pipeline)  # a killed run's: nothing will ever load them
    try:
        pipeline.extract(source, loader_file_format=target.loader_file_format)
    except Exception as exc:
        drop_unfinished_packages(pipeline)  # this step's: never loaded, the next run reads afresh
        cancelled = stop is not None and stop.is_set() and not fetched_at
        failure = _extract_failure(run, hooks, cancelled=cancelled)
        if failure is not None:
            raise failure from None
        raise _load_error("extracting into", exc, options.destination) from exc
    fetch_s = (fetched_at[0] if fetched_at else time.perf_counter()) - started
    _stage(on_stage, "extracted")
    load_started = time.perf_counter()
    try:
        pipeline.normalize()
        info = pipeline.load()
    except Exception as exc:
        raise _load_error("loading into", exc, options.destination) from exc
    # merged and replaced tables both go through the staging schema; an append run too
    # may have loaded them first (an earlier run's package, whose load had failed)
    if target.kind in STAGING_DROPPED:
        drop_staging(pipeline)
    prune_loaded_packages(pipeline, options.keep_load_packages)
    _stage(on_stage, "loaded")
    reports = tuple(StreamReport(r.name, r.records, r.duration_s) for r in pump.results)
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


def _extract_failure(run: _Run, hooks: _Hooks, *, cancelled: bool) -> MogulsyncError | None:
    """Why dlt's extract step failed: a cancel, the fetch, or failed streams (None: dlt
    itself failed)."""
    if cancelled:
        return ExtractCancelledError("the extract was cancelled: nothing was loaded")
    if isinstance(run.pump.error, MogulsyncError):
        return run.pump.error
    # streams stopped because dlt stopped reading are not why the run failed
    failed = [
        result
        for result in run.pump.results
        if not result.ok and not isinstance(result.error, FetchCancelledError)
    ]
    if failed:
        if hooks.on_failed_streams is not None:
            hooks.on_failed_streams([result.name for result in failed])
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


def _recovery_step(pipeline: dlt.Pipeline) -> str:
    """What :func:`recover_states` is about to do, for its error (a first run has no
    previous run to finish)."""
    if pipeline.has_pending_data:
        return "loading what an interrupted run left into"
    return "reading the extract's state (cursors) from"


def recover_states(pipeline: dlt.Pipeline, start: str | None = None) -> dict[str, StreamState]:
    """Load what an interrupted run left, then read the incremental states.

    A dated stream whose table was read from a later ``start`` (see :func:`_start_text`)
    than this run's gets no state: it is read from the new start, as on a first run (its
    rows are merged on their key, so those already loaded are not doubled).
    """
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
        if _read_again(name, start, resource_state.get(_START_KEY)):
            _log.info("%s: start_date moved back, read again from %s", name, start)
            continue
        if state is not None:
            states[name] = state
    return states


def _start_text(options: ExtractOptions) -> str:
    """The run's ``start_date`` as stored beside a dated stream's state ("": none, the
    account's first activity)."""
    return start_moment(options.start_date).isoformat() if options.start_date else ""


def _read_again(name: str, start: str | None, stored: object) -> bool:
    """Whether stream ``name`` is read from ``start`` whatever its state: a dated stream
    whose table was read from a later start."""
    return name in _DATED_STREAMS and start is not None and _starts_earlier(start, stored)


def _stored_start(mode: ExtractMode, start: str, before: object) -> str:
    """What a dated stream's table holds from after this run: an overwrite replaced it;
    otherwise the earlier start (rows from an earlier start stay in the table)."""
    if mode == "overwrite" or not isinstance(before, str) or _starts_earlier(start, before):
        return start
    return before


def _starts_earlier(start: str, stored: object) -> bool:
    """Whether ``start`` is before ``stored``, the start a table was read from (not
    stored by older versions: unknown, taken as no earlier)."""
    if not isinstance(stored, str) or stored == "":
        return False
    if start == "":
        return True
    ours, theirs = as_datetime(start), as_datetime(stored)
    return ours is not None and theirs is not None and ours < theirs


def streams_dlt_source(
    streams: Sequence[Stream],
    pump: PagePump,
    mode: ExtractMode,
    target: ResolvedDestination,
    on_records: Callable[[str, int], None] | None,
    fetched: Callable[[], None],
    stop: threading.Event | None = None,
    listed: Mapping[str, set[str]] | None = None,
    start: str = "",
) -> Any:
    """One dlt resource that routes every page to its stream's table as it arrives.

    Each stream's table is a variant of the resource's hints; the variants need the load
    file format too (dlt applies ``extract``'s format only to the resource's own hints).
    """
    import dlt

    @dlt.source(name=SOURCE_NAME)
    def chartmogul() -> Any:
        pages = _pages(streams, pump, mode, _empty_format(target), on_records, fetched, stop, start)
        deleted = _deleted_rows(streams, mode, {} if listed is None else listed)
        # Handed over as a plain iterator: for a generator dlt looks up the module of its
        # frame, which scans every loaded module (~30 ms of CPU per run).
        resource = dlt.resource(itertools.chain(pages, deleted), name=_RESOURCE_NAME)
        for stream in streams:
            merged = write_disposition(stream, mode) == "merge"
            resource.apply_hints(
                table_name=stream.name,
                primary_key=list(stream.primary_key),
                write_disposition=write_disposition(stream, mode),
                file_format=target.loader_file_format,
                # a merge deletes the rows of records ChartMogul deleted (incremental.py)
                columns=_DELETION_HINT if merged else None,
                create_table_variant=True,
            )
        return resource

    return chartmogul()


def _pages(
    streams: Sequence[Stream],
    pump: PagePump,
    mode: ExtractMode,
    empty_format: FileFormat | None,
    on_records: Callable[[str, int], None] | None,
    fetched: Callable[[], None],
    stop: threading.Event | None = None,
    start: str = "",
) -> Iterator[DataItemWithMeta]:
    import dlt

    for name, records in pump.pages():
        _check_stop(stop)
        if on_records is not None:
            on_records(name, len(records))
        yield dlt.mark.with_table_name(list(records), name)
    _check_stop(stop)
    if pump.error is not None:
        raise pump.error
    if any(not result.ok for result in pump.results):
        # Aborts dlt's extract step: nothing of this run reaches the destination.
        raise ExtractError("a stream failed")
    fetched()
    replaced = {stream.name for stream in streams if write_disposition(stream, mode) == "replace"}
    # tables the destination holds rows of (a table that never had any has no columns yet)
    loaded = {
        table["name"] for table in dlt.current.source_schema().data_tables(seen_data_only=True)
    }
    resources = dlt.current.source_state().setdefault("resources", {})
    for result in pump.results:
        if result.records == 0 and result.name in replaced and result.name in loaded:
            # A marked empty list still replaces the table: a list that became empty
            # empties it (a plain empty list would leave the old rows in place).
            empty = dlt.mark.make_hints(table_name=result.name, file_format=empty_format)
            yield dlt.mark.with_hints(
                dlt.mark.materialize_table_schema(), empty, create_table_variant=True
            )
        if result.state is not None:
            # Saved into this load package; dlt commits it with the data it belongs to
            # (where dlt keeps a resource's own state, so older pipelines read it as well).
            stored = resources.setdefault(result.name, {})
            stored[_STATE_KEY] = result.state.as_dict()
            if result.name in _DATED_STREAMS:
                stored[_START_KEY] = _stored_start(mode, start, stored.get(_START_KEY))


def _deleted_rows(
    streams: Sequence[Stream], mode: ExtractMode, listed: Mapping[str, set[str]]
) -> Iterator[DataItemWithMeta]:
    """Deletion records for the rows of a merged table whose key its stream, which lists
    every record, no longer read: deleted in ChartMogul since (runs once every page is in).

    Only destinations dlt can query (SQL ones) are asked; on others such rows stay.
    """
    import dlt

    for stream in streams:
        ids = listed.get(stream.name)
        if ids is None or write_disposition(stream, mode) != "merge":
            continue
        (key,) = stream.primary_key
        stored = _stored_keys(dlt.current.pipeline(), stream.name, key)
        gone = [value for value in stored if str(value) not in ids]
        if gone:
            rows = [{key: value, DELETED_COLUMN: True} for value in gone]
            yield dlt.mark.with_table_name(rows, stream.name)


def _stored_keys(pipeline: dlt.Pipeline, table: str, key: str) -> list[object]:
    """Every ``key`` of ``table`` in the destination (none when it has no such table yet,
    or cannot be queried)."""
    import dlt

    loaded = {t["name"] for t in dlt.current.source_schema().data_tables(seen_data_only=True)}
    if table not in loaded:
        return []
    try:
        with pipeline.sql_client() as client:
            name = client.make_qualified_table_name(table)
            column = client.escape_column_name(key)
            rows = client.execute_sql(f"SELECT {column} FROM {name}")  # noqa: S608 # dlt's names
    except Exception as exc:  # a destination without SQL: rows stay
        # the exception's type only: a driver's message may quote the connection string
        _log.info("cannot read the keys of %s from the destination (%s)", table, type(exc))
        return []
    return [row[0] for row in rows or []]


def _check_stop(stop: threading.Event | None) -> None:
    """Between pages: a set ``stop`` aborts dlt's extract step (nothing is loaded)."""
    if stop is not None and stop.is_set():
        raise ExtractCancelledError("the extract was cancelled")


def _empty_format(target: ResolvedDestination) -> FileFormat | None:
    """The file format that loads an empty replacement of a table into ``target``."""
    return _DUCKDB_EMPTY_FORMAT if target.kind == "duckdb" else target.loader_file_format


def write_disposition(stream: Stream, mode: ExtractMode) -> Literal["replace", "append", "merge"]:
    """How ``stream``'s table takes a run's records: ``replace`` leaves exactly them."""
    if mode == "append":
        return "append"
    if mode == "incremental" and stream.incremental:
        return "merge"
    return "replace"


def pipeline_name_for(options: ExtractOptions) -> str:
    """One dlt pipeline (local state) per destination and dataset."""
    key = f"{options.destination}|{options.dataset}".encode()
    return f"mogulsync_extract_{hashlib.sha256(key).hexdigest()[:_DIGEST_CHARS]}"


def _stage(hook: Callable[[Stage], None] | None, stage: Stage) -> None:
    if hook is not None:
        hook(stage)


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


def _load_error(step: str, exc: Exception, destination: str) -> ExtractError:
    """The failure, on one line, with the destination's password masked wherever dlt
    quoted it. ``step`` ends with its preposition (``loading into``)."""
    password = urlsplit(destination).password or ""
    # as written in the URL and as a driver quotes it (decoded)
    redactor = Redactor([password, unquote(password)])
    # dlt wraps the cause in a multi-line PipelineStepFailed: name the cause itself; a
    # failed load job's own exception carries the job's whole traceback as its message,
    # the database's error it wraps does not
    cause = getattr(exc, "exception", None)
    cause = cause if isinstance(cause, BaseException) else exc
    client = getattr(cause, "client_exception", None)
    cause = client if isinstance(client, BaseException) else cause
    # masked before the text is put on one line: folding first could hide a password
    # with runs of spaces from the redactor
    text = redactor.text(f"{step} {destination} failed: {type(cause).__name__}: {cause}")
    if _LOGIN_REFUSED.search(str(cause)):
        return ExtractDestinationRefusedError(
            " ".join(text.split()),
            hint="Fix the destination URL's user, password or database (a password in"
            " ${VAR} is read from the environment); nothing was loaded.",
        )
    return ExtractError(
        " ".join(text.split()),
        hint="Nothing past the last committed load was recorded; run again to retry.",
    )

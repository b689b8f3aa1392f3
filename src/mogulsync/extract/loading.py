"""The load side of ``extract run``: dlt takes the fetched pages into the destination.

Steps, once the fetch side (``runner.py``) has started its requests:

1. set dlt up, finish a load an earlier, interrupted run left behind (dlt keeps extracted
   packages on disk until they are loaded) and read the incremental states, restoring them
   from the destination when the local working directory is new; the incremental streams
   wait for them, the others do not;
2. dlt writes each page to its load package as it arrives: memory holds a bounded number
   of pages, not the whole account;
3. once every stream ended, put the new incremental states into the same package; dlt
   writes them to the destination in the same load as the data. A stream that failed
   aborts the package, and a crash before the load completes never moves a cursor past
   data the destination does not have.

This runs in the command's own process, or in the loader process that the CLI starts
beside it (``loader_process.py``); so it imports neither the client nor pydantic, and dlt
only inside the functions that need it.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import hashlib
import itertools
import logging
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal, Protocol
from urllib.parse import unquote, urlsplit

from mogulsync._redact import Redactor
from mogulsync.errors import MogulsyncError
from mogulsync.extract._dlt_setup import (
    STAGING_DROPPED,
    drop_staging,
    small_job_settings,
    urls_without_sqlalchemy,
)
from mogulsync.extract._packages import drop_unfinished_packages, prune_loaded_packages
from mogulsync.extract.options import (
    ExtractCancelledError,
    ExtractDestinationRefusedError,
    ExtractError,
    ExtractMode,
    ExtractOptions,
    Stage,
)
from mogulsync.extract.start import start_moment
from mogulsync.extract.state import DELETED_COLUMN, StreamState, as_datetime

if TYPE_CHECKING:
    import threading

    import dlt
    from dlt.common.schema.typing import TColumnSchema
    from dlt.extract.items import DataItemWithMeta

    from mogulsync.extract.destinations import DestinationSpec, FileFormat, ResolvedDestination

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

Page = tuple[str, Sequence[Mapping[str, Any]]]


class Table(Protocol):
    """What the load needs of a stream: its table's name, key and whether it merges."""

    @property
    def name(self) -> str: ...

    @property
    def primary_key(self) -> tuple[str, ...]: ...

    @property
    def incremental(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class TableSpec:
    """A :class:`Table` as plain data (what the loader process receives)."""

    name: str
    primary_key: tuple[str, ...]
    incremental: bool

    @classmethod
    def of(cls, table: Table) -> TableSpec:
        """The plain form of ``table``."""
        return cls(table.name, tuple(table.primary_key), table.incremental)


class FetchedStream(Protocol):
    """How one stream's fetch ended, as far as the load is concerned."""

    @property
    def name(self) -> str: ...

    @property
    def records(self) -> int: ...

    @property
    def duration_s(self) -> float: ...

    @property
    def state(self) -> StreamState | None: ...

    @property
    def ok(self) -> bool: ...


class PageFeed(Protocol):
    """Where the pages come from: the fetch thread's pump, or the pipe from the command."""

    def pages(self) -> Iterator[Page]:
        """``(stream, records)`` until every stream ended."""
        ...

    @property
    def error(self) -> BaseException | None:
        """Why the fetch as a whole failed (read once ``pages`` ended)."""
        ...

    @property
    def results(self) -> Sequence[FetchedStream]:
        """How every stream ended (read once ``pages`` ended)."""
        ...


@dataclass(frozen=True, slots=True)
class LoadHooks:
    """Who hears of the load's progress (see ``run_extract``)."""

    on_records: Callable[[str, int], None] | None = None
    on_stage: Callable[[Stage], None] | None = None
    on_set_up: Callable[[], None] | None = None

    def stage(self, stage: Stage) -> None:
        if self.on_stage is not None:
            self.on_stage(stage)

    def set_up(self) -> None:
        if self.on_set_up is not None:
            self.on_set_up()


@dataclass(frozen=True, slots=True)
class LoadJob:
    """What one run loads, and where to."""

    options: ExtractOptions
    tables: tuple[TableSpec, ...]
    spec: DestinationSpec


@dataclass(frozen=True, slots=True)
class Loaded:
    """What the load side did."""

    display: str
    load_ids: tuple[str, ...]
    #: seconds from the end of dlt's extract step to the end of the load
    load_s: float
    #: ``time.perf_counter()`` when the last page was taken (None: never); on Linux, where the
    #: loader process runs, that clock is the machine's (CLOCK_MONOTONIC), not the process's
    fetched_at: float | None


#: why the extract step failed, when the fetch side knows: a cancel, the fetch, failed
#: streams (called with "was it cancelled"; None: dlt itself failed)
ExplainFailure = Callable[[bool], MogulsyncError | None]


def load_streams(
    job: LoadJob,
    feed: PageFeed,
    states: concurrent.futures.Future[Mapping[str, StreamState]],
    listed: Mapping[str, set[str]],
    hooks: LoadHooks,
    explain_failure: ExplainFailure,
    stop: threading.Event | None = None,
) -> Loaded:
    """Set dlt up, settle ``states`` if the fetch waits for them, and load ``feed``'s pages.

    ``listed`` holds, once the pages ended, every id read by streams that list all their
    records (their merged tables drop the rows of the others). dlt runs with the settings
    for small jobs (``_dlt_setup.py``), in this process or in the loader process alike.
    """
    with contextlib.ExitStack() as stack:
        stack.enter_context(small_job_settings())
        if job.spec.kind == "duckdb":
            stack.enter_context(urls_without_sqlalchemy())
        return _load_streams(job, feed, states, listed, hooks, explain_failure, stop)


def _load_streams(
    job: LoadJob,
    feed: PageFeed,
    states: concurrent.futures.Future[Mapping[str, StreamState]],
    listed: Mapping[str, set[str]],
    hooks: LoadHooks,
    explain_failure: ExplainFailure,
    stop: threading.Event | None,
) -> Loaded:
    import dlt

    options = job.options
    target = job.spec.build()
    pipeline = dlt.pipeline(
        pipeline_name=pipeline_name_for(options),
        destination=target.destination,
        dataset_name=options.dataset,
        pipelines_dir=str(options.state_dir / "extract"),
    )
    # an interrupted run's package, loaded first, may have gone through the staging schema
    finished_earlier = False
    if not states.done():
        finished_earlier = pipeline.has_pending_data
        step = _recovery_step(pipeline)
        try:
            states.set_result(recover_states(pipeline, start_text(options)))
        except Exception as exc:
            raise load_error(step, exc, options.destination) from exc
    fetched_at: list[float] = []

    def fetched() -> None:
        fetched_at.append(time.perf_counter())
        hooks.stage("fetched")

    source = streams_dlt_source(
        job.tables,
        feed,
        options.mode,
        target,
        hooks.on_records,
        fetched,
        stop,
        listed,
        start_text(options),
    )
    hooks.set_up()
    drop_unfinished_packages(pipeline)  # a killed run's: nothing will ever load them
    try:
        pipeline.extract(source, loader_file_format=target.loader_file_format)
    except Exception as exc:
        drop_unfinished_packages(pipeline)  # this step's: never loaded, the next run reads afresh
        failure = explain_failure(stop is not None and stop.is_set() and not fetched_at)
        if failure is not None:
            raise failure from None
        raise load_error("extracting into", exc, options.destination) from exc
    hooks.stage("extracted")
    load_started = time.perf_counter()
    try:
        pipeline.normalize()
        with _load_connection(job.spec) as credentials:
            info = pipeline.load(credentials=credentials)
            staged = finished_earlier or _staging_used(job, target, info.loads_ids)
            if target.kind in STAGING_DROPPED and staged:
                drop_staging(pipeline)
    except Exception as exc:
        raise load_error("loading into", exc, options.destination) from exc
    prune_loaded_packages(pipeline, options.keep_load_packages)
    hooks.stage("loaded")
    return Loaded(
        display=target.display,
        load_ids=tuple(info.loads_ids),
        load_s=time.perf_counter() - load_started,
        fetched_at=fetched_at[0] if fetched_at else None,
    )


@contextlib.contextmanager
def _load_connection(spec: DestinationSpec) -> Iterator[Any]:
    """The credentials of the load step: for a DuckDB file, one connection for all of it.

    Given a path, dlt opens the file twice in the load step (the schema, then the jobs)
    and checkpoints it at each close (~25 ms of an empty run); given a connection (a form
    of credentials dlt documents), it uses that one and leaves closing it to its owner.
    Open for the load step only: the file stays free for readers while the run fetches.
    A relative path is placed by dlt: left to it.
    """
    if spec.kind != "duckdb" or not Path(spec.location).is_absolute():
        yield None
        return
    import duckdb

    connection = duckdb.connect(spec.location)
    try:
        yield connection
    finally:
        connection.close()


def _staging_used(job: LoadJob, target: ResolvedDestination, load_ids: Sequence[str]) -> bool:
    """Whether the load may have created the staging schema: merged tables and (unless
    replaced in place) replaced ones go through it; so may an earlier run's package that
    this load finished. Asking the destination costs a connection (~20 ms)."""
    if len(load_ids) > 1 or target.replace_staged:
        return True
    return any(write_disposition(table, job.options.mode) == "merge" for table in job.tables)


def _recovery_step(pipeline: dlt.Pipeline) -> str:
    """What :func:`recover_states` is about to do, for its error (a first run has no
    previous run to finish)."""
    if pipeline.has_pending_data:
        return "loading what an interrupted run left into"
    return "reading the extract's state (cursors) from"


def recover_states(pipeline: dlt.Pipeline, start: str | None = None) -> dict[str, StreamState]:
    """Load what an interrupted run left, then read the incremental states.

    A dated stream whose table was read from a later ``start`` (see :func:`start_text`)
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


def start_text(options: ExtractOptions) -> str:
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
    streams: Sequence[Table],
    pump: PageFeed,
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
    streams: Sequence[Table],
    pump: PageFeed,
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
    streams: Sequence[Table], mode: ExtractMode, listed: Mapping[str, set[str]]
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


def write_disposition(stream: Table, mode: ExtractMode) -> Literal["replace", "append", "merge"]:
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


def load_error(step: str, exc: Exception, destination: str) -> ExtractError:
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

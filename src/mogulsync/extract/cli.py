"""``mogulsync extract run`` and ``mogulsync airbyte spec|check|discover|read``."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import sys
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from mogulsync import _quick_exit as quick_exit
from mogulsync import logs, output
from mogulsync.cli_options import CONFIG_OPTION
from mogulsync.errors import ConfigError, MogulsyncError

if TYPE_CHECKING:
    from mogulsync.chartmogul import ClientSettings
    from mogulsync.config import AppConfig
    from mogulsync.extract.context import Interval
    from mogulsync.extract.recording import ExtractWatch
    from mogulsync.extract.runner import ExtractMode, ExtractOptions, ExtractReport

app = typer.Typer(help="Extract ChartMogul into a warehouse (DuckDB, PostgreSQL, ... via dlt).")
airbyte_app = typer.Typer(
    help="The Airbyte source protocol, compatible with Airbyte's source-chartmogul config."
)
_err = output.LazyConsole(stderr=True)
_out = output.LazyConsole()
_DLT_LOG_LEVEL = "RUNTIME__LOG_LEVEL"
_INTERVALS: dict[str, Interval] = {name: name for name in ("day", "week", "month", "quarter")}
_MODES: dict[str, ExtractMode] = {
    "overwrite": "overwrite",
    "append": "append",
    "incremental": "incremental",
}
#: project-file sections the extract itself reads (Dagster's extract assets load these);
#: unset ${ENV} elsewhere (e.g. events:) is fine
SECTIONS = ("chartmogul", "extract")
#: ... and ``extract run``, which alerts after the run
RUN_SECTIONS = (*SECTIONS, "alerts")
#: docs/errors.md: the project file must be fixed
CONFIG_EXIT = 4
#: docs/errors.md: another run (here: another extract) is in progress
LOCKED_EXIT = 5


def _fail(exc: MogulsyncError) -> typer.Exit:
    from mogulsync.extract.lock import ExtractLockedError

    if isinstance(exc, ConfigError):
        code = CONFIG_EXIT
    else:
        code = LOCKED_EXIT if isinstance(exc, ExtractLockedError) else 1
    output.error(exc.user_message, exit_code=code)
    return typer.Exit(code)


@app.command("run")
def run_command(
    config: Path = CONFIG_OPTION,
    streams: str | None = typer.Option(
        None,
        "--streams",
        help="Comma-separated streams (default: all; an unknown name lists the known ones).",
    ),
    destination: str | None = typer.Option(
        None,
        "--destination",
        help="dlt destination URL, e.g. duckdb:///cm.duckdb; ${VAR} is read from the"
        " environment (single-quote it: 'postgresql://etl:${PGPASSWORD}@db/x').",
    ),
    mode: str | None = typer.Option(
        None, "--mode", help="overwrite, append or incremental (default from extract.mode)."
    ),
    start_date: str | None = typer.Option(
        None,
        "--start-date",
        help="YYYY-MM-DD, or an instant as Airbyte's YYYY-MM-DDTHH:MM:SSZ: where activities"
        " and metrics start.",
    ),
    interval: str | None = typer.Option(
        None,
        "--interval",
        help="day, week, month or quarter: rows of customer_count and metrics "
        "(default from extract.interval).",
    ),
    dataset: str | None = typer.Option(None, "--dataset", help="Schema / dataset to load into."),
    as_json: bool = typer.Option(
        False, "--json", help="Print per-stream record counts and durations as JSON."
    ),
) -> None:
    """Fetch every (or the chosen) stream concurrently and load it into the destination.

    Example: mogulsync extract run --streams customers,plans --destination duckdb:///cm.duckdb
    """
    _check_streams(streams)
    _check_choice("--mode", mode, _MODES)
    _check_choice("--interval", interval, _INTERVALS)
    _check_date("--start-date", start_date)
    from mogulsync.extract.recording import new_run_id

    # as `mogulsync serve` names its extracts (the history's id; every JSON log line's)
    run_id = new_run_id(dt.datetime.now(dt.UTC))
    if logs.json_mode():
        logs.set_run(run_id)
    try:
        with _one_shot_process() as set_up_done:
            project, settings, options = _run_options(
                config, streams, destination, mode, start_date, dataset, interval
            )
            report = _recorded_run(
                project, run_id, settings, options, show=not as_json, on_set_up=set_up_done
            )
    except MogulsyncError as exc:
        raise _fail(exc) from None
    json_logs = logs.json_mode()
    if json_logs:  # the outcome on stderr; stdout only with --json, as for `sync run`
        logs.emit("extract_finished", **report.as_dict(), exit_code=0)
        logs.set_run(None)
    if as_json:
        typer.echo(json.dumps(report.as_dict()))  # every --json: JSON Lines
    elif not json_logs:
        _print_report(report)


def _one_shot_process() -> AbstractContextManager[Callable[[], None]]:
    """In a process that ends with this command: no teardown, and no collection of
    start-up objects (``_quick_exit``, ``_collector``); elsewhere (tests, library use), a
    no-op. The quick exit is what lets start-up objects stay frozen: a normal teardown
    would make DuckDB's bindings report them as leaked."""
    if not quick_exit.armed():
        return contextlib.nullcontext(_no_hook)
    from mogulsync.extract._collector import collector_after_set_up

    quick_exit.request()
    return collector_after_set_up()


def _no_hook() -> None:
    return None


def _check_choice(flag: str, value: str | None, allowed: Mapping[str, object]) -> None:
    """A flag given an unknown value is a usage error (exit 2), found before any work."""
    if value is not None and value not in allowed:
        known = ", ".join(allowed)
        message = f"{flag} must be {known}, not {value!r}"
        raise typer.BadParameter(message, param_hint=flag)


def _check_date(flag: str, value: str | None) -> None:
    """A date the command line got wrong is a usage error (exit 2), as a wrong --mode is."""
    if value is None:
        return
    from mogulsync.config.extract import parse_start

    try:
        parse_start(value)
    except ValueError as exc:
        raise typer.BadParameter(f"{flag} {exc}", param_hint=flag) from None


def _check_streams(streams: str | None) -> None:
    """An unknown stream name is a usage error (exit 2), found before any work starts."""
    from mogulsync.extract.runner import select_streams

    names = [n.strip() for n in streams.split(",") if n.strip()] if streams else []
    try:
        select_streams(names)
    except ConfigError as exc:
        raise typer.BadParameter(exc.user_message, param_hint="--streams") from None


def extract_options(
    path: Path,
    streams: str | None,
    destination: str | None,
    mode: str | None,
    start_date: str | None,
    dataset: str | None,
    interval: str | None = None,
) -> tuple[ClientSettings, ExtractOptions]:
    from mogulsync.config.loader import load_config

    return options_for(
        load_config(path, sections=SECTIONS),
        streams,
        destination,
        mode,
        start_date,
        dataset,
        interval,
    )


def _run_options(
    path: Path,
    streams: str | None,
    destination: str | None,
    mode: str | None,
    start_date: str | None,
    dataset: str | None,
    interval: str | None,
) -> tuple[AppConfig, ClientSettings, ExtractOptions]:
    """:func:`extract_options` and the project they came from, with its alerts."""
    from mogulsync.config.loader import load_config

    project = load_config(path, sections=RUN_SECTIONS)
    settings, options = options_for(
        project, streams, destination, mode, start_date, dataset, interval
    )
    return project, settings, options


def _recorded_run(
    project: AppConfig,
    run_id: str,
    settings: ClientSettings,
    options: ExtractOptions,
    *,
    show: bool,
    on_set_up: Callable[[], None],
) -> ExtractReport:
    """The run, recorded in the extract history (as the server's are) and alerted on;
    alerts that could not be delivered are warnings on stderr, the outcome unchanged."""
    from mogulsync.extract.recorded import recorded_extract

    def run(watch: ExtractWatch) -> ExtractReport:
        def set_up() -> None:
            watch.on_set_up()
            on_set_up()

        return _run_with_progress(settings, options, show=show, watch=watch, on_set_up=set_up)

    return recorded_extract(project, options, run, run_id=run_id, warn=output.warning)


def options_for(
    app_config: AppConfig,
    streams: str | None,
    destination: str | None,
    mode: str | None,
    start_date: str | None,
    dataset: str | None,
    interval: str | None = None,
) -> tuple[ClientSettings, ExtractOptions]:
    """:func:`extract_options` of a project loaded already (Dagster's resource loads it
    with its own overrides of the API key and base URL)."""
    from mogulsync.chartmogul import ClientSettings
    from mogulsync.config.loader import expand_env
    from mogulsync.extract.runner import ExtractOptions

    extract = app_config.extract
    chosen_mode = mode or extract.mode
    if chosen_mode not in _MODES:
        raise ConfigError(f"--mode must be overwrite, append or incremental, not {chosen_mode!r}")
    from mogulsync.config.extract import parse_start

    try:
        start = parse_start(start_date) if start_date else extract.start_date
    except ValueError as exc:
        raise ConfigError(f"--start-date {exc}") from None
    chosen_interval = interval or extract.interval
    if chosen_interval not in _INTERVALS:
        raise ConfigError(
            f"--interval must be day, week, month or quarter, not {chosen_interval!r}"
        )
    names = [n.strip() for n in streams.split(",") if n.strip()] if streams else extract.streams
    cm = app_config.chartmogul
    settings = ClientSettings(
        api_key=cm.api_key,
        base_url=cm.base_url,
        rate_limit=cm.rate_limit,
        max_in_flight=cm.max_in_flight,
    )
    options = ExtractOptions(
        destination=expand_env(destination, "--destination")
        if destination
        else extract.destination.get_secret_value(),
        dataset=dataset or extract.dataset,
        mode=_MODES[chosen_mode],
        streams=tuple(names) if names else None,
        start_date=start,
        interval=_INTERVALS[chosen_interval],
        state_dir=Path(app_config.state_dir),
        activity_windows=extract.activity_windows,
        keep_load_packages=extract.keep_load_packages,
    )
    return settings, options


def _run_with_progress(
    settings: ClientSettings,
    options: ExtractOptions,
    *,
    show: bool,
    watch: ExtractWatch,
    on_set_up: Callable[[], None] | None = None,
) -> ExtractReport:
    from mogulsync.extract.loader_process import take as take_loader
    from mogulsync.extract.recording import hooks_with
    from mogulsync.extract.runner import run_extract
    from mogulsync.progress import ExtractLines, ticking

    # dlt's warnings (e.g. columns that were null in every row) address pipeline authors,
    # not users of this command; errors still surface. An explicit setting wins.
    os.environ.setdefault(_DLT_LOG_LEVEL, "ERROR")
    lines: ExtractLines | None = None  # --json without JSON logs: nothing on stderr
    if logs.json_mode():  # JSON objects on stderr, even with --json (results on stdout)
        lines = ExtractLines(lambda _line, fields: logs.emit("progress", **fields))
    elif show and not output.interactive(_err):  # a log file: a line every 10 s and per stage
        lines = ExtractLines(lambda line, _fields: typer.echo(line, err=True))
    elif show:
        return _run_with_bar(settings, options, watch, on_set_up)
    if lines is None:
        on_records, on_stage = hooks_with(watch, None, None)
    else:
        on_records, on_stage = hooks_with(watch, lines.on_records, lines.on_stage)
    with contextlib.nullcontext() if lines is None else ticking(lines.tick):
        return run_extract(
            settings,
            options,
            on_records=on_records,
            on_stage=on_stage,
            on_set_up=on_set_up,
            on_failed_streams=watch.on_failed_streams,
            loader=take_loader(),
        )


def _run_with_bar(
    settings: ClientSettings,
    options: ExtractOptions,
    watch: ExtractWatch,
    on_set_up: Callable[[], None] | None,
) -> ExtractReport:
    """In a terminal: a spinner per stream with its record count."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from mogulsync.extract.loader_process import take as take_loader
    from mogulsync.extract.recording import hooks_with
    from mogulsync.extract.runner import run_extract

    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    with Progress(*columns, console=_err.get(), transient=True) as progress:
        tasks: dict[str, Any] = {}

        def on_records(name: str, count: int) -> None:
            if name not in tasks:
                tasks[name] = progress.add_task(name, total=None, records=0)
            task = tasks[name]
            done = progress.tasks[task].fields["records"] + count
            progress.update(task, records=done, description=f"{name}: {done} records")

        def on_stage(stage: str) -> None:
            progress.add_task(f"[bold]{stage}[/bold]", total=None)

        records, stages = hooks_with(watch, on_records, on_stage)
        return run_extract(
            settings,
            options,
            on_records=records,
            on_stage=stages,
            on_set_up=on_set_up,
            on_failed_streams=watch.on_failed_streams,
            loader=take_loader(),
        )


def _print_report(report: ExtractReport) -> None:
    from mogulsync.extract.destinations import parse_destination

    where = report.destination
    if where.startswith("duckdb:") and (spec := parse_destination(where)).location:
        # a relative file is relative to where the command ran: say which file that is
        location = Path(spec.location)
        if not location.is_absolute():
            where += f" ({location.resolve()})"
    _out.print(f"Loaded into {where} (dataset {report.dataset}, {report.mode}):")
    for stream in report.streams:
        _out.print(f"  {stream.name:<22} {stream.records:>9} records  {stream.duration_s:7.1f} s")
    _out.print(f"fetch {report.fetch_s:.1f} s, load {report.load_s:.1f} s")


# ---------------------------------------------------------------------- airbyte
def _read_json(path: Path | None, what: str) -> Any:
    if path is None:
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read the {what} file {path}: {exc}") from None


def _protocol_fail(exc: ConfigError) -> typer.Exit:
    """A config_error TRACE on stdout (what the Airbyte platform reads), then exit 1."""
    from mogulsync.extract import airbyte_protocol as protocol

    trace = protocol.error_trace(exc.user_message, exc.user_message, config_error=True, stream=None)
    typer.echo(protocol.encode(trace))
    return typer.Exit(1)


_CONFIG_HELP = "JSON config: api_key, start_date (YYYY-MM-DDTHH:MM:SSZ), optional base_url."


@airbyte_app.command("spec")
def spec_command() -> None:
    """Print the connector specification (SPEC)."""
    from mogulsync.extract.airbyte import AirbyteSource

    raise typer.Exit(AirbyteSource(sys.stdout).spec())


@airbyte_app.command("check")
def check_command(config: Path = typer.Option(..., "--config", help=_CONFIG_HELP)) -> None:
    """Check that the API key can read (CONNECTION_STATUS)."""
    from mogulsync.extract import airbyte_protocol as protocol
    from mogulsync.extract.airbyte import AirbyteSource

    try:
        raw = _read_json(config, "config")
    except ConfigError as exc:
        message = protocol.connection_status(ok=False, message=exc.user_message)
        typer.echo(protocol.encode(message))
        return
    raise typer.Exit(AirbyteSource(sys.stdout).check(raw))


@airbyte_app.command("discover")
def discover_command(config: Path = typer.Option(..., "--config", help=_CONFIG_HELP)) -> None:
    """Print the streams and their schemas (CATALOG)."""
    from mogulsync.extract.airbyte import AirbyteSource

    try:
        raw = _read_json(config, "config")
    except ConfigError as exc:
        raise _protocol_fail(exc) from None
    raise typer.Exit(AirbyteSource(sys.stdout).discover(raw))


@airbyte_app.command("read")
def read_command(
    config: Path = typer.Option(..., "--config", help=_CONFIG_HELP),
    catalog: Path = typer.Option(..., "--catalog", help="Configured catalog JSON."),
    state: Path | None = typer.Option(None, "--state", help="State JSON from an earlier read."),
) -> None:
    """Print RECORD, STATE, LOG and TRACE messages for the configured streams."""
    from mogulsync.extract.airbyte import AirbyteSource

    try:
        raw_config = _read_json(config, "config")
        raw_catalog = _read_json(catalog, "catalog")
        raw_state = _read_json(state, "state")
    except ConfigError as exc:
        raise _protocol_fail(exc) from None
    raise typer.Exit(AirbyteSource(sys.stdout).read(raw_config, raw_catalog, raw_state))

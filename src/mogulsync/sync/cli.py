"""``mogulsync check`` and ``mogulsync sync plan|run``: a thin layer over the sync library."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import typer

from mogulsync import exit_codes, logs, output
from mogulsync.cli_options import CONFIG_OPTION
from mogulsync.cli_syncs import missing_sync, require_sync, syncs_or_none
from mogulsync.errors import ConfigError, MogulsyncError
from mogulsync.messages import api_calls_phrase, describe
from mogulsync.output import LazyConsole, escape, interactive, key_label
from mogulsync.progress import ProgressLines, Snapshot, bar_text

if TYPE_CHECKING:
    from mogulsync.config import AppConfig
    from mogulsync.runs import RowError, RunRecord
    from mogulsync.sync.engine import Progress as RunProgress
    from mogulsync.sync.engine import ProgressHook, SyncEngine
    from mogulsync.sync.plan import SyncPlan

# Heavy modules (SQLAlchemy, httpx, the engine) are imported inside each command, so that
# `mogulsync sync --help` answers at once.

app = typer.Typer(help="Plan and run reverse-ETL syncs (warehouse → ChartMogul).")
_err = LazyConsole(stderr=True)
_out = LazyConsole()
#: failed rows printed after a run (all of them: ``runs show RUN_ID --errors``)
FAILED_SAMPLE = 5
#: project-file sections these commands read; unset ${ENV} elsewhere (e.g. events:) is fine
SECTIONS = (
    "chartmogul",
    "warehouses",
    "models",
    "syncs",
    "state_store",
    "sync_logs",
    "alerts",
)


def fail(error: MogulsyncError) -> NoReturn:
    """Print a clear message (never a traceback) and exit with the matching code."""
    from mogulsync.sync.state import SyncLockedError

    if isinstance(error, SyncLockedError):
        code = exit_codes.LOCKED
    else:
        code = exit_codes.CONFIG if isinstance(error, ConfigError) else exit_codes.FAILED
    output.error(describe(error), exit_code=code)
    raise typer.Exit(code)


def load(path: Path, *, mapping_problems: bool = False, writes_state: bool = True) -> AppConfig:
    """The project file, or a clean exit with every problem listed (``mapping_problems``:
    with those of the syncs the file's problems leave sound, for `check`)."""
    from mogulsync.config import ConfigValidationError, load_config

    # Retries are recorded in the run history; without this, Python's last-resort handler
    # prints every one of stamina's warnings over the progress bar.
    retries = logging.getLogger("stamina")
    if not retries.handlers:
        retries.addHandler(logging.NullHandler())
    try:
        return load_config(path, sections=SECTIONS, writes_state=writes_state)
    except ConfigValidationError as exc:
        if not mapping_problems:
            fail(exc)
        from mogulsync.sync.check import with_mapping_problems

        fail(with_mapping_problems(exc, path, SECTIONS))
    except MogulsyncError as exc:
        fail(exc)


def check(config: Path = CONFIG_OPTION) -> None:
    """Check the config, the API key, data sources and that every model compiles."""
    from mogulsync.config.loader import uncreatable
    from mogulsync.sync.check import check_project
    from mogulsync.sync.connect import client_settings

    project = load(config, mapping_problems=True, writes_state=False)
    results = asyncio.run(check_project(project, client_settings(project), config_path=config))
    for result in results:
        mark = "[green]ok[/green]  " if result.ok else "[red]FAIL[/red]"
        _out.print(f"{mark} {escape(result.subject)}: {escape(result.message)}", highlight=False)
    blocked = uncreatable(Path(project.state_dir))
    if blocked is not None:  # check itself writes nothing (a read-only CI checkout passes)
        _out.print(
            escape(f"warn state_dir: {project.state_dir} cannot be created ({blocked}):")
            + " sync, extract and serve will refuse to run here",
            highlight=False,
            style="yellow",
        )
    if not all(result.ok for result in results):
        raise typer.Exit(exit_codes.FAILED)


@app.command("plan")
def plan(
    # optional to the parser so that a missing name lists the project's syncs
    name: str | None = typer.Argument(
        None, metavar="NAME", help="Sync name from the project file."
    ),
    config: Path = CONFIG_OPTION,
    sample: int = typer.Option(5, min=0, help="Rows shown per kind of change."),
    as_json: bool = typer.Option(False, "--json", help="Print the plan as JSON."),
) -> None:
    """Dry run: count creates/updates/deletes/unchanged/invalid rows; writes nothing.

    Example: mogulsync sync plan customers --sample 10
    """
    from mogulsync.sync.connect import client_settings
    from mogulsync.sync.plan import plan_sync

    if name is None:
        missing_sync(syncs_or_none(config), "mogulsync sync plan NAME")
    project = load(config)
    require_sync(project, name)
    try:
        result = asyncio.run(plan_sync(project, name, client_settings(project), sample=sample))
    except MogulsyncError as exc:
        fail(exc)
    if as_json:
        typer.echo(json.dumps(result.as_dict(), default=str))
        return
    where = result.data_source_name
    where += f" ({result.data_source_uuid})" if result.data_source_uuid else " (not created yet)"
    # on its own line: as a table title it would wrap to the (narrow) table's width
    _out.print(
        escape(f"sync {name}: {result.mode} {result.object}s → data source {where}"),
        highlight=False,
        soft_wrap=True,
    )
    table = output.new_table(_out)
    table.add_column("change")
    table.add_column("rows", justify="right")
    table.add_column("sample")
    for category, count in result.counts.items():
        # a row invalid in two fields has two samples: name each row once
        keys = dict.fromkeys(key_label(item["key"]) for item in result.samples[category])
        samples = ", ".join(keys)
        table.add_row(category, str(count), escape(samples))
    output.print_table(_out, table)
    _print_plan_notes(result)
    for item in result.samples["invalid"]:
        _out.print(
            escape(f"  invalid {key_label(item['key'])} · {item['field']}: {item['message']}"),
            highlight=False,
        )


def _print_plan_notes(result: SyncPlan) -> None:
    """What the counts table does not say: bulk, data source, ignored rows, a refusal."""
    if result.bulk_creates:
        _out.print(
            f"{result.bulk_creates} create(s) would go through the bulk JSON import"
            " (those whose record already exists are sent over REST instead)."
        )
    if result.creates_data_source:
        _out.print(f"The data source `{result.data_source_name}` would be created.")
    if result.removed_ignored:
        _out.print(f"{result.removed_ignored} row(s) left the model (on_delete: ignore).")
    if result.kept:
        named = "; ".join(
            f"{item['record']} is now row {key_label(item['now'])}" for item in result.kept_samples
        )
        _out.print(
            escape(
                f"{result.kept} removed row(s)' record would be kept, not deleted (another row"
                f" of the model names it): {named}"
            ),
            highlight=False,
        )
    if result.deletes_refused:
        # as the run would end: failed, nothing deleted
        _out.print(
            escape(f"The run would be refused: {result.deletes_refused}"),
            style="red",
            highlight=False,
            soft_wrap=True,
        )
    if result.changes_ignored:
        _out.print(
            f"{result.changes_ignored} row(s) changed, but {result.mode} mode never updates"
            " records that already landed (counted as unchanged)."
        )


@app.command("run")
def run(
    name: str | None = typer.Argument(None, help="Sync name (or use --all)."),
    run_all: bool = typer.Option(False, "--all", help="Run every sync, parents first."),
    config: Path = CONFIG_OPTION,
    full: bool = typer.Option(False, "--full", help="Resend every row, not only changes."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON summary per sync."),
    no_bulk: bool = typer.Option(
        False, "--no-bulk", help="Send every row over REST (no bulk JSON import)."
    ),
    allow_deletes: bool = typer.Option(
        False,
        "--allow-deletes",
        help="This run may delete more records than the sync's max_deletes allows.",
    ),
) -> None:
    """Run a sync (or all of them) and record it in the run history.

    Examples: mogulsync sync run customers · mogulsync sync run --all --json
    """
    from mogulsync.runs import RunStatus
    from mogulsync.sync.engine import SyncEngine
    from mogulsync.sync.order import skip_reason

    if name is None and not run_all:
        missing_sync(syncs_or_none(config), "mogulsync sync run NAME (or --all)")
    project = load(config)
    names = _to_run(project, config, name, run_all=run_all)
    engine = SyncEngine(project)
    worst = exit_codes.SUCCESS
    ended: dict[str, RunStatus] = {}
    for each in names:
        skipped = skip_reason(project, each, ended)
        try:
            if skipped is not None:
                record = engine.skip(each, skipped)
            else:
                record = _run_one(
                    engine,
                    each,
                    full=full,
                    quiet=as_json,
                    bulk=not no_bulk,
                    allow_deletes=allow_deletes,
                )
        except MogulsyncError as exc:
            fail(exc)
        ended[each] = record.status
        code = _code(record)
        worst = max(worst, code, key=_severity)
        if logs.json_mode():  # log lines on stderr; --json's summary still on stdout
            _log_record(record, _failed_rows(project, record), code)
            if as_json:
                typer.echo(json.dumps(record.summary()))
        elif as_json:
            # Exactly the documented keys; why a run failed goes to stderr.
            typer.echo(json.dumps(record.summary()))
            _print_message(record)
        else:
            _print_record(record, _failed_rows(project, record))
    raise typer.Exit(worst)


def _to_run(project: AppConfig, config: Path, name: str | None, *, run_all: bool) -> list[str]:
    """The syncs ``sync run`` runs, in order; a usage error for a bad command line."""
    from mogulsync.sync.order import run_order

    if name is not None and run_all:
        output.error("give a sync name or --all (not both)", exit_code=exit_codes.USAGE)
        raise typer.Exit(exit_codes.USAGE)
    if name is not None:
        require_sync(project, name)
        return [name]
    try:
        names = run_order(project)
    except MogulsyncError as exc:
        fail(exc)
    if not names:  # silence would read as "it worked"
        output.warning(f"{config} has no syncs (syncs:): nothing to run")
    return names


def _log_record(record: RunRecord, failed: list[RowError], code: int) -> None:
    """``--log-format json``: the run's outcome, then a sample of its failed rows."""
    summary = {k: v for k, v in record.summary().items() if k != "run_id"}
    level = {"success": "info", "partial": "warning"}.get(record.status.value, "error")
    logs.emit(
        "run_finished",
        level=level,
        run_id=record.run_id,
        **summary,
        exit_code=code,
        message=record.message,
    )
    for error in failed:
        logs.emit(
            "row_error",
            level="warning",
            run_id=record.run_id,
            sync=record.sync,
            key=key_label(error.key),
            field=error.field,
            message=error.message,
            action=error.action,
        )
    logs.set_run(None)


def _print_message(record: RunRecord) -> None:
    """Why a run failed (labelled error) or was skipped, and its warnings (sync logs,
    alerts: not errors)."""
    from mogulsync.runs import RunStatus
    from mogulsync.sync.after_run import WARNING_PREFIX

    lines = (record.message or "").splitlines()
    first_warning = next(
        (i for i, line in enumerate(lines) if line.startswith(WARNING_PREFIX)), len(lines)
    )
    error = "\n".join(lines[:first_warning])
    if error and record.status is RunStatus.SKIPPED:  # not an error: its message says why
        _err.print(f"[yellow]{escape(record.sync)}: {escape(error)}[/yellow]", highlight=False)
    elif error:
        _err.print(f"[red]error:[/red] {escape(record.sync)}: {escape(error)}", highlight=False)
    for line in lines[first_warning:]:
        _err.print(f"{escape(record.sync)}: {escape(line)}", highlight=False)


def _failed_rows(project: AppConfig, record: RunRecord) -> list[RowError]:
    from mogulsync.runs import RunStore

    if not record.rows.failed:
        return []
    store = RunStore(project.state_dir)
    try:
        return store.errors(record.run_id, limit=FAILED_SAMPLE)
    finally:
        store.close()


def _run_one(
    engine: SyncEngine,
    name: str,
    *,
    full: bool,
    quiet: bool,
    bulk: bool = True,
    allow_deletes: bool = False,
) -> RunRecord:
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    def start(progress: ProgressHook | None = None) -> RunRecord:
        return asyncio.run(
            engine.run(name, full=full, bulk=bulk, allow_deletes=allow_deletes, progress=progress)
        )

    if logs.json_mode():  # JSON objects, even with --json (they go to stderr)
        events = ProgressLines(name, lambda _line, fields: logs.emit("progress", **fields))

        def log_event(progress: RunProgress) -> None:
            logs.set_run(progress.run_id)
            events.update(_snapshot(progress))

        return start(log_event)
    if quiet:
        return start()
    if not interactive(_err):  # a log file: a plain line every 10 s or 10 %
        lines = ProgressLines(name, lambda line, _fields: typer.echo(line, err=True))

        def log_line(progress: RunProgress) -> None:
            lines.update(_snapshot(progress))

        return start(log_line)
    columns = (
        TextColumn(f"[bold]{escape(name)}[/bold]"),
        BarColumn(),
        TextColumn("{task.fields[text]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=_err.get(), transient=True) as bar:
        task = bar.add_task(name, total=None, text="starting")

        def update(progress: RunProgress) -> None:
            total = progress.to_send or None  # None: an indeterminate bar until it is known
            text = bar_text(_snapshot(progress))
            bar.update(task, completed=progress.done, total=total, text=text)

        return start(update)


def _snapshot(progress: RunProgress) -> Snapshot:
    return Snapshot(
        read=progress.read,
        to_send=progress.to_send,
        done=progress.done,
        failed=progress.failed,
        requests=progress.requests,
    )


def _code(record: RunRecord) -> int:
    if record.error is not None and isinstance(record.error, ConfigError):
        return exit_codes.CONFIG
    return exit_codes.BY_STATUS[record.status]


def _severity(code: int) -> int:
    order = (
        exit_codes.SUCCESS,
        exit_codes.PARTIAL,
        exit_codes.FAILED,
        exit_codes.CONFIG,
        exit_codes.LOCKED,
    )
    return order.index(code) if code in order else len(order)


def _print_record(record: RunRecord, failed: list[RowError]) -> None:
    rows = record.rows
    colour = {"success": "green", "partial": "yellow"}.get(record.status.value, "red")
    _out.print(
        f"[{colour}]{record.status.value}[/{colour}] {record.sync} (run {record.run_id}):"
        f" {rows.added} added, {rows.changed} changed, {rows.removed} removed,"
        f" {rows.unchanged} unchanged → {rows.succeeded} succeeded, {rows.failed} failed;"
        f" {api_calls_phrase(record.api_calls)} in {record.duration_s:.1f}s",
        highlight=False,
    )
    if record.message:
        _out.print(f"  {escape(record.message)}", highlight=False)
    if rows.failed:
        invalid = f" ({rows.invalid} invalid before sending)" if rows.invalid else ""
        _out.print(f"  {rows.failed} failed row(s){invalid}, for example:", highlight=False)
        for error in failed:
            _out.print(
                escape(f"    {key_label(error.key)} · {error.field}: {error.message}"),
                highlight=False,
            )
        _out.print(f"  all of them: mogulsync runs show {record.run_id} --errors", highlight=False)

"""``mogulsync runs list|show``: the run history, row errors and the per-request log."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import typer

from mogulsync import exit_codes, output
from mogulsync.cli_options import CONFIG_OPTION
from mogulsync.cli_syncs import unknown_sync
from mogulsync.errors import MogulsyncError
from mogulsync.messages import describe
from mogulsync.output import LazyConsole, escape, interactive, key_label, plain_table

if TYPE_CHECKING:
    from mogulsync.chartmogul import RequestLogEntry
    from mogulsync.config import AppConfig
    from mogulsync.runs.deliveries import AlertDelivery
    from mogulsync.runs.models import RowError, RunRecord
    from mogulsync.runs.store import RunStore

app = typer.Typer(help="Inspect the run history: runs, row errors and API requests.")
_out = LazyConsole()
_CONFIG_EXIT = 4
_STATUS_COLOURS = {
    "success": "green",
    "partial": "yellow",
    "running": "cyan",
    "skipped": "yellow",
    "cancelled": "yellow",
}
_SYNC_WIDTH = 9
_RIGHT: dict[str, Literal["right"]] = {"calls": "right", "secs": "right"}
#: request and response bodies longer than this are cut in the table (``--json``: whole)
BODY_PREVIEW = 300
#: the run history needs only ``state_dir`` (always checked), so no section's ${ENV} is required
SECTIONS: tuple[str, ...] = ()


def _open(config: Path) -> tuple[AppConfig, RunStore]:
    from mogulsync.config import load_config
    from mogulsync.runs.store import RunStore

    try:
        project = load_config(config, sections=SECTIONS)
    except MogulsyncError as exc:
        output.error(describe(exc), exit_code=_CONFIG_EXIT)
        raise typer.Exit(_CONFIG_EXIT) from None
    try:
        return project, RunStore(project.state_dir)
    except MogulsyncError as exc:  # e.g. runs.sqlite is not a database
        output.error(describe(exc), exit_code=exit_codes.FAILED)
        raise typer.Exit(exit_codes.FAILED) from None


def _store(config: Path) -> RunStore:
    return _open(config)[1]


@app.command("list")
def list_runs(
    config: Path = CONFIG_OPTION,
    sync: str | None = typer.Option(None, help="Only runs of this sync."),
    limit: int = typer.Option(20, min=1, help="How many runs, newest first."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON lines."),
) -> None:
    """The latest runs, newest first.

    Example: mogulsync runs list --sync customers --limit 5
    """
    project, store = _open(config)
    try:
        records = store.latest(sync=sync, limit=limit)
    finally:
        store.close()
    if sync and not records and sync not in project.syncs:
        unknown_sync(project, sync, where="not in the project file and never run")
    if as_json:
        for record in records:
            typer.echo(json.dumps({**record.summary(), "started_at": record.started_at}))
        return
    if not records:  # an empty table alone reads as "something is broken"
        which = f" of sync {sync}" if sync else ""
        output.note(
            "no_runs",
            f"no runs{which} recorded yet in {Path(project.state_dir) / 'runs.sqlite'}:"
            f" `mogulsync sync run {sync or 'NAME'}` records one",
        )
    if not interactive(_out):
        _print_plain(records)
        return
    if not records:
        return
    from rich import box
    from rich.table import Table

    table = Table(
        title="runs, newest first (run id = UTC start time)",
        caption="rows: +added ~changed -removed =unchanged · sent: succeeded/failed",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    for column in ("run id", "sync", "status", "rows", "sent", "calls", "secs"):
        table.add_column(
            column,
            no_wrap=column != "sync",
            min_width=_SYNC_WIDTH if column == "sync" else None,
            justify=_RIGHT.get(column, "left"),
        )
    for r in records:
        rows = r.rows
        changes = f"+{rows.added} ~{rows.changed} -{rows.removed} ={rows.unchanged}"
        colour = _STATUS_COLOURS.get(r.status.value, "red")
        table.add_row(
            r.run_id, escape(r.sync), f"[{colour}]{r.status.value}[/{colour}]", changes,
            f"{rows.succeeded}/{rows.failed}", str(r.api_calls), f"{r.duration_s:.1f}",
        )  # fmt: skip
    _out.print(table)


@app.command("show")
def show(
    run_id: str = typer.Argument(..., help="Run id from `mogulsync runs list`."),
    config: Path = CONFIG_OPTION,
    errors: bool = typer.Option(False, "--errors", help="Show the row errors."),
    requests: bool = typer.Option(False, "--requests", help="Show every API request."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """One run, optionally with its row errors and its per-request log.

    Example: mogulsync runs show 20260101T120000-1a2b3c4d --errors
    """
    store = _store(config)
    try:
        try:
            record = store.get(run_id)
        except MogulsyncError as exc:  # a mistyped run id: a usage error (docs/errors.md)
            output.error(describe(exc), exit_code=exit_codes.USAGE, run_id=run_id)
            raise typer.Exit(exit_codes.USAGE) from None
        row_errors = store.errors(run_id) if errors else []
        deleted = store.errors_deleted(run_id) if errors else 0
        entries = list(store.requests(run_id)) if requests else []
        alerts = store.deliveries_of_run(run_id)
    finally:
        store.close()
    if as_json:
        typer.echo(
            json.dumps(
                {
                    **_json_body(
                        record,
                        row_errors if errors else None,
                        entries if requests else None,
                        deleted,
                    ),
                    "alerts": [delivery.as_dict() for delivery in alerts],
                }
            )
        )
        return
    _print_run(record)
    _print_alerts(alerts)
    if errors:
        _print_errors(row_errors, deleted)
    if requests:
        _print_requests(entries)


def _print_plain(records: list[RunRecord]) -> None:
    """Outside a terminal: one whitespace-separated line per run, never wrapped or cut."""
    header = ("run_id", "sync", "status", "rows", "sent", "calls", "secs")
    lines = [header]
    for r in records:
        rows = r.rows
        changes = f"+{rows.added}~{rows.changed}-{rows.removed}={rows.unchanged}"
        lines.append(
            (r.run_id, r.sync, r.status.value, changes, f"{rows.succeeded}/{rows.failed}",
             str(r.api_calls), f"{r.duration_s:.1f}")
        )  # fmt: skip
    typer.echo(plain_table(lines))


def _json_body(
    record: RunRecord,
    row_errors: list[RowError] | None,
    entries: list[RequestLogEntry] | None,
    errors_deleted: int = 0,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        **record.summary(),
        "started_at": record.started_at,
        "message": record.message,
    }
    if row_errors is not None:
        body["errors"] = [
            {"key": e.key, "field": e.field, "message": e.message, "action": e.action,
             "kind": e.kind} for e in row_errors
        ]  # fmt: skip
        body["errors_deleted"] = errors_deleted
    if entries is not None:
        body["requests"] = [
            {"method": r.method, "path": r.path, "status": r.status,
             "duration_ms": r.duration_ms, "attempt": r.attempt,
             "request_body": r.request_body, "response_body": r.response_body,
             "error_type": r.error_type, "timestamp": r.timestamp.isoformat()}
            for r in entries
        ]  # fmt: skip
    return body


def _print_run(record: RunRecord) -> None:
    rows = record.rows
    colour = _STATUS_COLOURS.get(record.status.value, "red")
    _out.print(
        f"run {record.run_id} · sync [bold]{record.sync}[/bold] ·"
        f" [{colour}]{record.status.value}[/{colour}]{' · --full' if record.full else ''}",
        highlight=False,
    )
    _out.print(
        f"  started {record.started_at[:19].replace('T', ' ')} UTC,"
        f" {record.duration_s:.1f}s, {record.api_calls} API calls",
        highlight=False,
    )
    _out.print(
        f"  rows: {rows.added} added, {rows.changed} changed, {rows.removed} removed,"
        f" {rows.unchanged} unchanged → {rows.succeeded} succeeded, {rows.failed} failed"
        f" ({rows.invalid} invalid before sending, {rows.failed - rows.invalid} rejected"
        " or not delivered)",
        highlight=False,
    )
    if record.message:
        _out.print(f"  [red]{escape(record.message)}[/red]", highlight=False)


def _print_alerts(alerts: list[AlertDelivery]) -> None:
    """Each alert sent about the run (a channel that was down: each later attempt too)."""
    for d in alerts:
        outcome = "[green]delivered[/green]" if d.delivered else "[red]failed[/red]"
        why = f": {escape(d.error)}" if d.error else ""
        _out.print(
            f"  alert {d.trigger} to {escape(d.channel)} ({escape(d.target)})"
            f" at {d.at[:19].replace('T', ' ')} UTC: {outcome}{why}",
            highlight=False,
        )


def deleted_errors_text(count: int) -> str:
    """What a run whose row errors the retention deleted shows in their place."""
    return (
        f"{count} row errors of this run were deleted: it is older than"
        " run_history.keep_errors_days (its counts stay); raise that setting to keep them longer"
    )


def _print_errors(row_errors: list[RowError], deleted: int = 0) -> None:
    if not row_errors and deleted:  # the run had some: "no row errors" would be a lie
        _out.print(deleted_errors_text(deleted), highlight=False)
        return
    if not row_errors:
        _out.print("no row errors")
        return
    if not interactive(_out):  # one line per error: a table would split words at 80 columns
        typer.echo(f"row errors ({len(row_errors)})")
        for e in row_errors:
            typer.echo(f"{key_label(e.key)} · {e.kind} · {e.field}: {e.message} → {e.action}")
        return
    from rich import box
    from rich.table import Table

    table = Table(title=f"row errors ({len(row_errors)})", box=box.SIMPLE_HEAD)
    for column in ("primary key", "kind", "field", "message", "what to do"):
        table.add_column(column, overflow="fold")
    for e in row_errors:
        cells = (key_label(e.key), e.kind, e.field, e.message, e.action)
        table.add_row(*(escape(text) for text in cells))
    _out.print(table)


def _print_requests(entries: list[RequestLogEntry]) -> None:
    """One line per HTTP attempt, bodies indented below it (a table cannot fit them)."""
    _out.print(f"[bold]requests ({len(entries)})[/bold]")
    for r in entries:
        outcome = str(r.status) if r.status is not None else (r.error_type or "no answer")
        _out.print(
            f"{r.timestamp.strftime('%H:%M:%S.%f')[:-3]} {r.method} {r.path} → {outcome}"
            f" · {r.duration_ms:.0f} ms · attempt {r.attempt}",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
        for label, body in (("request", r.request_body), ("response", r.response_body)):
            if body:
                _out.print(f"    {label}: {_preview(body)}", highlight=False, markup=False)


def _preview(body: str) -> str:
    if len(body) <= BODY_PREVIEW:
        return body
    return f"{body[:BODY_PREVIEW]}… ({len(body)} chars; --json shows all)"

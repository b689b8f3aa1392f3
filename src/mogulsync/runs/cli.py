"""``mogulsync runs list|show``: the run history, row errors and the per-request log."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from mogulsync.chartmogul import RequestLogEntry
from mogulsync.config import DEFAULT_CONFIG_PATH, load_config
from mogulsync.errors import MogulsyncError
from mogulsync.runs.models import RowError, RunRecord
from mogulsync.runs.store import RunStore

app = typer.Typer(help="Inspect the run history: runs, row errors and API requests.")
CONFIG_OPTION = typer.Option(
    DEFAULT_CONFIG_PATH, "-c", "--config", help="Project file (mogulsync.yml)."
)
_out = Console()
_err = Console(stderr=True)
_CONFIG_EXIT = 4


def _store(config: Path) -> RunStore:
    try:
        project = load_config(config)
    except MogulsyncError as exc:
        _err.print(f"[red]error:[/red] {exc.user_message}", highlight=False)
        raise typer.Exit(_CONFIG_EXIT) from None
    return RunStore(project.state_dir)


@app.command("list")
def list_runs(
    config: Path = CONFIG_OPTION,
    sync: str | None = typer.Option(None, help="Only runs of this sync."),
    limit: int = typer.Option(20, help="How many runs, newest first."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON lines."),
) -> None:
    """The latest runs, newest first."""
    store = _store(config)
    try:
        records = store.latest(sync=sync, limit=limit)
    finally:
        store.close()
    if as_json:
        for record in records:
            typer.echo(json.dumps({**record.summary(), "started_at": record.started_at}))
        return
    table = Table(title="runs (rows: +added ~changed -removed =unchanged)")
    for column in ("run id", "sync", "status", "started (UTC)", "rows", "ok", "failed",
                   "calls", "s"):  # fmt: skip
        table.add_column(column, no_wrap=column in ("run id", "status"))
    for r in records:
        rows = r.rows
        changes = f"+{rows.added} ~{rows.changed} -{rows.removed} ={rows.unchanged}"
        table.add_row(
            r.run_id, r.sync, r.status.value, r.started_at[:19].replace("T", " "), changes,
            str(rows.succeeded), str(rows.failed), str(r.api_calls), f"{r.duration_s:.1f}",
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
    """One run, optionally with its row errors and its per-request log."""
    store = _store(config)
    try:
        try:
            record = store.get(run_id)
        except MogulsyncError as exc:
            _err.print(f"[red]error:[/red] {exc.user_message}", highlight=False)
            raise typer.Exit(_CONFIG_EXIT) from None
        row_errors = store.errors(run_id) if errors else []
        entries = list(store.requests(run_id)) if requests else []
    finally:
        store.close()
    if as_json:
        typer.echo(
            json.dumps(
                _json_body(record, row_errors if errors else None, entries if requests else None)
            )
        )
        return
    _out.print_json(json.dumps({**record.summary(), "message": record.message}))
    if errors:
        _print_errors(row_errors)
    if requests:
        _print_requests(entries)


def _json_body(
    record: RunRecord,
    row_errors: list[RowError] | None,
    entries: list[RequestLogEntry] | None,
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
    if entries is not None:
        body["requests"] = [
            {"method": r.method, "path": r.path, "status": r.status,
             "duration_ms": r.duration_ms, "attempt": r.attempt,
             "request_body": r.request_body, "response_body": r.response_body,
             "error_type": r.error_type, "timestamp": r.timestamp.isoformat()}
            for r in entries
        ]  # fmt: skip
    return body


def _print_errors(row_errors: list[RowError]) -> None:
    table = Table(title=f"row errors ({len(row_errors)})")
    for column in ("primary key", "field", "message", "what to do"):
        table.add_column(column, overflow="fold")
    for e in row_errors:
        table.add_row(e.key, e.field, e.message, e.action)
    _out.print(table)


def _print_requests(entries: list[RequestLogEntry]) -> None:
    table = Table(title=f"requests ({len(entries)})")
    for column in ("time", "method", "path", "status", "ms", "try", "request", "response"):
        table.add_column(column, overflow="fold")
    for r in entries:
        table.add_row(
            r.timestamp.strftime("%H:%M:%S.%f")[:-3], r.method, r.path,
            str(r.status or r.error_type), f"{r.duration_ms:.0f}", str(r.attempt),
            r.request_body or "", r.response_body or "",
        )  # fmt: skip
    _out.print(table)

"""``mogulsync reconcile NAME [--json] [--adopt]``: a thin layer over :func:`reconcile`."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from mogulsync import exit_codes, output
from mogulsync.cli_options import CONFIG_OPTION
from mogulsync.cli_syncs import missing_sync, require_sync, syncs_or_none
from mogulsync.errors import MogulsyncError
from mogulsync.output import LazyConsole, escape

if TYPE_CHECKING:
    from mogulsync.reconcile.report import ReconcileReport

# The reconcile engine (SQLAlchemy, httpx) is imported when the command runs, so that
# `mogulsync reconcile --help` answers at once.
_out = LazyConsole()


def reconcile_command(
    # optional to the parser so that a missing name lists the project's syncs
    name: str | None = typer.Argument(
        None, metavar="NAME", help="Sync name from the project file."
    ),
    config: Path = CONFIG_OPTION,
    adopt: bool = typer.Option(
        False,
        "--adopt",
        help="Rebuild the sync's state from what ChartMogul holds, so the next run sends"
        " only the missing and drifted rows.",
    ),
    record: bool = typer.Option(
        False,
        "--record",
        help="Record the result in the run history as `reconcile:NAME` and send the drift"
        " alerts of alerts.rules[].drift (the drift watch; `mogulsync serve` always records).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the result as one JSON object."),
) -> None:
    """Compare a sync's model with ChartMogul; --adopt takes over existing records.

    Exit 0 when ChartMogul matches the warehouse, 3 when anything differs.

    Examples: mogulsync reconcile customers · mogulsync reconcile customers --adopt
    """
    from mogulsync.reconcile.runner import reconcile
    from mogulsync.sync.cli import fail, load

    if name is None:
        missing_sync(syncs_or_none(config), "mogulsync reconcile NAME")
    project = load(config)
    require_sync(project, name)
    try:
        report = asyncio.run(reconcile(project, name, adopt=adopt, record=record))
    except MogulsyncError as exc:
        fail(exc)
    for warning in report.warnings:
        output.warning(warning, sync=name, run_id=report.run_id)
    if as_json:
        typer.echo(json.dumps(report.summary(), default=str))
    else:
        _print(report)
    raise typer.Exit(exit_codes.PARTIAL if report.differs else exit_codes.SUCCESS)


def _print(report: ReconcileReport) -> None:
    table = output.new_table(_out, title=f"reconcile {report.sync}")
    table.add_column("records")
    table.add_column("count", justify="right")
    table.add_column("sample")
    samples = {
        "missing": ", ".join(report.missing_samples),
        "extra": ", ".join(str(s["external_id"] or s["uuid"]) for s in report.extra_samples),
        "drifted": ", ".join(str(s["key"]) for s in report.drifted_samples),
    }
    for label, count in (
        ("in both", report.in_both),
        ("drifted", report.drifted),
        ("missing", report.missing),
        ("extra", report.extra),
        ("invalid", report.invalid),
    ):
        table.add_row(label, str(count), escape(samples.get(label, "")))
    output.print_table(_out, table)
    for field, count in sorted(report.fields.items()):
        example = next((s for s in report.drifted_samples if field in s["changes"]), None)
        detail = ""
        if example is not None:
            change = example["changes"][field]
            detail = f" (e.g. {example['key']}: {change['before']!r} → {change['after']!r})"
        _out.print(escape(f"  {field}: {count} drifted{detail}"), highlight=False)
    _out.print(f"{report.api_calls} API calls in {report.duration_s:.1f}s", highlight=False)
    if report.adopted:
        _out.print(
            f"Adopted (run {report.run_id}): the next `mogulsync sync run {report.sync}` sends"
            f" {report.missing} create(s) and {report.drifted} update(s).",
            highlight=False,
        )
    elif report.run_id is not None:  # --record: say where it went, as `sync run` does
        _out.print(
            f"Recorded as run {report.run_id} of reconcile:{report.sync}"
            f" (`mogulsync runs show {report.run_id}`).",
            highlight=False,
        )

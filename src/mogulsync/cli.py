"""The ``mogulsync`` command line: a thin Typer layer over the library API.

Each area owns its sub-application (``mogulsync.<area>.cli``); this module only mounts them.
"""

from __future__ import annotations

import logging
from pathlib import Path

import typer

from mogulsync import __version__
from mogulsync.alerts.cli import app as alerts_app
from mogulsync.emulator.cli import app as emulator_app
from mogulsync.events.cli import app as events_app
from mogulsync.extract.cli import airbyte_app
from mogulsync.extract.cli import app as extract_app
from mogulsync.reconcile.cli import reconcile_command
from mogulsync.runs.cli import app as runs_app
from mogulsync.serve.cli import schedule_command, serve_command
from mogulsync.sync.cli import app as sync_app
from mogulsync.sync.cli import check as check_command

app = typer.Typer(
    name="mogulsync",
    help="Move data between your warehouse, your event stream and ChartMogul.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,  # locals may hold API keys
)
app.add_typer(emulator_app, name="emulator")
app.add_typer(sync_app, name="sync")
app.add_typer(runs_app, name="runs")
app.command("check")(check_command)
app.add_typer(events_app, name="events")
app.add_typer(extract_app, name="extract")
app.add_typer(airbyte_app, name="airbyte")
app.add_typer(alerts_app, name="alerts")
app.command("reconcile")(reconcile_command)


@app.command("init")
def init(
    warehouse: str | None = typer.Option(
        None, "--warehouse", help="Warehouse URL (duckdb:///file.duckdb, postgresql://...)."
    ),
    config: Path = typer.Option(Path("mogulsync.yml"), "-c", "--config", help="File to write."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing file."),
) -> None:
    """Write a commented starter project file (mogulsync.yml)."""
    from mogulsync.config.starter import run_init

    run_init(config, warehouse, force=force)


app.command("serve")(serve_command)
app.command("schedule")(schedule_command)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"mogulsync {__version__}")
        raise typer.Exit


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", help="Print the version and exit.", callback=_version_callback
    ),
) -> None:
    """Move data between your warehouse, your event stream and ChartMogul."""


def main() -> None:
    """Console-script entry point."""
    # Retries are reported in run history and request logs; the retry library's own
    # per-attempt warnings would otherwise land on stderr through logging's last resort.
    logging.getLogger("stamina").setLevel(logging.ERROR)
    app()

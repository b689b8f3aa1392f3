"""The ``mogulsync`` command line: a thin Typer layer over the library API.

Each area owns its sub-application (``mogulsync.<area>.cli``); this module only names them.
Nothing heavy is imported here: a command's module is imported when that command runs (or
shows its own help), so ``mogulsync --help`` answers at once. To add a command, add one line
to ``_Commands.lazy``: ``"name": ("module:attribute", "one-line help")``, where the attribute
is a ``typer.Typer`` (a group) or a command function. Keep heavy imports in that module
inside the functions that need them (``tests/unit/test_cli_imports.py`` checks it).
"""

from __future__ import annotations

import logging
import os
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, NoReturn

import typer
from typer._click.exceptions import ClickException
from typer.exceptions import Abort

from mogulsync import _quick_exit as quick_exit
from mogulsync import cli_options, logs
from mogulsync._lean_imports import skip_httpx_cli
from mogulsync.cli_lazy import LazyGroup


class _Commands(LazyGroup):
    lazy: ClassVar[dict[str, tuple[str, str]]] = {
        "check": (
            "mogulsync.sync.cli:check",
            "Check the config, the API key, data sources and that every model compiles.",
        ),
        "sync": (
            "mogulsync.sync.cli:app",
            "Plan and run reverse-ETL syncs (warehouse → ChartMogul).",
        ),
        "runs": (
            "mogulsync.runs.cli:app",
            "Inspect the run history: runs, row errors and API requests.",
        ),
        "extract": (
            "mogulsync.extract.cli:app",
            "Extract ChartMogul into a warehouse (DuckDB, PostgreSQL, ... via dlt).",
        ),
        "events": (
            "mogulsync.events.cli:app",
            "Receive Segment identify/group calls and forward them to ChartMogul.",
        ),
        "airbyte": (
            "mogulsync.extract.cli:airbyte_app",
            "The Airbyte source protocol, compatible with Airbyte's source-chartmogul config.",
        ),
        "alerts": (
            "mogulsync.alerts.cli:app",
            "Alerts after sync runs (Slack, webhook, PagerDuty, e-mail, SMS).",
        ),
        "init": (
            "mogulsync.config.cli:init_command",
            "Write a commented starter project file (mogulsync.yml).",
        ),
        "reconcile": (
            "mogulsync.reconcile.cli:reconcile_command",
            "Compare a sync's model with ChartMogul; --adopt takes over existing records.",
        ),
        "serve": (
            "mogulsync.serve.cli:serve_command",
            "Run the scheduler, the HTTP API, the web UI and the events endpoints on one port.",
        ),
        "schedule": (
            "mogulsync.serve.cli:schedule_command",
            "List each scheduled sync (and the extract) with its schedule and next run.",
        ),
        "emulator": (
            "mogulsync.emulator.cli:app",
            "A local ChartMogul API emulator for demos, tests and benchmarks.",
        ),
    }
    # Servers end as Python ends; every other command skips the teardown (cli_lazy.py).
    long_running: ClassVar[frozenset[str]] = frozenset({"serve", "events serve", "emulator serve"})

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        argv = list(sys.argv[1:] if args is None else args)
        if not standalone_mode or not logs.requested(argv, os.environ):
            return super().main(
                argv, prog_name, complete_var, standalone_mode, windows_expand_args, **extra
            )
        # --log-format json: click would print usage errors, and Python a crash, as text
        logs.configure(logs.LogFormat.JSON)
        try:
            code = super().main(argv, prog_name, complete_var, False, windows_expand_args, **extra)
        except ClickException as exc:
            _exit_json("usage_error", exc.format_message(), exc.exit_code)
        except Abort:
            _exit_json("aborted", "aborted", 1)
        except Exception as exc:
            logs.emit(
                "crash",
                level="critical",
                message=f"{type(exc).__name__}: {exc}",
                error_type=type(exc).__name__,
                traceback="".join(traceback.format_exception(exc)),
                exit_code=1,
            )
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)


def _exit_json(kind: str, message: str, code: int) -> NoReturn:
    logs.emit("error", level="error", message=message, kind=kind, exit_code=code)
    sys.exit(code)


# "\b" keeps click from re-wrapping the block that follows it
_EPILOG = (
    "\b\nExamples:\n"
    "  mogulsync check\n"
    "  mogulsync sync plan customers\n"
    "  mogulsync -c prod.yml sync run --all\n"
    "  mogulsync runs list --sync customers\n\n"
    "Exit codes: 0 success, 1 failed, 2 usage error, 3 partial, 4 configuration, 5 locked."
)

app = typer.Typer(
    cls=_Commands,
    name="mogulsync",
    help="Move data between your warehouse, your event stream and ChartMogul.",
    epilog=_EPILOG,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,  # locals may hold API keys
    # help uses a wide terminal (up to 120 columns), not only 80
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 120},
    # Plain help and usage errors: Typer's Rich formatting costs ~0.25 s of imports on every
    # `--help`, and plain text reads the same in a terminal, a pipe or a CI log.
    rich_markup_mode=None,
)


def _version_callback(value: bool) -> None:
    if value:
        from mogulsync import __version__

        typer.echo(f"mogulsync {__version__}")
        raise typer.Exit


@app.callback()
def _root(
    config: Path | None = typer.Option(
        None,
        "-c",
        "--config",
        help="Project file for the command that follows (as git's -C); a command's own"
        " --config wins.",
        show_default="mogulsync.yml",
    ),
    log_format: logs.LogFormat = typer.Option(
        logs.LogFormat.TEXT,
        "--log-format",
        envvar=logs.LOG_FORMAT_ENV,
        case_sensitive=False,
        help="json: every line on stderr is one JSON object (ts, level, event, run_id), for"
        " log shippers; results on stdout are unchanged.",
    ),
    version: bool = typer.Option(  # noqa: ARG001 - its callback prints and exits
        False, "--version", help="Print the version and exit.", callback=_version_callback
    ),
) -> None:
    """Move data between your warehouse, your event stream and ChartMogul."""
    cli_options.set_global(config=config)
    logs.configure(log_format)


def main() -> None:
    """Console-script entry point."""
    # Retries are reported in run history and request logs; the retry library's own
    # per-attempt warnings would otherwise land on stderr through logging's last resort.
    logging.getLogger("stamina").setLevel(logging.ERROR)
    logs.own_process()
    skip_httpx_cli()
    quick_exit.run_entry_point(lambda: app(prog_name="mogulsync"))

"""``python -m mogulsync.extract spec|check|discover|read ...``: the Airbyte source alone.

A lean entry point for Airbyte images: it loads neither dlt nor the other command groups,
so the connector starts in a fraction of the time the full ``mogulsync`` CLI takes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mogulsync import _quick_exit as quick_exit
from mogulsync import logs
from mogulsync._lean_imports import skip_httpx_cli
from mogulsync.extract.cli import airbyte_app

if TYPE_CHECKING:
    from typer import _click

#: how the help and usage errors name the command: what the user typed
PROG_NAME = "python -m mogulsync.extract"


def command() -> _click.Command:
    """The Airbyte commands as `mogulsync airbyte` shows them: `-h` answers, plain help, no
    shell-completion options (the group alone, as `mogulsync` mounts it)."""
    import typer

    from mogulsync.cli_lazy import plain_help

    group = typer.main.get_group(airbyte_app)
    group.context_settings = {**group.context_settings, "help_option_names": ["-h", "--help"]}
    group.no_args_is_help = True
    plain_help(group)
    return group


if __name__ == "__main__":
    logs.own_process()  # stdout is the Airbyte protocol: nothing else may print there
    skip_httpx_cli()
    # every Airbyte command is one-shot: none needs the interpreter's teardown at the end
    quick_exit.run_entry_point(lambda: command()(prog_name=PROG_NAME), one_shot=True)

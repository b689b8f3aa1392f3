"""Usage lines as the docs write them, and no completion options on single commands."""

from __future__ import annotations

import pytest
import typer.main
from typer.testing import CliRunner

from mogulsync import cli_options
from mogulsync.cli import app
from mogulsync.cli_lazy import command_paths

PATHS = command_paths(typer.main.get_command(app))
_WIDE = {"COLUMNS": "200"}


@pytest.mark.parametrize("path", PATHS, ids=lambda path: " ".join(path) or "root")
def test_help_has_no_template_braces_nor_completion_options(path: tuple[str, ...]) -> None:
    """`[OPTIONS] {name}` read like an unfilled template; `mogulsync check -h` offered
    `--install-completion`, which the root command does not have."""
    result = CliRunner().invoke(app, [*path, "-h"], env=_WIDE)
    usage = result.output.splitlines()[0]
    assert "{" not in usage, usage
    assert "--install-completion" not in result.output
    assert "--show-completion" not in result.output
    # one occurrence's value, not Python's type of the whole list or click's range type
    assert "<list[" not in result.output
    assert " range>" not in result.output


def test_arguments_read_as_in_the_docs() -> None:
    show = CliRunner().invoke(app, ["runs", "show", "-h"], env=_WIDE)
    assert show.output.startswith("Usage: mogulsync runs show [OPTIONS] RUN_ID\n")
    assert "  RUN_ID <str>  Run id" in show.output
    run = CliRunner().invoke(app, ["sync", "run", "-h"], env=_WIDE)
    assert run.output.startswith("Usage: mogulsync sync run [OPTIONS] [NAME]\n")


@pytest.mark.parametrize("path", PATHS, ids=lambda path: " ".join(path) or "root")
def test_every_project_file_option_follows_the_global_one(path: tuple[str, ...]) -> None:
    """A command's own `-c` defaults to `mogulsync -c FILE` (serve and schedule did not)."""
    command = typer.main.get_command(app)
    ctx = typer.Context(command)
    for name in path:
        command = command.get_command(ctx, name)  # type: ignore[attr-defined]
        ctx = typer.Context(command, parent=ctx)
    options = [p for p in command.params if "-c" in p.opts] if path else []
    for option in options:
        assert option.default is cli_options.default_config, path

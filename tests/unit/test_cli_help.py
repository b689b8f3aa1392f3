"""Help text: `-h` everywhere, no `<bool>` after flags, defaults and examples shown."""

from __future__ import annotations

import pytest
import typer.main
from typer.testing import CliRunner

from mogulsync.cli import _Commands, app
from mogulsync.cli_lazy import command_paths, load_command

PATHS = command_paths(typer.main.get_command(app))
_WIDE = {"COLUMNS": "200"}


@pytest.mark.parametrize("path", PATHS, ids=lambda path: " ".join(path) or "root")
def test_short_help_flag_and_no_bool_placeholder(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(app, [*path, "-h"], env=_WIDE)
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output
    assert "<bool>" not in result.output


def test_listing_matches_each_command_help() -> None:
    """The root listing (kept in cli.py, without importing) says what each command says."""
    for name, (target, summary) in _Commands.lazy.items():
        real = load_command(name, target)
        assert (real.help or "").splitlines()[0] == summary, name


def test_events_serve_help_shows_defaults_without_stray_space() -> None:
    result = CliRunner().invoke(app, ["events", "serve", "--help"], env=_WIDE)
    assert "listen on ." not in result.output
    assert "TCP port ." not in result.output
    assert "127.0.0.1" in result.output
    assert "8790" in result.output


@pytest.mark.parametrize(
    ("path", "example"),
    [
        ((), "mogulsync sync plan customers"),
        (("sync", "plan"), "mogulsync sync plan customers"),
        (("runs", "list"), "mogulsync runs list --sync customers"),
        (("extract", "run"), "mogulsync extract run --streams"),
        (("emulator", "serve"), "mogulsync emulator serve --port"),
    ],
)
def test_help_has_examples(path: tuple[str, ...], example: str) -> None:
    result = CliRunner().invoke(app, [*path, "--help"], env=_WIDE)
    assert example in result.output


def test_root_help_names_the_global_config_and_exit_codes() -> None:
    result = CliRunner().invoke(app, ["--help"], env=_WIDE)
    assert "-c" in result.output
    assert "2 usage error" in result.output


def test_a_group_without_a_command_lists_its_commands() -> None:
    result = CliRunner().invoke(app, ["sync"], env=_WIDE)
    assert "plan" in result.output
    assert "run" in result.output
    assert "Missing command" not in result.output

"""Options every command shares: the project file, also given before the sub-command (as
git's ``-C``). Light on purpose: every command module imports it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer


class _Global:
    """What the options before the sub-command chose (reset on every invocation)."""

    config: Path | None = None


def set_global(*, config: Path | None) -> None:
    """Record ``mogulsync -c FILE <command>`` for the command that follows."""
    _Global.config = config


def default_config() -> Path:
    """The project file when the command has no ``-c``: the global ``-c``, or mogulsync.yml."""
    if _Global.config is not None:
        return _Global.config
    from mogulsync.config.loader import DEFAULT_CONFIG_PATH

    return DEFAULT_CONFIG_PATH


def config_option(help_text: str = "Project file (mogulsync.yml).") -> Any:
    """``-c/--config`` for one command; without it, the global ``-c`` or mogulsync.yml."""
    return typer.Option(
        default_config,
        "-c",
        "--config",
        help=help_text,
        show_default="mogulsync.yml, or `mogulsync -c FILE`",
    )


CONFIG_OPTION = config_option()

"""Options every command shares: the project file (also given before the sub-command, as
git's ``-C``) and the log format. Light on purpose: every command module imports it.
"""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Any

import typer

#: the environment variable that selects the log format (as ``--log-format`` does)
LOG_FORMAT_ENV = "MOGULSYNC_LOG_FORMAT"


class LogFormat(enum.StrEnum):
    """``text``: for people; ``json``: one object per line, for log shippers."""

    TEXT = "text"
    JSON = "json"


class _Global:
    """What the options before the sub-command chose (reset on every invocation)."""

    config: Path | None = None
    log_format: LogFormat = LogFormat.TEXT


def set_global(*, config: Path | None, log_format: LogFormat) -> None:
    """Record ``mogulsync -c FILE --log-format F <command>`` for the command that follows."""
    _Global.config = config
    _Global.log_format = log_format


def log_format() -> LogFormat:
    """The chosen log format."""
    return _Global.log_format


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

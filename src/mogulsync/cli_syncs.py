"""A sync name typed on the command line that the project file does not know.

It is most likely a typo, so it is a usage error (exit 2, docs/errors.md) with the closest
known name, whichever command met it (``sync plan|run``, ``reconcile``, ``runs list --sync``).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import typer

from mogulsync import exit_codes, output
from mogulsync.errors import MogulsyncError

if TYPE_CHECKING:
    from mogulsync.config import AppConfig


def require_sync(project: AppConfig, name: str) -> None:
    """Return when ``name`` is a sync of the project file; else exit 2 naming the known ones."""
    if name not in project.syncs:
        unknown_sync(project, name, where="not in the project file")


def unknown_sync(project: AppConfig, name: str, *, where: str) -> NoReturn:
    """``unknown sync 'x': <where>. Did you mean `y`?`` and the known syncs; exit 2."""
    known = ", ".join(sorted(project.syncs)) or "none"
    close = difflib.get_close_matches(name, list(project.syncs), n=1)
    guess = f" Did you mean `{close[0]}`?" if close else ""
    output.error(
        f"unknown sync {name!r}: {where}.{guess}\n  → Syncs in the project file: {known}.",
        exit_code=exit_codes.USAGE,
    )
    raise typer.Exit(exit_codes.USAGE)


def missing_sync(syncs: Iterable[str] | None, usage: str) -> NoReturn:
    """No sync name on a command that needs one: the usage and the project's syncs (None:
    the project file could not be read); exit 2."""
    listed = sorted(syncs) if syncs is not None else None
    if listed is None:
        known = ""
    else:
        names = ", ".join(listed) or "none (add one under syncs:)"
        known = f"\n  → Syncs in the project file: {names}."
    output.error(f"give a sync name: {usage}{known}", exit_code=exit_codes.USAGE)
    raise typer.Exit(exit_codes.USAGE)


def syncs_or_none(config: Path) -> list[str] | None:
    """The project file's sync names, or None when it cannot be read (a usage error is
    reported either way; the file's own problems come with the next command)."""
    from mogulsync.config import load_config

    try:
        return list(load_config(config, sections=("syncs",), writes_state=False).syncs)
    except MogulsyncError:
        return None

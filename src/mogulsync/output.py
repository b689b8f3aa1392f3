"""Output that works both in a terminal and in a log file (cron, CI, systemd)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console


def interactive(console: Console) -> bool:
    """A person is watching: the console writes to a terminal (not a pipe or a file)."""
    return console.is_terminal


def plain_table(rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns separated by two spaces, never wrapped: easy to grep and cut.

    Spaces inside a cell would split it for ``awk``; they become underscores.
    """
    cells = [[cell.replace(" ", "_") or "-" for cell in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(cells[0]))] if cells else []
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in cells
    )


#: how a row whose primary key is null (or empty) is named in errors, samples and tables
NULL_KEY = "(primary key is null)"


def key_label(key: object) -> str:
    """A row's primary key for people: never an empty string or ``''``."""
    text = "" if key is None else str(key)
    return text if text.strip() else NULL_KEY

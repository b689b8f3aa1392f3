"""Output that works both in a terminal and in a log file (cron, CI, systemd)."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from rich.console import Console


#: the width tables are laid out to when no terminal is attached (and COLUMNS is not set)
NO_TERMINAL_WIDTH = 200


class _HasTerminal(Protocol):
    @property
    def is_terminal(self) -> bool: ...


class LazyConsole:
    """A Rich console made (and Rich imported, ~0.1 s) on first use, not when a command's
    module is imported: `mogulsync sync --help` never prints through it."""

    def __init__(self, *, stderr: bool = False) -> None:
        self._stderr = stderr
        self._console: Console | None = None

    def get(self) -> Console:
        """The console itself (for Rich objects that need one, e.g. a progress bar)."""
        if self._console is None:
            from rich.console import Console

            if self.is_terminal:
                self._console = Console(stderr=self._stderr)
            else:
                # A log file has no width: never wrap a line, and lay tables out wide
                # (Rich would assume 80 columns and split words); COLUMNS still wins.
                width = int(os.environ.get("COLUMNS") or NO_TERMINAL_WIDTH)
                self._console = Console(stderr=self._stderr, soft_wrap=True, width=width)
        return self._console

    def print(self, *objects: Any, **options: Any) -> None:
        """``Console.print``."""
        self.get().print(*objects, **options)

    @property
    def is_terminal(self) -> bool:
        """Whether it writes to a terminal (asked of the stream: no need to import Rich)."""
        if self._console is not None:
            return self._console.is_terminal
        stream = sys.stderr if self._stderr else sys.stdout
        isatty = getattr(stream, "isatty", None)
        return bool(isatty and isatty())


def escape(text: str) -> str:
    """Rich's markup escape, imported when first needed."""
    from rich.markup import escape as rich_escape

    return rich_escape(text)


def interactive(console: _HasTerminal) -> bool:
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

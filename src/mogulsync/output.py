"""Output that works both in a terminal and in a log file (cron, CI, systemd).

Messages for people go to stderr through ``error``, ``warning`` and ``note``: a line of text,
or under ``--log-format json`` one JSON object (``logs.emit``). Results (tables, ``--json``)
go to stdout and are the same in both modes.
"""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

from mogulsync import logs

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table


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
        """``Console.print``; on stderr under ``--log-format json``, a ``message`` object
        (a line no command turned into a JSON event itself must not break the format)."""
        if self._stderr and logs.json_mode():
            logs.emit("message", message=_plain(objects, markup=options.get("markup", True)))
            return
        self.get().print(*objects, **options)

    @property
    def is_terminal(self) -> bool:
        """Whether it writes to a terminal (asked of the stream: no need to import Rich)."""
        if self._console is not None:
            return self._console.is_terminal
        stream = sys.stderr if self._stderr else sys.stdout
        isatty = getattr(stream, "isatty", None)
        return bool(isatty and isatty())


def _plain(objects: Sequence[Any], *, markup: bool) -> str:
    """What ``Console.print`` would show, without colours or markup."""
    import io

    from rich.console import Console

    buffer = io.StringIO()
    Console(file=buffer, width=NO_TERMINAL_WIDTH, soft_wrap=True, markup=markup).print(*objects)
    return buffer.getvalue().rstrip("\n")


_STDERR = LazyConsole(stderr=True)


def error(message: str, **fields: Any) -> None:
    """``error: MESSAGE`` on stderr, or an ``error`` JSON object with ``fields`` (e.g.
    ``exit_code``)."""
    if logs.json_mode():
        logs.emit("error", level="error", message=message, **fields)
    else:
        _STDERR.print(f"[red]error:[/red] {escape(message)}", highlight=False)


def warning(message: str, **fields: Any) -> None:
    """``warning: MESSAGE`` on stderr, or a ``warning`` JSON object."""
    if logs.json_mode():
        logs.emit("warning", level="warning", message=message, **fields)
    else:
        _STDERR.print(f"[yellow]warning:[/yellow] {escape(message)}", highlight=False)


def note(event: str, text: str, **fields: Any) -> None:
    """A line for people on stderr (a server's address, a stage), or an ``event`` JSON
    object with ``message`` and ``fields``."""
    if logs.json_mode():
        logs.emit(event, message=text, **fields)
    else:
        _STDERR.print(text, highlight=False, markup=False)


def escape(text: str) -> str:
    """Rich's markup escape, imported when first needed."""
    from rich.markup import escape as rich_escape

    return rich_escape(text)


def interactive(console: _HasTerminal) -> bool:
    """A person is watching: the console writes to a terminal (not a pipe or a file)."""
    return console.is_terminal


def new_table(console: _HasTerminal, *, title: str | None = None, **options: Any) -> Table:
    """A Rich table for ``console``: boxed with its title in a terminal; outside one (cron,
    CI, a pipe) plain columns with a header and no title, no box-drawing characters, so
    ``grep`` and ``awk`` read it (the console is wide there: lines are not cut)."""
    from rich.table import Table

    if interactive(console):
        return Table(title=title, **options)
    return Table(box=None, pad_edge=False, **options)


#: the width a table is laid out in outside a terminal: wider than any row, so none wraps
_UNWRAPPED_WIDTH = 100_000


def print_table(console: LazyConsole, table: Table) -> None:
    """Print a :func:`new_table`; outside a terminal without the spaces Rich pads the last
    column with (a log line should end where its text does)."""
    if interactive(console):
        console.print(table)
        return
    from rich.console import Console

    rich_console = console.get()
    # laid out as wide as its content: a long cell (a plan's sample keys) stays on its line
    layout = Console(
        file=io.StringIO(),
        width=_UNWRAPPED_WIDTH,
        color_system=rich_console.color_system,  # type: ignore[arg-type]
        soft_wrap=True,
    )
    with layout.capture() as captured:
        layout.print(table)
    lines = [line.rstrip() for line in captured.get().splitlines()]
    rich_console.print("\n".join(lines), markup=False, highlight=False)


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


#: how an empty key is shown. Row errors name a null-key row ``row N (primary key is null)``
#: (``sync.batch.null_key_label``); this covers keys recorded empty by earlier versions.
NULL_KEY = "(primary key is null)"


def key_label(key: object) -> str:
    """A row's primary key for people: never an empty string or ``''``."""
    text = "" if key is None else str(key)
    return text if text.strip() else NULL_KEY

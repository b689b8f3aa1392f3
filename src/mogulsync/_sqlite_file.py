"""A clear error, not a traceback, when one of the project's SQLite files cannot be read."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from mogulsync.errors import FatalError


@contextmanager
def readable_database(path: Path, what: str) -> Iterator[None]:
    """Turn SQLite's "file is not a database" (and kin) while opening ``path`` into a
    ``FatalError`` naming the file and what to do."""
    try:
        yield
    except sqlite3.DatabaseError as exc:
        raise FatalError(
            f"{path} ({what}) cannot be read: {exc}",
            hint=f"Restore it from a backup, or move it aside to start with an empty {what}.",
        ) from None

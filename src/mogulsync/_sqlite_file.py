"""Opening the project's SQLite state files: shared settings, and a clear error (not a
traceback) when one cannot be read."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from mogulsync import _sqlite_space
from mogulsync.errors import FatalError

#: how long a connection waits for another one's lock before "database is locked"
BUSY_TIMEOUT_MS = 30_000


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


def connect_shared(path: Path, what: str) -> sqlite3.Connection:
    """An autocommit connection to a state file that several processes write at once
    (``serve`` and a cron's ``extract run`` both write ``schedule.sqlite``), set as
    ``runs.sqlite`` is: WAL, so a reader never waits for a writer's transaction nor a writer
    for a reader's; ``synchronous = NORMAL`` (in WAL a power cut may lose the last commits,
    never the file); a busy timeout for two writers. ``what`` names the file in errors."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with readable_database(path, what):
        conn = sqlite3.connect(
            path,
            timeout=BUSY_TIMEOUT_MS / 1000,
            isolation_level=None,
            check_same_thread=False,
        )
        try:
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            _sqlite_space.configure(conn)  # before WAL: a new file gets incremental vacuum
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
        except BaseException:
            conn.close()
            raise
    return conn

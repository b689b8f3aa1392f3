"""Give a SQLite file's freed pages back to the disk after a retention prune.

Deleting rows frees pages inside the file, and the file keeps its size. With
``auto_vacuum = INCREMENTAL`` SQLite moves free pages to the end of the file and cuts
them off on request (``PRAGMA incremental_vacuum(N)``), in steps that are each one short
write transaction: a writer in another thread or process waits at most one step.

A file created without it (auto_vacuum NONE, every file before this version) changes
setting only through one ``VACUUM``, which rewrites the file's live pages in one
transaction: done once, only when enough of the file is free to be worth it, and only
while what it keeps is small enough for writers to wait (a larger file is left as it
was: docs/configuration.md says how to convert it by hand). An
interrupted ``VACUUM`` (kill, power loss, an error) is rolled back by SQLite as any
transaction is: the file keeps its data and its old setting, and the next prune tries again.
"""

from __future__ import annotations

import logging
import shutil
import sqlite3
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext, suppress
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

#: ``PRAGMA auto_vacuum`` values
_NONE, _INCREMENTAL = 0, 2
#: pages handed back per transaction (4 MiB at the default page size)
STEP_PAGES = 1024
#: a file without incremental vacuum is converted (one VACUUM) once this many pages are free
CONVERT_MIN_FREE_PAGES = 2560
#: ... and only while it keeps at most this many (256 MiB): the VACUUM rewrites them while
#: writers wait (~35 ms per MiB measured), and a writer gives up after its 30 s busy timeout
CONVERT_MAX_KEPT_PAGES = 65_536
#: ... and only while its disk has this many times what it keeps free: the VACUUM writes every
#: kept page to the write-ahead log (and builds its copy in a temporary file). Short of room
#: it failed, after filling the disk to its last byte, and the next prune tried again
CONVERT_ROOM_FACTOR = 2
#: bytes of write-ahead log left on disk after a checkpoint (it would keep its peak size)
WAL_SIZE_LIMIT = 4 * 1024 * 1024


def _disk_free(folder: str) -> int:
    return shutil.disk_usage(folder).free


#: free bytes on the disk holding a folder (tests drive it: a full disk is not made here)
free_bytes: Callable[[str], int] = _disk_free


@dataclass(frozen=True, slots=True)
class Reclaimed:
    """What :func:`reclaim` did: pages before and after, and whether it converted the file."""

    pages_before: int
    pages_after: int
    converted: bool = False

    @property
    def pages(self) -> int:
        """Pages given back."""
        return self.pages_before - self.pages_after


def configure(conn: sqlite3.Connection) -> None:
    """Settings for a connection, before anything else touches the file.

    A new (empty) file gets incremental vacuum: the setting takes effect only before the
    file's first page is written (``journal_mode = WAL`` writes it). It is not asked of an
    older file, where it would wait for a VACUUM and meanwhile be reported as if set.
    """
    if _pragma(conn, "page_count") == 0:
        conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
    conn.execute(f"PRAGMA journal_size_limit = {WAL_SIZE_LIMIT}")


def reclaim(
    conn: sqlite3.Connection, lock: AbstractContextManager[object] | None = None
) -> Reclaimed:
    """Hand the file's free pages back, step by step (``lock`` held for each step).

    Raises sqlite3.Error (e.g. busy for longer than the connection's timeout); what was
    given back before stays given back.
    """
    guard = lock if lock is not None else nullcontext()
    with guard:
        mode = _pragma(conn, "auto_vacuum")
        before = _pragma(conn, "page_count")
        free = _pragma(conn, "freelist_count")
    converted = False
    if mode == _NONE:
        kept = before - free
        if free >= CONVERT_MIN_FREE_PAGES and kept <= CONVERT_MAX_KEPT_PAGES:
            with guard:
                room = _room_to_convert(conn, kept)
            converted = room and _convert(conn, guard)
    elif mode == _INCREMENTAL:
        while free > 0:
            with guard:
                # executescript steps the pragma to its end (execute frees one page)
                conn.executescript(f"PRAGMA incremental_vacuum({STEP_PAGES})")
                left = _pragma(conn, "freelist_count")
            if left >= free:  # nothing moved: leave it to the next prune
                break
            free = left
    with guard:
        # PASSIVE never waits: a reader holding an old snapshot delays the file's
        # truncation to a later checkpoint, it does not hold up writers
        conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        after = _pragma(conn, "page_count")
    if converted:
        logger.info(
            "%s rewritten once to give freed space back from now on (%d pages -> %d)",
            _file_path(conn),
            before,
            after,
        )
    return Reclaimed(before, after, converted)


def _convert(conn: sqlite3.Connection, guard: AbstractContextManager[object]) -> bool:
    with guard:
        # decided again under the write lock: another connection (the prune of a run that
        # ended at the same time) may have converted the file since this one read it,
        # and a second VACUUM would hold writers up as long again
        conn.execute("BEGIN IMMEDIATE")
        try:
            mode = _pragma(conn, "auto_vacuum")
            free = _pragma(conn, "freelist_count")
        finally:
            conn.execute("COMMIT")
        if mode != _NONE or free < CONVERT_MIN_FREE_PAGES:
            return False
        conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
        try:
            conn.execute("VACUUM")
        except BaseException:
            # rolled back: the file is as it was, so this connection must not believe
            # otherwise (the pragma reports the pending setting until a VACUUM succeeds)
            with suppress(sqlite3.Error):
                conn.execute("PRAGMA auto_vacuum = NONE")
            raise
    return True


def _room_to_convert(conn: sqlite3.Connection, kept_pages: int) -> bool:
    """Whether the file's disk has room for the VACUUM (logged when it has not)."""
    path = _file_path(conn)
    if not path:
        return True  # in memory
    needed = CONVERT_ROOM_FACTOR * kept_pages * _pragma(conn, "page_size")
    try:
        available = free_bytes(str(Path(path).parent))
    except OSError:
        return True  # unknown: the VACUUM reports a full disk itself
    if available >= needed:
        return True
    logger.info(
        "%s not converted to give freed space back: its disk has %d MiB free, the"
        " conversion needs %d MiB",
        path,
        available // 2**20,
        -(-needed // 2**20),
    )
    return False


def _file_path(conn: sqlite3.Connection) -> str:
    """The connection's main database file ('' in memory)."""
    return next((row[2] for row in conn.execute("PRAGMA database_list") if row[1] == "main"), "")


def _pragma(conn: sqlite3.Connection, name: str) -> int:
    return int(conn.execute(f"PRAGMA {name}").fetchone()[0])

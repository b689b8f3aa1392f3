"""An exclusive lock on a file that names its holder's pid (the sync and serve locks).

``flock`` is released by the OS when the process dies, so a crash never leaves a stale
lock; the pid written into the file only tells the next comer who holds it.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO


class PidFileLock:
    """The lock on ``path`` (not yet taken)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: IO[str] | None = None

    @property
    def held(self) -> bool:
        """Whether this object holds the lock."""
        return self._file is not None

    def try_acquire(self) -> str | None:
        """Take the lock: None when taken (or already held), else the holder's pid as
        written in the file ("" when it wrote none). OSError when the file cannot be
        opened (a read-only folder)."""
        if self._file is not None:
            return None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("a+", encoding="utf-8")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip()
            handle.close()
            return holder
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._file = handle
        return None

    def release(self) -> None:
        """Give the lock back."""
        if self._file is not None:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
            self._file.close()
            self._file = None

"""One ``mogulsync serve`` per state directory.

Two servers on one ``state_dir`` would each run every schedule (the sync locks only turn
the second start into a skipped slot), and the second, starting, would mark the first's
running extract ``interrupted``. An exclusive ``flock`` on ``state_dir/serve.lock``
refuses the second at start; the OS releases it when the process dies, so a crash never
leaves a stale lock.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO

from mogulsync.errors import ConfigError, MogulsyncError

LOCK_FILE = "serve.lock"


class ServeLockedError(MogulsyncError):
    """Another server uses this state directory."""


class ServeLock:
    """The state directory's server lock (not yet taken)."""

    def __init__(self, state_dir: Path | str) -> None:
        self.path = Path(state_dir) / LOCK_FILE
        self._file: IO[str] | None = None

    @property
    def held(self) -> bool:
        """Whether this object holds the lock."""
        return self._file is not None

    def acquire(self) -> None:
        """Take the lock, or raise :class:`ServeLockedError` at once."""
        if self._file is not None:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            handle = self.path.open("a+", encoding="utf-8")
        except OSError as exc:  # read-only, another user's: say so, not a traceback
            raise ConfigError(
                f"cannot open {self.path} ({exc.strerror or type(exc).__name__}): the server"
                " keeps its lock, schedules and run history in state_dir",
                hint="Give state_dir a directory this user can write to.",
            ) from None
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            handle.close()
            raise ServeLockedError(
                f"another `mogulsync serve` (pid {holder}) is using state_dir"
                f" {self.path.parent}: two servers would run every schedule twice",
                hint="Stop that server first, or give this project a state_dir of its own.",
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._file = handle

    def release(self) -> None:
        """Give the lock back."""
        if self._file is not None:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
            self._file.close()
            self._file = None

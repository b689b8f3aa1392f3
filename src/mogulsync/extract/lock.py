"""One extract at a time per ``state_dir``.

``mogulsync extract run`` (from cron) and ``mogulsync serve``'s extract load the same
destination through the same dlt pipeline and record into the same history, so a second
extract that starts while one runs is refused. The lock file also tells a starting server
that an extract marked ``running`` in the history is really running elsewhere, not left
behind by a process that died. ``flock`` is released by the OS when its holder dies.
"""

from __future__ import annotations

from pathlib import Path

from mogulsync._pid_lock import PidFileLock
from mogulsync.errors import FatalError

#: the lock file's name in ``state_dir/locks``: a sync's name starts with a letter or a
#: digit, so no sync's lock can be this one
LOCK_NAME = "_extract"


class ExtractLockedError(FatalError):
    """Another extract of this ``state_dir`` is running."""


class ExtractLock:
    """The extract's lock in ``state_dir/locks`` (not yet taken)."""

    def __init__(self, state_dir: Path | str) -> None:
        self._lock = PidFileLock(Path(state_dir) / "locks" / f"{LOCK_NAME}.lock")

    def acquire(self) -> None:
        """Take the lock or raise :class:`ExtractLockedError` at once."""
        holder = self._lock.try_acquire()
        if holder is not None:
            raise ExtractLockedError(
                f"an extract is already running (pid {holder or 'another process'});"
                " concurrent extracts are refused",
                hint="Wait for it to finish (`mogulsync serve`'s Extract page lists it),"
                " then run again.",
            )

    def try_acquire(self) -> bool:
        """Take the lock if it is free."""
        return self._lock.try_acquire() is None

    def release(self) -> None:
        """Give the lock back."""
        self._lock.release()

"""One ``mogulsync serve`` per state directory.

Two servers on one ``state_dir`` would each run every schedule (the sync locks only turn
the second start into a skipped slot), and the second, starting, would mark the first's
running extract ``interrupted``. An exclusive ``flock`` on ``state_dir/serve.lock``
refuses the second at start; the OS releases it when the process dies, so a crash never
leaves a stale lock.
"""

from __future__ import annotations

from pathlib import Path

from mogulsync._pid_lock import PidFileLock
from mogulsync.errors import ConfigError, MogulsyncError

LOCK_FILE = "serve.lock"


class ServeLockedError(MogulsyncError):
    """Another server uses this state directory."""


class ServeLock:
    """The state directory's server lock (not yet taken)."""

    def __init__(self, state_dir: Path | str) -> None:
        self.path = Path(state_dir) / LOCK_FILE
        self._lock = PidFileLock(self.path)

    @property
    def held(self) -> bool:
        """Whether this object holds the lock."""
        return self._lock.held

    def acquire(self) -> None:
        """Take the lock, or raise :class:`ServeLockedError` at once."""
        try:
            holder = self._lock.try_acquire()
        except OSError as exc:  # read-only, another user's: say so, not a traceback
            raise ConfigError(
                f"cannot open {self.path} ({exc.strerror or type(exc).__name__}): the server"
                " keeps its lock, schedules and run history in state_dir",
                hint="Give state_dir a directory this user can write to.",
            ) from None
        if holder is not None:
            raise ServeLockedError(
                f"another `mogulsync serve` (pid {holder or 'unknown'}) is using state_dir"
                f" {self.path.parent}: two servers would run every schedule twice",
                hint="Stop that server first, or give this project a state_dir of its own.",
            )

    def release(self) -> None:
        """Give the lock back."""
        self._lock.release()

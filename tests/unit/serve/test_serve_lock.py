"""serve.lock: a crashed server's lock file does not block a restart; an unusable state
directory is a clear error, not a traceback."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from mogulsync.errors import MogulsyncError
from mogulsync.serve.lock import LOCK_FILE, ServeLock

_HOLD = (
    "import sys; from mogulsync.serve.lock import ServeLock;"
    " ServeLock(sys.argv[1]).acquire(); print('held', flush=True); sys.stdin.read()"
)


def test_a_lock_left_by_a_killed_server_is_taken_at_restart(tmp_path: Path) -> None:
    with subprocess.Popen(
        [sys.executable, "-c", _HOLD, str(tmp_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as holder:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
    assert (tmp_path / LOCK_FILE).read_text() == str(holder.pid)  # the file stays
    lock = ServeLock(tmp_path)
    lock.acquire()
    assert lock.held
    lock.release()


def test_a_lock_file_that_cannot_be_opened_is_a_clear_error(tmp_path: Path) -> None:
    """An unwritable state_dir (read-only mount, another user's directory) raised an
    OSError traceback from `mogulsync serve`; a directory in the lock file's place stands
    in for it here (the tests run as root, whom permissions do not stop)."""
    (tmp_path / LOCK_FILE).mkdir()
    with pytest.raises(MogulsyncError, match=r"serve\.lock") as caught:
        ServeLock(tmp_path).acquire()
    assert "state_dir" in str(caught.value.hint)

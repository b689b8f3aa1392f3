"""A reconcile's temporary index file never outlives it for long: one left by a killed
process is deleted by the next reconcile, one still in use by a live reconcile is not."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from mogulsync.reconcile.remote import RemoteIndex


def _index_files(directory: Path) -> list[Path]:
    return sorted(directory.glob("mogulsync-reconcile-*.sqlite"))


def test_a_killed_reconciles_index_is_swept_and_a_live_one_kept(tmp_path: Path) -> None:
    """A process killed mid-reconcile leaves its file; the next index deletes it."""
    script = (
        "import os, sys; from pathlib import Path\n"
        "from mogulsync.reconcile.remote import RemoteIndex\n"
        "RemoteIndex(Path(sys.argv[1])).add([])\n"
        "os._exit(9)  # killed: no close, no clean-up\n"
    )
    subprocess.run([sys.executable, "-c", script, str(tmp_path)], check=False)
    [left] = _index_files(tmp_path)
    live = RemoteIndex(tmp_path)
    try:
        assert _index_files(tmp_path) == [live.path]
        assert left != live.path
        other = RemoteIndex(tmp_path)  # a second reconcile at the same time
        try:
            assert _index_files(tmp_path) == sorted([live.path, other.path])
        finally:
            other.close()
    finally:
        live.close()
    assert _index_files(tmp_path) == []

"""A reconcile's temporary index file never outlives it for long: one left by a killed
process is deleted by the next reconcile, one still in use by a live reconcile is not."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
from pathlib import Path

import pytest
from tests.integration.serve._support import accounts, project

from mogulsync.emulator.server import EmulatorServer
from mogulsync.errors import MogulsyncError
from mogulsync.reconcile import reconcile
from mogulsync.reconcile.remote import RemoteIndex
from mogulsync.runs import RunStatus, RunStore


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))  # noqa: PTH208 - a count, no paths


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


def _unreadable_state(state_dir: Path) -> None:
    state_dir.mkdir(parents=True)
    (state_dir / "state.sqlite").write_bytes(b"not a database" * 100)


@pytest.mark.anyio
async def test_an_adopt_that_cannot_open_the_state_leaves_nothing_behind(
    emulator_server: EmulatorServer, tmp_path: Path
) -> None:
    """state.sqlite is unreadable: the adopt fails, is recorded `failed` (not left
    `running`), and no index file or open database stays behind."""
    config = project(emulator_server, tmp_path, accounts(tmp_path, 2))
    state_dir = Path(config.state_dir)
    _unreadable_state(state_dir)
    fds = []
    for _ in range(3):  # the first may open what the process keeps (a thread pool)
        with pytest.raises(MogulsyncError):
            await reconcile(config, "customers", adopt=True)
        gc.collect()
        fds.append(_open_fds())
    assert fds[2] == fds[1]
    assert _index_files(state_dir) == []
    store = RunStore(state_dir)
    try:
        runs = store.latest(sync="customers")
    finally:
        store.close()
    assert [run.status for run in runs] == [RunStatus.FAILED] * 3
    assert all("state" in (run.message or "") for run in runs)

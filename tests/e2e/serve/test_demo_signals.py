"""``make serve`` (``python -m mogulsync.serve.demo``) stopped by a signal sent to the
wrapper alone, as ``kill PID`` from another shell or a supervisor does: the child it runs
stops, then the emulator, and its ``/tmp/mogulsync-serve-*`` directory is removed; it
leaves nothing else in the temporary directory (no ``mogulsync-<uid>/rate-limit.sqlite``).

Before, SIGTERM and SIGHUP killed the wrapper only: ``mogulsync serve`` kept running (on a
gone emulator) and the directory stayed. The waits below are hang guards, never speeds.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from mogulsync.chartmogul.shared_pacing import DEFAULT_FILE_ENV
from mogulsync.testing.ports import announced_url

#: generous bounds on the demo's start (a sync of the sample warehouse first) and its exit
STARTUP_S = 180
EXIT_S = 120


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie nobody reaped does not count)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8")
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _children(pid: int) -> dict[int, str]:
    """The processes whose parent is ``pid``, with their command lines."""
    found: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            stat = (entry / "stat").read_text(encoding="utf-8")
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                command = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
                found[int(entry.name)] = command.decode(errors="replace")
    return found


def _wait_for(condition, what: str) -> None:
    deadline = time.monotonic() + STARTUP_S
    while not condition():
        assert time.monotonic() < deadline, f"no {what} within {STARTUP_S} s (a hang guard)"
        time.sleep(0.05)


@contextlib.contextmanager
def _demo(tmp_path: Path):
    """The wrapper in its own session (the test can clean up its whole group), its
    temporary directories under ``tmp_path / "tmp"`` (other runs' stay apart)."""
    log = tmp_path / "demo.log"
    (tmp_path / "tmp").mkdir()
    env = {**os.environ, "TMPDIR": str(tmp_path / "tmp")}
    env.pop(DEFAULT_FILE_ENV)  # as in a user's shell (the suite sets a pacing file of its own)
    with log.open("wb") as out:
        wrapper = subprocess.Popen(
            [sys.executable, "-m", "mogulsync.serve.demo", "--port", "0"], cwd=tmp_path,
            env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        yield wrapper, log
    finally:
        with contextlib.suppress(ProcessLookupError):  # what a failed test left running
            os.killpg(wrapper.pid, signal.SIGKILL)
        wrapper.wait()


def _workdirs(tmp_path: Path) -> list[Path]:
    """The demo directories the wrapper made (and has not removed)."""
    return sorted((tmp_path / "tmp").glob("mogulsync-serve-*"))


@pytest.mark.timeout(STARTUP_S + EXIT_S + 60)
def test_sigterm_to_the_wrapper_alone_stops_serve_the_emulator_and_removes_its_directory(
    tmp_path,
):
    with _demo(tmp_path) as (wrapper, log):
        served = announced_url(wrapper, log, timeout=STARTUP_S)
        emulator = re.search(r"Emulator at (http://\S+);", log.read_text(encoding="utf-8"))
        assert emulator
        [workdir] = _workdirs(tmp_path)
        assert f"project in {workdir}" in log.read_text(encoding="utf-8")
        children = _children(wrapper.pid)
        [serve] = [pid for pid, command in children.items() if "mogulsync serve" in command]
        assert httpx.get(f"{served}/healthz", timeout=30).status_code == 200

        os.kill(wrapper.pid, signal.SIGTERM)  # the wrapper alone, not its group
        assert wrapper.wait(timeout=EXIT_S) == 0
        assert not _alive(serve)  # the wrapper waited for it
        assert not workdir.exists()
        assert _workdirs(tmp_path) == []
        # nor the machine-wide rate-limit file: the demo's processes paced from their own
        assert sorted(p.name for p in (tmp_path / "tmp").iterdir()) == []
        with pytest.raises(httpx.ConnectError):
            httpx.get(served, timeout=30)
        with pytest.raises(httpx.ConnectError):
            httpx.get(emulator.group(1), timeout=30)
    text = log.read_text(encoding="utf-8", errors="replace")
    assert "could not serve" not in text  # a stop is not a failed start


@pytest.mark.timeout(STARTUP_S + EXIT_S + 60)
def test_sighup_during_the_first_sync_stops_it_and_starts_no_server(tmp_path):
    with _demo(tmp_path) as (wrapper, log):

        def syncing() -> dict[int, str]:
            return {
                pid: command
                for pid, command in _children(wrapper.pid).items()
                if "sync run" in command
            }

        _wait_for(lambda: " sent (" in log.read_text(encoding="utf-8") and syncing(), "sync")
        [sync] = syncing()
        assert len(_workdirs(tmp_path)) == 1
        os.kill(wrapper.pid, signal.SIGHUP)
        assert wrapper.wait(timeout=EXIT_S) == 0
        assert not _alive(sync)
        assert _workdirs(tmp_path) == []
    text = log.read_text(encoding="utf-8", errors="replace")
    assert "mogulsync serve on" not in text

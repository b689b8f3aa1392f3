"""One extract at a time per ``state_dir``: `mogulsync extract run` from cron and
`mogulsync serve`'s extract load the same destination and record into one history.

A second `extract run` while one goes is refused with exit 5 and records nothing; the
run holds the lock while it goes and gives it back however it ends.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.integration.ops.test_extract_alerts import _one_data_source
from typer.testing import CliRunner

from mogulsync.cli import app
from mogulsync.emulator.server import EmulatorServer
from mogulsync.extract import cli as extract_cli
from mogulsync.extract import history
from mogulsync.extract.history import ExtractHistory
from mogulsync.extract.lock import ExtractLock
from mogulsync.extract.recording import begin


def _project(server: EmulatorServer, tmp_path: Path) -> Path:
    path = tmp_path / "mogulsync.yml"
    path.write_text(
        "chartmogul:\n"
        "  api_key: ${CM_KEY}\n"
        f"  base_url: {server.base_url}\n"
        f"state_dir: {tmp_path / 'state'}\n"
        "extract:\n"
        f"  destination: duckdb:///{tmp_path / 'cm.duckdb'}\n"
        "  streams: [data_sources]\n"
        "  mode: overwrite\n",
        encoding="utf-8",
    )
    return path


@pytest.fixture
def config(
    emulator_server: EmulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Path:
    monkeypatch.setenv("CM_KEY", emulator_server.api_key)
    return _project(emulator_server, tmp_path)


def _extract(config: Path) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["extract", "run", "-c", str(config), "--json"])
    return result.exit_code, result.output


def test_a_second_extract_is_refused_with_exit_5_and_records_nothing(
    config: Path, tmp_path: Path
) -> None:
    state_dir = tmp_path / "state"
    running = ExtractLock(state_dir)  # an extract going on in another process
    running.acquire()
    try:
        code, output = _extract(config)
    finally:
        running.release()
    assert code == 5, output
    assert "an extract is already running" in output
    history = ExtractHistory(state_dir)
    try:
        assert history.latest() == []
    finally:
        history.close()
    code, output = _extract(config)  # the lock given back: runs
    assert code == 0, output


def test_the_run_holds_the_lock_while_it_goes_and_gives_it_back_after_a_failure(
    config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state_dir = tmp_path / "state"
    seen_free: list[bool] = []
    real = extract_cli._run_with_progress

    def probing(*args: object, **kwargs: object) -> object:
        probe = ExtractLock(state_dir)
        free = probe.try_acquire()
        seen_free.append(free)
        if free:
            probe.release()
        if len(seen_free) == 2:
            raise RuntimeError("the destination broke")
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(extract_cli, "_run_with_progress", probing)
    assert _extract(config)[0] == 0
    code, _output = _extract(config)
    assert code != 0
    assert seen_free == [False, False]
    probe = ExtractLock(state_dir)
    assert probe.try_acquire()  # a failed run gave it back
    probe.release()


def test_a_run_left_running_by_a_killed_extract_is_marked_interrupted_by_the_next(
    config: Path, tmp_path: Path
) -> None:
    """An `extract run` killed by cron's timeout (or the OOM killer) leaves its run
    `running` with the lock free; a server already up never sweeps it. The next extract,
    holding the lock, knows no other extract can be running: it marks that run."""
    state_dir = tmp_path / "state"
    history = ExtractHistory(state_dir)
    try:
        killed = begin(history)  # its process died: the row says running, nobody holds the lock
    finally:
        history.close()
    code, output = _extract(config)
    assert code == 0, output
    history = ExtractHistory(state_dir)
    try:
        runs = {run.run_id: run.status for run in history.latest()}
    finally:
        history.close()
    assert runs.pop(killed.run_id) == "interrupted"
    assert list(runs.values()) == ["success"]


def test_a_history_that_cannot_be_opened_gives_the_lock_back(config: Path, tmp_path: Path) -> None:
    """The history cannot be opened (here its file is a folder): the run fails before it
    starts with an error naming the file (it was a traceback), and the lock it took is
    given back, not kept until the process exits (a library caller goes on in the same
    process)."""
    state_dir = tmp_path / "state"
    (state_dir / "schedule.sqlite").mkdir(parents=True)
    code, output = _extract(config)
    assert code == 1
    assert "schedule.sqlite (extract history) cannot be read" in output  # not a traceback
    probe = ExtractLock(state_dir)
    assert probe.try_acquire(), output
    probe.release()


def test_an_extract_run_keeps_its_progress_in_the_history(
    config: Path, emulator_server: EmulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Extract page shows a running extract's records read so far (and an interrupted
    one's, how far it got): `extract run` writes them as the server's extracts do, at most
    every PROGRESS_EVERY_S (here every page: the clock is driven), and with its end."""
    ticks = iter(range(0, 10**6, 10))
    monkeypatch.setattr(history, "_clock", lambda: float(next(ticks)))
    state_dir = tmp_path / "state"
    written: list[dict[str, int]] = []
    real = ExtractHistory.save_progress

    def save_progress(self: ExtractHistory, run_id: str, progress: dict[str, int]) -> None:
        real(self, run_id, progress)
        [running] = [run for run in self.latest() if run.run_id == run_id]
        written.append(running.progress)  # what the Extract page reads meanwhile

    monkeypatch.setattr(ExtractHistory, "save_progress", save_progress)
    _one_data_source(emulator_server)
    code, output = _extract(config)
    assert code == 0, output
    finished = ExtractHistory(state_dir)
    try:
        [run] = finished.latest()
    finally:
        finished.close()
    assert run.report is not None
    records = run.report["streams"]["data_sources"]["records"]
    assert records == 1
    assert written
    assert written[-1] == {"data_sources": records}
    assert run.progress == {"data_sources": records}

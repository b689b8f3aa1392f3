"""The server and `mogulsync extract run` share one extract lock per ``state_dir``.

Before, `extract run` (now recorded in the same history, for its alerts) could go on while
the server started and swept its run to ``interrupted``, and the server could start an
extract into the same destination meanwhile.
"""

from __future__ import annotations

import asyncio

import pytest
from tests.integration.serve._support import OPERATOR, serving
from tests.integration.serve.test_extract_runs import _extract_project, _PageGate, _started_extract

from mogulsync.extract.history import ExtractHistory
from mogulsync.extract.lock import ExtractLock
from mogulsync.extract.recording import begin

pytestmark = pytest.mark.anyio


async def test_a_cli_extract_in_progress_is_neither_swept_nor_doubled(emulator_server, tmp_path):
    config, _destination = _extract_project(emulator_server, tmp_path)
    history = ExtractHistory(config.state_dir)
    cli_run = begin(history)  # `extract run` in another process, holding the lock
    history.close()
    cli = ExtractLock(config.state_dir)
    cli.acquire()
    try:
        async with serving(config) as served:
            auth = served.bearer(OPERATOR)
            listed = (await served.http.get("/api/v1/extract/runs", headers=auth)).json()
            assert [(r["run_id"], r["status"]) for r in listed] == [(cli_run.run_id, "running")]
            refused = await served.http.post("/api/v1/extract/runs", headers=auth)
            assert refused.status_code == 409
            assert "an extract is already running" in refused.json()["error"]
    finally:
        cli.release()
    async with serving(config) as served:  # the process died: its run is swept
        auth = served.bearer(OPERATOR)
        [run] = (await served.http.get("/api/v1/extract/runs", headers=auth)).json()
        assert (run["run_id"], run["status"]) == (cli_run.run_id, "interrupted")


async def test_the_servers_extract_holds_the_lock_until_it_ends(emulator_server, tmp_path):
    config, _destination = _extract_project(emulator_server, tmp_path)
    gate = _PageGate()
    async with serving(config) as served:
        await _started_extract(served, gate)
        probe = ExtractLock(config.state_dir)
        assert not probe.try_acquire()  # `extract run` would be refused now
        gate.go.set()
        task = served.app.state.manager._extract_task
        assert task is not None
        await task
        assert probe.try_acquire()
        probe.release()


async def test_the_servers_extract_marks_a_run_left_running_by_a_killed_cli(
    emulator_server, tmp_path
):
    """`extract run` killed while the server is up leaves its run `running` (the sweep at
    start is long past); the server's next extract, holding the lock, marks it."""
    config, _destination = _extract_project(emulator_server, tmp_path)
    async with serving(config) as served:
        history = ExtractHistory(config.state_dir)
        try:
            killed = begin(history)  # its process died: running, and the lock is free
        finally:
            history.close()
        auth = served.bearer(OPERATOR)
        started = await served.http.post("/api/v1/extract/runs", headers=auth)
        assert started.status_code == 202
        task = served.app.state.manager._extract_task
        assert task is not None
        await task
        listed = (await served.http.get("/api/v1/extract/runs", headers=auth)).json()
        statuses = {r["run_id"]: r["status"] for r in listed}
        assert statuses == {killed.run_id: "interrupted", started.json()["run_id"]: "success"}


async def test_a_cancelled_extract_task_keeps_the_lock_until_its_thread_has_ended(
    emulator_server, tmp_path
):
    """The task running the server's extract cancelled (a shutdown cut short) while its
    worker thread loads: the thread cannot be cancelled, so the lock stays held until it
    ended (else `extract run` could load into the same destination beside it), and the run
    is not left `running`."""
    config, _destination = _extract_project(emulator_server, tmp_path)
    gate = _PageGate()
    async with serving(config) as served:
        run_id = await _started_extract(served, gate)
        manager = served.app.state.manager
        task = manager._extract_task
        assert task is not None
        task.cancel()
        await asyncio.sleep(0)  # the cancellation reaches the task
        probe = ExtractLock(config.state_dir)
        assert not task.done()  # it waits for its thread, which is held at a page
        assert not probe.try_acquire()
        gate.go.set()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert probe.try_acquire()
        probe.release()
        assert manager.extract is None
        history = ExtractHistory(config.state_dir)
        try:
            [run] = [r for r in history.latest() if r.run_id == run_id]
        finally:
            history.close()
        assert run.status == "cancelled"

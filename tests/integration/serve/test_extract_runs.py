"""The extract through the server: POST starts it in the background, 409 while it runs,
the report lists rows per stream, the Extract page shows them; a cancel or shutdown stops
an extract between pages (nothing loaded), and the runs outlive a restart."""

from __future__ import annotations

import asyncio
import re
import threading
from pathlib import Path

import duckdb
import pytest
from tests.integration.serve._support import (
    OPERATOR,
    VIEWER,
    accounts,
    project,
    serving,
    wait_for_run,
)

pytestmark = pytest.mark.anyio


async def test_extract_runs_from_the_api_and_shows_on_its_page(emulator_server, tmp_path):
    """Two customers synced, then extracted: the report counts them under `customers`."""
    extract = {"destination": f"duckdb:///{tmp_path / 'cm.duckdb'}",
               "streams": ["data_sources", "customers"], "mode": "overwrite"}  # fmt: skip
    config = project(emulator_server, tmp_path, accounts(tmp_path, 2), extract=extract)
    async with serving(config) as served:
        auth = served.bearer(OPERATOR)
        sync = await served.http.post("/api/v1/syncs/customers/runs", headers=auth)
        assert (await wait_for_run(served, sync.json()["run_id"]))["status"] == "success"
        started = await served.http.post("/api/v1/extract/runs", headers=auth)
        assert started.status_code == 202
        again = await served.http.post("/api/v1/extract/runs", headers=auth)
        assert again.status_code == 409
        task = served.app.state.manager._extract_task
        assert task is not None
        await task
        [run] = (await served.http.get("/api/v1/extract/runs", headers=auth)).json()
        assert run["run_id"] == started.json()["run_id"]
        assert run["status"] == "success", run["message"]
        assert run["report"]["streams"]["customers"]["records"] == 2
        page = await served.http.get("/extract", headers=served.bearer(VIEWER))
        assert "customers" in page.text
        assert "success" in page.text


class _PageGate:
    """Holds the extract's worker thread at its first page until the test lets it go."""

    def __init__(self) -> None:
        self.reached = threading.Event()
        self.go = threading.Event()

    def __call__(self, _stream: str, _records: int) -> None:
        self.reached.set()
        # a guard against a hung test, not a timing assumption: the test releases it
        self.go.wait(timeout=60)


def _loaded_tables(path) -> set[str]:
    """The tables dlt created in the DuckDB destination (none when the file is absent)."""
    if not path.exists():
        return set()
    with duckdb.connect(str(path), read_only=True) as db:
        rows = db.execute(
            "select table_name from information_schema.tables where table_schema = 'chartmogul'"
        ).fetchall()
    return {row[0] for row in rows}


def _extract_project(emulator_server, tmp_path):
    destination = tmp_path / "cm.duckdb"
    extract = {"destination": f"duckdb:///{destination}",
               "streams": ["data_sources", "customers"], "mode": "overwrite"}  # fmt: skip
    return project(emulator_server, tmp_path, accounts(tmp_path, 2), extract=extract), destination


async def _started_extract(served, gate: _PageGate) -> str:
    """Sync two customers, start the extract and wait (in a thread) for its first page."""
    auth = served.bearer(OPERATOR)
    sync = await served.http.post("/api/v1/syncs/customers/runs", headers=auth)
    assert (await wait_for_run(served, sync.json()["run_id"]))["status"] == "success"
    served.app.state.manager.on_extract_page.append(gate)
    started = await served.http.post("/api/v1/extract/runs", headers=auth)
    assert started.status_code == 202
    assert await asyncio.to_thread(gate.reached.wait, 60)
    return str(started.json()["run_id"])


async def test_a_cancelled_extract_loads_nothing_and_is_remembered_after_a_restart(
    emulator_server, tmp_path
):
    """Cancel at the first page: the run ends `cancelled`, the destination has no table of
    it; after a restart the run is still listed, and the next extract loads everything."""
    config, destination = _extract_project(emulator_server, tmp_path)
    gate = _PageGate()
    async with serving(config) as served:
        auth = served.bearer(OPERATOR)
        run_id = await _started_extract(served, gate)
        listed = (await served.http.get("/api/v1/extract/runs", headers=auth)).json()
        assert [(r["run_id"], r["status"]) for r in listed] == [(run_id, "running")]
        assert sum(listed[0]["progress"].values()) >= 1
        viewer = await served.http.post(
            f"/api/v1/runs/{run_id}/cancel", headers=served.bearer(VIEWER)
        )
        assert viewer.status_code == 403
        cancel = await served.http.post(f"/api/v1/runs/{run_id}/cancel", headers=auth)
        assert cancel.status_code == 202
        gate.go.set()
        task = served.app.state.manager._extract_task
        assert task is not None
        await task
        again = await served.http.post(f"/api/v1/runs/{run_id}/cancel", headers=auth)
        assert again.status_code == 409
        assert "cancelled" in again.json()["error"]
    assert "customers" not in _loaded_tables(destination)
    # nor is the page it had read kept on disk: dlt's unfinished package is deleted
    assert _package_folders(Path(config.state_dir)) == ["extracted"]
    async with serving(config) as served:
        auth = served.bearer(OPERATOR)
        [run] = (await served.http.get("/api/v1/extract/runs", headers=auth)).json()
        assert (run["run_id"], run["status"], run["report"]) == (run_id, "cancelled", None)
        assert "nothing" in run["message"]
        page = await served.http.get("/extract", headers=served.bearer(VIEWER))
        assert run_id in page.text
        assert "cancelled" in page.text
        started = await served.http.post("/api/v1/extract/runs", headers=auth)
        task = served.app.state.manager._extract_task
        assert task is not None
        await task
        latest, first = (await served.http.get("/api/v1/extract/runs", headers=auth)).json()
        assert latest["run_id"] == started.json()["run_id"]
        assert first["run_id"] == run_id
        assert latest["status"] == "success", latest["message"]
        assert latest["report"]["streams"]["customers"]["records"] == 2
    assert "customers" in _loaded_tables(destination)


def _package_folders(state_dir: Path) -> list[str]:
    """The folders of dlt's ``normalize/``: ``extracted`` and any step's unfinished package."""
    normalize = state_dir.glob("extract/*/normalize/*")
    return sorted(path.name for path in normalize if path.is_dir())


async def test_shutdown_stops_a_running_extract_at_its_next_page(emulator_server, tmp_path):
    """SIGTERM's shutdown mid-extract: the server does not wait for the whole extract; the
    run is recorded `cancelled` and nothing of it is loaded."""
    config, destination = _extract_project(emulator_server, tmp_path)
    gate = _PageGate()
    async with serving(config) as served:
        run_id = await _started_extract(served, gate)
        served.app.begin_shutdown()  # what SIGTERM does
        gate.go.set()
    assert "customers" not in _loaded_tables(destination)
    async with serving(config) as served:
        [run] = (
            await served.http.get("/api/v1/extract/runs", headers=served.bearer(VIEWER))
        ).json()
        assert (run["run_id"], run["status"]) == (run_id, "cancelled")


async def test_the_extract_page_shows_progress_and_cancels_the_running_extract(
    emulator_server, tmp_path
):
    """While it runs the Extract page counts the records read and offers Cancel extract;
    pressing it ends the run `cancelled`."""
    config, _destination = _extract_project(emulator_server, tmp_path)
    gate = _PageGate()
    async with serving(config) as served:
        auth = served.bearer(OPERATOR)
        run_id = await _started_extract(served, gate)
        page = await served.http.get("/extract", headers=auth)
        assert "Cancel extract" in page.text
        assert "records read so far" in page.text
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert csrf is not None
        pressed = await served.http.post(
            "/extract/cancel", data={"csrf_token": csrf.group(1)}, headers=auth
        )
        assert pressed.status_code == 303
        gate.go.set()
        task = served.app.state.manager._extract_task
        assert task is not None
        await task
        page = await served.http.get("/extract", headers=auth)
        assert "Cancel extract" not in page.text
        [run] = (await served.http.get("/api/v1/extract/runs", headers=auth)).json()
        assert (run["run_id"], run["status"]) == (run_id, "cancelled")


async def test_a_failing_finished_hook_does_not_leave_the_extract_running(
    emulator_server, tmp_path, caplog
):
    """A run-finished hook that raises (e.g. the scheduler's store on a full disk) is logged,
    as for syncs; the extract still ends, is recorded, and the next one can start."""
    config, _ = _extract_project(emulator_server, tmp_path)
    async with serving(config) as served:
        manager = served.app.state.manager

        def broken(_name, _status):
            raise OSError("disk full")

        manager.on_finished.insert(0, broken)
        auth = served.bearer(OPERATOR)
        started = await served.http.post("/api/v1/extract/runs", headers=auth)
        await manager._extract_task
        assert manager.extract is None
        [run] = (await served.http.get("/api/v1/extract/runs", headers=auth)).json()
        assert (run["run_id"], run["status"]) == (started.json()["run_id"], "success")
        assert "run-finished hook failed" in caplog.text
        again = await served.http.post("/api/v1/extract/runs", headers=auth)
        assert again.status_code == 202
        await manager._extract_task


async def test_an_extract_the_server_died_in_shows_the_records_it_had_read(
    emulator_server, tmp_path, monkeypatch
):
    """Its records read were kept in memory only: after a crash the run was listed
    `interrupted` with no progress at all. Now they are written as it goes (at most every
    PROGRESS_EVERY_S, the clock driven here), and the swept run keeps them."""
    import sqlite3

    from mogulsync.extract import history as extract_history
    from mogulsync.serve.scheduler import SCHEDULE_FILE

    clock = [0.0]
    monkeypatch.setattr(extract_history, "_clock", lambda: clock[0])
    config, _destination = _extract_project(emulator_server, tmp_path)
    after = tmp_path / "after"  # what a kill -9 at the first page leaves on disk
    after.mkdir()
    gate = _PageGate()
    async with serving(config) as served:
        clock[0] += extract_history.PROGRESS_EVERY_S  # the first page's write is due
        # the page asked the loop to write before it told the gate: written by now
        run_id = await _started_extract(served, gate)
        source = sqlite3.connect(f"{config.state_dir}/{SCHEDULE_FILE}")
        target = sqlite3.connect(after / SCHEDULE_FILE)
        source.backup(target)
        source.close()
        target.close()
        live = served.app.state.manager.extract
        assert live is not None
        read_then = dict(live.progress)
        gate.go.set()
        served.app.begin_shutdown()
    assert sum(read_then.values()) >= 1
    restarted = config.model_copy(update={"state_dir": str(after)})
    async with serving(restarted) as served:
        auth = served.bearer(OPERATOR)
        [run] = (await served.http.get("/api/v1/extract/runs", headers=auth)).json()
        page = await served.http.get("/extract", headers=auth)
    assert (run["run_id"], run["status"]) == (run_id, "interrupted")
    assert run["progress"] == read_then
    assert f"{sum(read_then.values())} records read before it stopped" in page.text

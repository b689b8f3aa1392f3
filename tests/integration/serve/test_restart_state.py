"""What a restarted server shows for what the last process left: runs it died in, a
second server on the same state directory, a slot due as it stopped, a long run's log.

A process killed mid-run (``kill -9``, power loss) leaves its run recorded ``running``;
the run's lock, which the OS released, tells the next server that nobody runs it now.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import subprocess
import sys

import pytest
import yaml
from tests.integration.serve._support import (
    OPERATOR,
    START,
    accounts,
    project,
    serving,
    wait_for_run,
)

from mogulsync.extract.history import ExtractRun
from mogulsync.runs import RunStore
from mogulsync.serve import api
from mogulsync.serve.clock import ManualClock
from mogulsync.serve.lock import ServeLock, ServeLockedError
from mogulsync.sync.state import SyncLock

pytestmark = pytest.mark.anyio

CUSTOMERS = {"model": "accounts", "object": "customer", "data_source": "Serve",
             "mapping": {"external_id": "id", "name": "name", "email": "email"}}  # fmt: skip


async def test_a_run_left_running_by_a_dead_process_is_interrupted_at_start(
    emulator_server, tmp_path
):
    """Unscheduled syncs never start again on their own: without the sweep their dead
    runs stayed "running" on every page for good. One held by a live process stays."""
    config = project(emulator_server, tmp_path, accounts(tmp_path, 2), syncs={"held": CUSTOMERS})
    store = RunStore(config.state_dir)
    dead = store.start("customers", full=False)  # its process was killed: never finished
    live = store.start("held", full=False)
    store.close()
    holder = SyncLock(config.state_dir, "held")  # "held" is running in another process
    holder.acquire()
    try:
        async with serving(config) as served:
            auth = served.bearer(OPERATOR)
            swept = (await served.http.get(f"/api/v1/runs/{dead.run_id}", headers=auth)).json()
            assert swept["status"] == "interrupted"
            assert swept["message"] == "the process stopped before the run ended"
            kept = (await served.http.get(f"/api/v1/runs/{live.run_id}", headers=auth)).json()
            assert kept["status"] == "running"
            listed = await served.http.get(
                "/api/v1/runs", params={"status": "running"}, headers=auth
            )
            assert [run["run_id"] for run in listed.json()] == [live.run_id]
    finally:
        holder.release()


async def test_a_second_server_on_the_same_state_dir_is_refused_and_changes_nothing(
    emulator_server, tmp_path
):
    """It would run every schedule a second time, and its start marked the first server's
    running extract ``interrupted``. Refused with exit 1 and why, before "serving"."""
    url = accounts(tmp_path, 2)
    config = project(emulator_server, tmp_path, url, tokens=False)
    raw = {"chartmogul": {"api_key": "${CM_KEY}", "base_url": emulator_server.base_url},
           "state_dir": config.state_dir, "warehouses": {"main": url},
           "models": {"accounts": {"warehouse": "main", "table": "accounts", "primary_key": "id"}},
           "syncs": {"customers": CUSTOMERS}}  # fmt: skip
    (tmp_path / "mogulsync.yml").write_text(yaml.safe_dump(raw), encoding="utf-8")
    async with serving(config) as served:
        running = ExtractRun("extract-live", "running", "2026-03-02T09:30:00+00:00")
        served.app.state.manager.extract_history.save(running)
        second = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "mogulsync", "serve", "--port", "0"],
            cwd=tmp_path, env={**os.environ, "CM_KEY": emulator_server.api_key},
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert second.returncode == 1, second.stderr
        assert f"another `mogulsync serve` (pid {os.getpid()}) is using state_dir" in second.stderr
        assert "mogulsync serve on" not in second.stderr
        kept = served.app.state.manager.extract_history.get("extract-live")
        assert kept is not None
        assert kept.status == "running"
    # the first server gave the directory back as it stopped: a restart is not refused
    lock = ServeLock(config.state_dir)
    lock.acquire()
    lock.release()


def test_the_lock_is_refused_while_held_and_free_once_released(tmp_path):
    first, second = ServeLock(tmp_path), ServeLock(tmp_path)
    first.acquire()
    with pytest.raises(ServeLockedError, match=r"pid \d+"):
        second.acquire()
    assert not second.held
    first.release()
    second.acquire()
    assert second.held
    second.release()


async def test_a_slot_due_as_the_server_stops_runs_after_the_restart(emulator_server, tmp_path):
    """SIGTERM between two due jobs' starts: the tick found the server refusing new runs
    and dropped the slot as if the job were busy (counted skipped, its next run moved
    on), so the restart did not run it. Now it stays due, and the restart runs it once."""
    config = project(
        emulator_server, tmp_path, accounts(tmp_path, 2),
        syncs={"other": {**CUSTOMERS, "schedule": {"every": "15m", "jitter": "0s"}}},
        schedule={"every": "15m", "jitter": "0s"},
        extract={"schedule": {"every": "15m", "jitter": "0s"}},
    )  # fmt: skip
    clock = ManualClock(START)
    due = START + dt.timedelta(minutes=15)
    async with serving(config, clock=clock) as served:
        scheduler = served.app.state.scheduler
        assert scheduler is not None
        clock.advance(dt.timedelta(minutes=15))
        served.app.begin_shutdown()  # SIGTERM: no new run starts
        assert await scheduler.tick() == []
        for state in scheduler.states.values():
            assert (state.next_due, state.skipped, state.last_started) == (due, 0, None)
    async with serving(config, clock=clock) as served:
        scheduler = served.app.state.scheduler
        assert scheduler is not None
        assert sorted(await scheduler.tick()) == ["customers", "extract", "other"]
        assert all(state.missed == 0 for state in scheduler.states.values())
        assert await scheduler.tick() == []  # once
        manager = served.app.state.manager
        tasks = [run.task for run in manager.active.values() if run.task is not None]
        await asyncio.gather(*tasks)
        await manager.shutdown()


async def test_a_long_finished_run_replays_only_its_latest_requests(
    emulator_server, tmp_path, monkeypatch
):
    """A finished run's stream sent its whole log: a run of 200,000 requests put 200,000
    rows into the page. Now the latest REPLAY_LIMIT, after a `skipped` event with the
    count of the older ones (which `/requests` still pages through)."""
    monkeypatch.setattr(api, "REPLAY_LIMIT", 4)
    config = project(emulator_server, tmp_path, accounts(tmp_path, 6))
    async with serving(config) as served:
        auth = served.bearer(OPERATOR)
        started = await served.http.post("/api/v1/syncs/customers/runs", headers=auth)
        run = await wait_for_run(served, started.json()["run_id"])
        total = run["api_calls"]
        assert total > 4
        body = await served.http.get(f"/api/v1/runs/{run['run_id']}/requests/stream", headers=auth)
        events = [block.splitlines() for block in body.text.strip().split("\n\n")]
        kinds = [lines[0].removeprefix("event: ") for lines in events]
        assert kinds == ["skipped", "request", "request", "request", "request", "end"]
        data = [json.loads(lines[1].removeprefix("data: ")) for lines in events]
        assert data[0] == {"skipped": total - 4}
        assert [item["seq"] for item in data[1:5]] == list(range(total - 3, total + 1))
        older = await served.http.get(
            f"/api/v1/runs/{run['run_id']}/requests", params={"limit": 1000}, headers=auth
        )
        assert [item["seq"] for item in older.json()["requests"]] == list(range(1, total + 1))

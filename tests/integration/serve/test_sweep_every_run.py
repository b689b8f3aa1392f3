"""At start the server sweeps every kind of run a dead process left ``running``.

Before, only sync runs whose lock was a file were swept: drift watches
(``reconcile:<sync>``), runs of a sync since removed from the project file and runs of a
sync whose lock is in PostgreSQL stayed ``running`` on every page until their next run,
which may never come. Each recorded run now holds its lock file in ``state_dir`` while it
goes; a free file means nobody runs it.
"""

from __future__ import annotations

import pytest
from tests.integration.serve._support import OPERATOR, Served, accounts, project, serving
from tests.integration.sync._support import engine as fast_engine

from mogulsync.config.alerts import RECONCILE_PREFIX
from mogulsync.errors import FatalError
from mogulsync.reconcile import reconcile
from mogulsync.runs import RunStore
from mogulsync.sync.engine import Progress
from mogulsync.sync.state import SyncLock, SyncLockedError

pytestmark = pytest.mark.anyio
WATCH = f"{RECONCILE_PREFIX}customers"


async def _status(served: Served, run_id: str) -> str:
    got = await served.http.get(f"/api/v1/runs/{run_id}", headers=served.bearer(OPERATOR))
    return str(got.raise_for_status().json()["status"])


async def test_dead_watches_and_removed_syncs_runs_are_swept_live_ones_kept(
    emulator_server, tmp_path
):
    config = project(emulator_server, tmp_path, accounts(tmp_path, 2))
    store = RunStore(config.state_dir)
    dead_watch = store.start(WATCH, full=False)  # its server was killed mid-watch
    removed = store.start("gone", full=False)  # a sync no longer in the project file
    live_watch = store.start(f"{RECONCILE_PREFIX}other", full=False)
    store.close()
    holder = SyncLock(config.state_dir, f"{RECONCILE_PREFIX}other")  # `reconcile --record`
    holder.acquire()  # ... going on in another process
    try:
        async with serving(config) as served:
            assert await _status(served, dead_watch.run_id) == "interrupted"
            assert await _status(served, removed.run_id) == "interrupted"
            assert await _status(served, live_watch.run_id) == "running"
    finally:
        holder.release()


async def test_a_postgres_locked_syncs_dead_run_is_swept_without_reaching_postgres(
    emulator_server, tmp_path, dead_port
):
    """The state store refuses connections: the sweep reads only the lock files."""
    state_store = {"url": f"postgresql://u@127.0.0.1:{dead_port}/state"}
    config = project(emulator_server, tmp_path, accounts(tmp_path, 2), state_store=state_store)
    store = RunStore(config.state_dir)
    dead = store.start("customers", full=False)
    store.close()
    async with serving(config) as served:
        assert await _status(served, dead.run_id) == "interrupted"


@pytest.mark.postgres
async def test_a_run_on_a_postgres_lock_holds_its_lock_file_too(
    emulator_server, tmp_path, postgres_server
):
    """What keeps the sweep off a run in progress in another process."""
    state_store = {"url": postgres_server.url, "schema": "sweep_pg"}
    config = project(emulator_server, tmp_path, accounts(tmp_path, 3), state_store=state_store)
    held: list[bool] = []

    def hook(_progress: Progress) -> None:
        probe = SyncLock(config.state_dir, "customers")
        try:
            probe.acquire()
        except SyncLockedError:
            held.append(True)
        else:
            probe.release()
            held.append(False)

    record = await fast_engine(config).run("customers", progress=hook)
    assert record.status.value == "success", record.message
    assert held
    assert all(held)
    probe = SyncLock(config.state_dir, "customers")  # given back at the end
    probe.acquire()
    probe.release()


async def test_a_drift_watch_holds_its_lock_file_and_refuses_a_second(emulator_server, tmp_path):
    config = project(emulator_server, tmp_path, accounts(tmp_path, 2))
    holder = SyncLock(config.state_dir, WATCH)  # a watch of customers in another process
    holder.acquire()
    try:
        with pytest.raises(FatalError, match=r"drift watch\) of `customers` is already running"):
            await reconcile(config, "customers", record=True)
    finally:
        holder.release()
    report = await reconcile(config, "customers", record=True)
    assert report.run_id
    store = RunStore(config.state_dir)
    try:
        assert store.get(report.run_id).status.value == "partial"  # 2 rows missing
    finally:
        store.close()

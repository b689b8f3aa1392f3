"""`mogulsync serve` sends again, on its scheduler tick, the alerts a channel did not take,
once their back-off (read from the driven clock) is over; the Runs API lists each attempt."""

from __future__ import annotations

import datetime as dt

import pytest
import stamina
from tests.integration.ops._receivers import HttpReceiver
from tests.integration.serve._support import OPERATOR, project, serving, wait_for_run
from tests.integration.sync._support import make_warehouse

from mogulsync.runs import RunStore
from mogulsync.serve.clock import ManualClock

pytestmark = pytest.mark.anyio
START = dt.datetime(2026, 3, 2, 6, 0, tzinfo=dt.UTC)
HOOK_TOKEN = "hook-token-0123456789-never-shown"


async def test_serve_retries_a_refused_alert_on_a_tick_once_it_is_due(emulator_server, tmp_path):
    url = make_warehouse(
        tmp_path / "w.duckdb",
        [
            "create table accounts(id varchar, name varchar, email varchar)",
            "insert into accounts values ('a1','Acme','bad')",
        ],
    )
    hook = f"/hook/{HOOK_TOKEN}"
    alerts = {
        "channels": {"hook": {"type": "webhook", "url": "${HOOK}"}},
        "rules": [{"failed_rows": {"count": 1}}],
        "attempts": 1,
    }
    clock = ManualClock(START)
    with stamina.set_testing(True, attempts=1), HttpReceiver() as http:
        config = project(
            emulator_server,
            tmp_path,
            url,
            schedule={"every": "1d", "jitter": "0s"},
            env={"HOOK": f"{http.url}{hook}"},
            alerts=alerts,
        )
        async with serving(config, clock=clock) as served:
            app = served.app
            app.state.manager.engine.alerts.now = clock.now  # alerts read the driven clock
            scheduler = app.state.scheduler
            assert scheduler is not None
            http.refuse = {"/hook"}
            active = await app.state.manager.start_sync("customers")
            failing = await wait_for_run(served, active.record.run_id)
            assert failing["status"] == "partial"
            http.refuse = set()

            clock.advance(dt.timedelta(seconds=30))  # within the first back-off (60 s)
            await scheduler.tick()
            if app.alert_retries.task is not None:
                await app.alert_retries.task
            assert http.bodies(hook) == []

            clock.advance(dt.timedelta(seconds=45))
            await scheduler.tick()
            assert app.alert_retries.task is not None
            await app.alert_retries.task
            clock.advance(dt.timedelta(hours=2))  # due again? nothing waits any more
            await scheduler.tick()
            await app.alert_retries.task
            listed = (
                await served.http.get(
                    "/api/v1/syncs/customers/alerts", headers=served.bearer(OPERATOR)
                )
            ).json()
        bodies = http.bodies(hook)
    assert [(b["event"], b["run_id"]) for b in bodies] == [("failed_rows", failing["run_id"])]
    assert len(http.refused) == 1
    store = RunStore(config.state_dir)
    try:
        assert store.alert_retries() == []
    finally:
        store.close()
    assert [(d["run_id"], d["outcome"]) for d in reversed(listed)] == [
        (failing["run_id"], "failed"),
        (failing["run_id"], "delivered"),
    ]
    assert HOOK_TOKEN not in str(listed)

"""``--log-format json`` inside ``mogulsync serve``: each run's lines carry that run's id.

Two syncs run at once in the server's loop while ChartMogul answers every request with a
500: each run's client retries, warns on one of the run's request tasks that ChartMogul is
not answering (the outage breaker), and the run ends failed; its alert goes to a channel
nobody listens on, which the run logs as a warning. Every such line must carry that run's
id, never the other's; a line of no run keeps null.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Sequence
from typing import Any

import httpx
import pytest
from tests.integration.serve._support import (
    OPERATOR,
    START,
    accounts,
    project,
    serving,
    wait_for_run,
)
from tests.integration.sync._support import FAST_RETRY

from mogulsync import logs
from mogulsync.chartmogul import ChartMogulClient, ClientSettings
from mogulsync.chartmogul.outage import OutageBreaker
from mogulsync.config import AppConfig
from mogulsync.serve.clock import ManualClock
from mogulsync.sync.engine import SyncEngine

pytestmark = pytest.mark.anyio

OUTAGE_WARNING = "ChartMogul is not answering"


class _HeldTransport(httpx.AsyncBaseTransport):
    """Holds every request until both runs have started, so their requests interleave."""

    def __init__(self, both_started: asyncio.Event) -> None:
        self._both_started = both_started
        self._inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await self._both_started.wait()
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


class _HeldEngine(SyncEngine):
    """The real engine (with its outage breaker); requests wait until both runs started."""

    def __init__(self, config: AppConfig, both_started: asyncio.Event) -> None:
        settings = ClientSettings(
            api_key=config.chartmogul.api_key, base_url=config.chartmogul.base_url,
            rate_limit=10_000, max_in_flight=20, retry=FAST_RETRY,
        )  # fmt: skip
        super().__init__(config, settings=settings)
        self.both_started = both_started

    def client(self, hooks: Sequence[Any] = ()) -> ChartMogulClient:
        """A client whose requests wait for the second run to start."""
        breaker = OutageBreaker(self.settings.base_url, window_s=self.outage_window_s)
        return ChartMogulClient(
            self.settings,
            request_hooks=hooks,
            transport=_HeldTransport(self.both_started),
            breaker=breaker,
        )


async def test_concurrent_runs_label_their_own_lines(
    emulator_server, admin, tmp_path, json_logs, dead_port
):
    other = {"model": "accounts", "object": "customer", "data_source": "Other",
             "mapping": {"external_id": "id", "name": "name"}}  # fmt: skip
    dead = f"http://127.0.0.1:{dead_port}/nobody-listens"
    alerts = {"channels": {"down": {"type": "webhook", "url": "${DOWN}"}}, "attempts": 1}
    config = project(
        emulator_server,
        tmp_path,
        accounts(tmp_path, 3),
        syncs={"others": other},
        env={"DOWN": dead},
        alerts=alerts,
    )
    admin.patch("/faults", json={"error_rate": 1.0, "error_statuses": [500]}).raise_for_status()
    both_started = asyncio.Event()
    async with serving(config, engine=_HeldEngine(config, both_started)) as served:
        headers = served.bearer(OPERATOR)
        run_ids = {}
        for name in ("customers", "others"):
            started = await served.http.post(f"/api/v1/syncs/{name}/runs", headers=headers)
            run_ids[name] = started.raise_for_status().json()["run_id"]
        both_started.set()
        for run_id in run_ids.values():
            assert (await wait_for_run(served, run_id))["status"] == "failed"
        # a line of no run, written after both runs ended: run_id null
        logs.emit("after_runs")
    lines = [json.loads(line) for line in json_logs.readouterr().err.splitlines()]
    assert lines
    by_run: dict[str | None, list[dict[str, Any]]] = {}
    for line in lines:
        by_run.setdefault(line["run_id"], []).append(line)
    assert set(by_run) <= {*run_ids.values(), None}
    for name, run_id in run_ids.items():
        own = by_run.get(run_id, [])
        messages = [line.get("message", "") for line in own]
        # the client's outage warning, logged on a request task of this run
        assert any(OUTAGE_WARNING in message for message in messages), (name, messages)
        # the alert that could not be delivered, logged as the run ends
        assert any(
            f"run {run_id} of {name}: alert to channel `down` not delivered" in message
            for message in messages
        ), (name, messages)
        # nothing that names the other run is labelled as this one
        other_id = next(rid for n, rid in run_ids.items() if n != name)
        assert not any(other_id in message for message in messages)
    unlabelled = [line for line in by_run.get(None, []) if line.get("message")]
    assert not any(OUTAGE_WARNING in line["message"] for line in unlabelled)
    assert any(line["event"] == "after_runs" for line in by_run[None])


async def test_a_scheduled_reconcile_labels_its_lines(
    emulator_server, tmp_path, json_logs, dead_port
):
    """A drift watch's warnings (an undeliverable drift alert) carry the reconcile's run id."""
    dead = f"http://127.0.0.1:{dead_port}/nobody-listens"
    alerts = {
        "channels": {"down": {"type": "webhook", "url": "${DOWN}"}},
        "rules": [{"syncs": ["customers"], "drift": {"count": 1}}],
        "attempts": 1,
    }
    config = project(
        emulator_server,
        tmp_path,
        accounts(tmp_path, 3),
        customers_extra={"reconcile": {"schedule": {"every": "1h", "jitter": "0s"}}},
        env={"DOWN": dead},
        alerts=alerts,
    )
    clock = ManualClock(START)
    async with serving(config, clock=clock) as served:
        scheduler = served.app.state.scheduler
        assert scheduler is not None
        await scheduler.tick()
        clock.advance(dt.timedelta(hours=1))
        assert await scheduler.tick() == ["reconcile:customers"]
        await asyncio.gather(*served.app.reconciles.values())
        runs = (await served.http.get("/api/v1/runs", headers=served.bearer(OPERATOR))).json()
    (watch,) = [r["run_id"] for r in runs if r["sync"] == "reconcile:customers"]
    lines = [json.loads(line) for line in json_logs.readouterr().err.splitlines()]
    warnings = [line for line in lines if "reconcile of customers" in line.get("message", "")]
    assert warnings
    assert {line["run_id"] for line in warnings} == {watch}

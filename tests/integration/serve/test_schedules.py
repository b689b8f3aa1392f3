"""Schedules through the running server: a driven clock starts real runs; after: chains;
``mogulsync schedule`` lists the next runs."""

from __future__ import annotations

import asyncio
import datetime as dt
import json

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families
from tests.integration.serve._support import OPERATOR, START, accounts, project, serving
from typer.testing import CliRunner

from mogulsync.cli import app
from mogulsync.serve.clock import ManualClock

pytestmark = pytest.mark.anyio


async def _idle(served) -> None:
    """Wait until no run is active (each run's task is awaited, no sleeping)."""
    manager = served.app.state.manager
    while manager.active:
        await asyncio.wait([run.task for run in manager.active.values() if run.task])
        await asyncio.sleep(0)


async def test_a_due_schedule_runs_the_sync_and_after_chains_follow(emulator_server, tmp_path):
    """customers every 15m; contacts-like child `again` after it: both run, in order."""
    url = accounts(tmp_path, 3)
    syncs = {"again": {"model": "accounts", "object": "customer", "data_source": "Serve",
                       "mapping": {"external_id": "id", "name": "name"},
                       "schedule": {"after": ["customers"]}}}  # fmt: skip
    config = project(
        emulator_server, tmp_path, url, syncs=syncs, schedule={"every": "15m", "jitter": "0s"}
    )
    clock = ManualClock(START)
    async with serving(config, clock=clock) as served:
        scheduler = served.app.state.scheduler
        assert scheduler is not None
        listing = (await served.http.get("/api/v1/syncs", headers=served.bearer(OPERATOR))).json()
        by_name = {item["name"]: item for item in listing}
        assert by_name["customers"]["schedule"] == "every 15m"
        assert by_name["customers"]["next_run_at"] == (START + dt.timedelta(minutes=15)).isoformat()
        assert by_name["again"]["schedule"] == "after customers"
        assert by_name["again"]["next_run_at"] is None
        assert await scheduler.tick() == []
        clock.advance(dt.timedelta(minutes=15))
        assert await scheduler.tick() == ["customers"]
        await _idle(served)
        assert await scheduler.tick() == ["again"]  # its parent succeeded
        await _idle(served)
        runs = (await served.http.get("/api/v1/runs", headers=served.bearer(OPERATOR))).json()
        assert [(r["sync"], r["status"]) for r in runs] == [
            ("again", "success"),
            ("customers", "success"),
        ]
        text = (await served.http.get("/metrics", headers=served.bearer(OPERATOR))).text
    samples = {
        (sample.name, sample.labels.get("job")): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    next_due = START + dt.timedelta(minutes=30)
    assert samples["mogulsync_schedule_next_run_timestamp_seconds", "customers"] == (
        next_due.timestamp()
    )
    assert samples["mogulsync_schedule_lag_seconds", "customers"] == 0.0
    assert samples["mogulsync_runs_total", None] == 2.0


def test_schedule_command_lists_jobs_and_next_runs(tmp_path, monkeypatch):
    """`mogulsync schedule --json` lists each schedule with its next run, and what has none."""
    config = {
        "chartmogul": {"api_key": "${CM_KEY}"},
        "warehouses": {"main": "duckdb:///w.duckdb"},
        "models": {"m": {"warehouse": "main", "table": "t", "primary_key": "id"}},
        "syncs": {
            "customers": {"model": "m", "object": "customer",
                          "schedule": {"cron": "0 6 * * *", "timezone": "Asia/Tokyo",
                                       "jitter": "0s"}},
            "plans": {"model": "m", "object": "plan", "schedule": {"after": ["customers"]}},
            "contacts": {"model": "m", "object": "contact"},
        },
    }  # fmt: skip
    (tmp_path / "mogulsync.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CM_KEY", "k" * 20)
    result = CliRunner().invoke(app, ["schedule", "--json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    jobs = {job["name"]: job for job in body["jobs"]}
    assert jobs["customers"]["schedule"] == "cron 0 6 * * * (Asia/Tokyo)"
    due = dt.datetime.fromisoformat(jobs["customers"]["next_run_at"])
    assert (due.hour, due.minute) == (21, 0)  # 06:00 in Tokyo is 21:00 UTC the day before
    assert jobs["plans"]["next_run_at"] is None
    assert body["unscheduled"] == ["contacts"]
    table = CliRunner().invoke(app, ["schedule"])
    assert "when its parents succeed" in table.output


def test_schedule_command_without_schedules_says_how_to_add_one(tmp_path, monkeypatch):
    """No job scheduled: no bare table header but a note naming the file, an example and the
    docs (exit 0); the syncs left to `sync run` are still listed, and --json is unchanged."""
    config = {
        "chartmogul": {"api_key": "${CM_KEY}"},
        "warehouses": {"main": "duckdb:///w.duckdb"},
        "models": {"m": {"warehouse": "main", "table": "t", "primary_key": "id"}},
        "syncs": {"contacts": {"model": "m", "object": "contact"}},
    }
    (tmp_path / "mogulsync.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CM_KEY", "k" * 20)
    result = CliRunner().invoke(app, ["schedule"])
    assert result.exit_code == 0, result.output
    note = " ".join(result.stderr.split())
    assert "no schedules in mogulsync.yml" in note
    assert "`schedule: {every: 1h}`" in note
    assert "docs/serve.md#schedules" in note
    assert "next run" not in result.stdout  # no empty table
    assert "Not scheduled (run with `mogulsync sync run`): contacts" in result.stdout
    listed = CliRunner().invoke(app, ["schedule", "--json"])
    assert json.loads(listed.stdout) == {"jobs": [], "unscheduled": ["contacts"]}


async def test_a_scheduled_drift_watch_records_a_reconcile(emulator_server, tmp_path):
    """`reconcile: {schedule: ...}` on a sync: the server runs a recorded reconcile on time."""
    url = accounts(tmp_path, 3)
    config = project(
        emulator_server,
        tmp_path,
        url,
        customers_extra={"reconcile": {"schedule": {"every": "1h", "jitter": "0s"}}},
    )
    clock = ManualClock(START)
    async with serving(config, clock=clock) as served:
        scheduler = served.app.state.scheduler
        assert scheduler is not None
        assert await scheduler.tick() == []
        clock.advance(dt.timedelta(hours=1))
        assert await scheduler.tick() == ["reconcile:customers"]
        await asyncio.gather(*served.app.reconciles.values())
        # a watch never overlaps itself: a second start while one runs is refused
        assert served.app._start_reconcile("customers") is True
        assert served.app._start_reconcile("customers") is False
        await asyncio.gather(*served.app.reconciles.values())
        runs = (await served.http.get("/api/v1/runs", headers=served.bearer(OPERATOR))).json()
    # nothing was synced yet: the 3 rows are missing from ChartMogul
    watches = [r for r in runs if r["sync"] == "reconcile:customers"]
    assert [w["status"] for w in watches] == ["partial", "partial"]
    assert watches[0]["rows"]["added"] == 3


async def test_a_restart_remembers_which_parents_of_an_after_chain_succeeded(
    emulator_server, tmp_path
):
    """`child` after [customers, other]: customers succeeds, the server restarts, other
    succeeds: the child runs (the first parent's success survived the restart)."""
    url = accounts(tmp_path, 2)
    mapping = {"external_id": "id", "name": "name"}
    syncs = {
        "other": {"model": "accounts", "object": "customer", "data_source": "Serve",
                  "mapping": mapping},
        "child": {"model": "accounts", "object": "customer", "data_source": "Serve",
                  "mapping": mapping, "schedule": {"after": ["customers", "other"]}},
    }  # fmt: skip
    config = project(
        emulator_server, tmp_path, url, syncs=syncs, schedule={"every": "15m", "jitter": "0s"}
    )
    clock = ManualClock(START)
    async with serving(config, clock=clock) as served:
        scheduler = served.app.state.scheduler
        assert scheduler is not None
        clock.advance(dt.timedelta(minutes=15))
        assert await scheduler.tick() == ["customers"]
        await _idle(served)
        assert await scheduler.tick() == []  # `other` has not run yet
    # the server stops here: the child has one of its two parents' successes
    async with serving(config, clock=clock) as served:
        scheduler = served.app.state.scheduler
        assert scheduler is not None
        assert scheduler.states["child"].parents_done == {"customers"}
        assert await scheduler.tick() == []
        started = await served.http.post(
            "/api/v1/syncs/other/runs", headers=served.bearer(OPERATOR)
        )
        assert started.status_code == 202
        await _idle(served)
        assert await scheduler.tick() == ["child"]
        await _idle(served)
        assert scheduler.states["child"].parents_done == set()
    # and once started, the child waits for both parents again, after a restart too
    async with serving(config, clock=clock) as served:
        scheduler = served.app.state.scheduler
        assert scheduler is not None
        assert scheduler.states["child"].parents_done == set()
        assert await scheduler.tick() == []

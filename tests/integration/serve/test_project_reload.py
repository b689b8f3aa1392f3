"""Reloading the project file while serving (`POST /api/v1/project/reload`): schedules
rebuilt (added, changed, removed; a pause kept), new syncs usable, removed ones gone; an
invalid file or one changing what only a restart applies changes nothing; a run in flight
finishes with the configuration it started with. Real HTTP to the server and the
emulator, a driven clock; no sleeping."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.integration.serve._support import (
    OPERATOR,
    START,
    VIEWER,
    Gate,
    GatedEngine,
    accounts,
    serving,
    wait_for_run,
)

from mogulsync.config import load_config
from mogulsync.serve.clock import ManualClock
from mogulsync.serve.scheduler import ScheduleStore

pytestmark = pytest.mark.anyio
ADMIN = "admin-token-0123456789abcdef0000"
QUARTER = dt.timedelta(minutes=15)


def raw_project(server: Any, tmp_path: Path, url: str, **syncs: dict[str, Any]) -> dict[str, Any]:
    """A project file's mapping: model ``accounts``, sync ``customers`` (plus ``syncs``)."""
    customers = {"model": "accounts", "object": "customer", "data_source": "Serve",
                 "mapping": {"external_id": "id", "name": "name", "email": "email"}}  # fmt: skip
    return {
        "chartmogul": {"api_key": "${CM_KEY}", "base_url": server.base_url},
        "state_dir": str(tmp_path / "state"),
        "warehouses": {"main": url},
        "models": {"accounts": {"warehouse": "main", "table": "accounts", "primary_key": "id"}},
        "syncs": {"customers": customers, **syncs},
        "serve": {"tokens": [{"token": "${ADMIN_TOKEN}", "role": "admin"},
                             {"token": "${OP_TOKEN}", "role": "operator"},
                             {"token": "${VIEW_TOKEN}", "role": "viewer"}]},
    }  # fmt: skip


def write(path: Path, raw: dict[str, Any]) -> None:
    """Write the project file (as a person editing it on disk would)."""
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")


@pytest.fixture
def env(emulator_server, monkeypatch) -> None:
    """The variables the project file references (serve checks them all)."""
    monkeypatch.setenv("CM_KEY", emulator_server.api_key)
    monkeypatch.setenv("ADMIN_TOKEN", ADMIN)
    monkeypatch.setenv("OP_TOKEN", OPERATOR)
    monkeypatch.setenv("VIEW_TOKEN", VIEWER)


def every(interval: str) -> dict[str, str]:
    return {"every": interval, "jitter": "0s"}


async def test_reload_adds_changes_and_removes_schedules_and_syncs(emulator_server, tmp_path, env):
    url = accounts(tmp_path, 2)
    path = tmp_path / "mogulsync.yml"
    raw = raw_project(emulator_server, tmp_path, url)
    raw["syncs"]["customers"]["schedule"] = every("15m")
    raw["syncs"]["others"] = {**raw["syncs"]["customers"], "data_source": "Others"}
    del raw["syncs"]["others"]["schedule"]
    write(path, raw)
    clock = ManualClock(START)
    async with serving(load_config(path), clock=clock, config_path=path) as served:
        admin = served.bearer(ADMIN)
        scheduler = served.app.state.scheduler
        assert scheduler is not None
        assert scheduler.next_runs() == {"customers": START + QUARTER}
        paused = await served.http.post("/api/v1/schedules/customers/pause", headers=admin)
        assert paused.status_code == 200  # an admin may do what an operator may
        clock.advance(dt.timedelta(minutes=5))

        # customers every 30m (changed), others every 1h (added)
        raw["syncs"]["customers"]["schedule"] = every("30m")
        raw["syncs"]["others"]["schedule"] = every("1h")
        write(path, raw)
        reloaded = await served.http.post("/api/v1/project/reload", headers=admin)
        assert reloaded.status_code == 200, reloaded.text
        body = reloaded.json()
        assert body["applied"] is True
        assert body["schedules"] == {"added": ["others"], "changed": ["customers"], "removed": []}
        assert body["syncs"] == {"added": [], "changed": ["customers", "others"], "removed": []}
        scheduler = served.app.state.scheduler
        assert scheduler.paused() == {"customers": START}  # the pause outlives the change
        assert scheduler.next_runs() == {"customers": None, "others": clock.now() + 4 * QUARTER}
        resumed = await served.http.post("/api/v1/schedules/customers/resume", headers=admin)
        assert resumed.json()["next_run_at"] == (clock.now() + 2 * QUARTER).isoformat()
        others_due = scheduler.next_runs()["others"]

        # a new sync `third` on a cron; `others` removed (its schedule with it)
        raw["syncs"]["third"] = {**raw["syncs"].pop("others"), "data_source": "Third",
                                 "schedule": {"cron": "0 12 * * *", "jitter": "0s"}}  # fmt: skip
        write(path, raw)
        reloaded = (await served.http.post("/api/v1/project/reload", headers=admin)).json()
        assert reloaded["syncs"] == {"added": ["third"], "changed": [], "removed": ["others"]}
        assert reloaded["schedules"] == {"added": ["third"], "changed": [], "removed": ["others"]}
        assert others_due is not None
        assert scheduler.next_runs() == {
            "customers": clock.now() + 2 * QUARTER,  # unchanged: its plan goes on
            "third": dt.datetime(2026, 3, 2, 12, 0, tzinfo=dt.UTC),
        }
        listed = (await served.http.get("/api/v1/syncs", headers=admin)).json()
        assert [sync["name"] for sync in listed] == ["customers", "third"]
        gone = await served.http.post("/api/v1/syncs/others/runs", headers=admin)
        assert gone.status_code == 404

        # the new sync's schedule runs, driven by the clock
        clock.advance(dt.timedelta(hours=3))
        assert sorted(await scheduler.tick()) == ["customers", "third"]
        run = served.app.state.manager.active["third"]
        finished = await wait_for_run(served, run.run_id, ADMIN)
        assert finished["status"] == "success"
        assert finished["rows"]["added"] == 2
    store = ScheduleStore(tmp_path / "state")
    try:  # a removed job is forgotten, as a restart forgets it
        assert store.load("others", '{"anything": 1}') is None
        assert store.paused_since("others") is None
        rows = store._db.execute("SELECT name FROM jobs ORDER BY name").fetchall()
        assert rows == [("customers",), ("third",)]
    finally:
        store.close()


async def test_a_first_schedule_added_by_a_reload_starts_the_scheduler(
    emulator_server, tmp_path, env
):
    path = tmp_path / "mogulsync.yml"
    raw = raw_project(emulator_server, tmp_path, accounts(tmp_path, 1))
    write(path, raw)
    clock = ManualClock(START)
    async with serving(load_config(path), clock=clock, config_path=path) as served:
        assert served.app.state.scheduler is None  # nothing scheduled: no scheduler
        raw["syncs"]["customers"]["schedule"] = every("1h")
        write(path, raw)
        reloaded = await served.http.post("/api/v1/project/reload", headers=served.bearer(ADMIN))
        assert reloaded.json()["schedules"]["added"] == ["customers"]
        scheduler = served.app.state.scheduler
        assert scheduler is not None
        assert scheduler.next_runs() == {"customers": START + dt.timedelta(hours=1)}
        listed = (await served.http.get("/api/v1/schedules", headers=served.bearer(VIEWER))).json()
        assert [job["job"] for job in listed] == ["customers"]


async def test_an_invalid_file_changes_nothing_and_lists_every_problem(
    emulator_server, tmp_path, env
):
    path = tmp_path / "mogulsync.yml"
    raw = raw_project(emulator_server, tmp_path, accounts(tmp_path, 1))
    raw["syncs"]["customers"]["schedule"] = every("15m")
    write(path, raw)
    clock = ManualClock(START)
    async with serving(load_config(path), clock=clock, config_path=path) as served:
        before = served.app.state.config
        scheduler = served.app.state.scheduler
        assert scheduler is not None
        text = path.read_text()
        broken = (
            text.replace("every: 15m", "cron: 61 * * * *")
            .replace("model: accounts", "model: nosuch")
            .replace("${CM_KEY}", "${MOGULSYNC_TEST_NOT_SET}")
        )
        path.write_text(broken)
        reloaded = await served.http.post("/api/v1/project/reload", headers=served.bearer(ADMIN))
        assert reloaded.status_code == 422
        body = reloaded.json()
        assert body["applied"] is False
        assert "nothing was reloaded" in body["error"]
        lines = broken.splitlines()
        found = {problem["path"]: problem for problem in body["problems"]}
        assert set(found) == {
            "chartmogul.api_key",
            "syncs.customers.model",
            "syncs.customers.schedule.cron",
        }
        for where, problem in found.items():  # each on the line its key is on
            key = where.rsplit(".", 1)[1]
            assert lines[problem["line"] - 1].strip().startswith(f"{key}:"), problem
        assert "MOGULSYNC_TEST_NOT_SET is not set" in found["chartmogul.api_key"]["message"]
        assert served.app.state.config is before
        assert served.app.state.manager.config is before
        assert scheduler.next_runs() == {"customers": START + QUARTER}

        path.write_text("syncs: [unclosed\n")  # not YAML at all: PyYAML's line
        reloaded = await served.http.post("/api/v1/project/reload", headers=served.bearer(ADMIN))
        assert reloaded.status_code == 422
        (problem,) = reloaded.json()["problems"]
        assert problem["line"] == 2
        assert served.app.state.config is before


async def test_what_only_a_restart_applies_is_said_and_nothing_is_half_applied(
    emulator_server, tmp_path, env, monkeypatch
):
    path = tmp_path / "mogulsync.yml"
    raw = raw_project(emulator_server, tmp_path, accounts(tmp_path, 1))
    raw["syncs"]["customers"]["schedule"] = every("15m")
    write(path, raw)
    clock = ManualClock(START)
    async with serving(load_config(path), clock=clock, config_path=path) as served:
        before = served.app.state.config
        monkeypatch.setenv("NEW_TOKEN", "another-token-0123456789abcdef")
        raw["serve"]["port"] = 9999
        raw["serve"]["tokens"].append({"token": "${NEW_TOKEN}", "role": "admin"})
        raw["state_dir"] = str(tmp_path / "elsewhere")
        raw["syncs"]["customers"]["schedule"] = every("1h")  # would apply live, alone
        write(path, raw)
        reloaded = await served.http.post("/api/v1/project/reload", headers=served.bearer(ADMIN))
        assert reloaded.status_code == 409
        body = reloaded.json()
        assert body["restart_required"] == ["serve.port", "serve.tokens", "state_dir"]
        assert body["error"].startswith("restart serve to apply: serve.port, serve.tokens")
        assert served.app.state.config is before
        assert served.app.state.scheduler.next_runs() == {"customers": START + QUARTER}
        refused = await served.http.get(
            "/api/v1/syncs", headers=served.bearer("another-token-0123456789abcdef")
        )
        assert refused.status_code == 401  # the new token is not live
        assert "another-token" not in reloaded.text
        shown = (await served.http.get("/api/v1/project", headers=served.bearer(ADMIN))).json()
        assert shown["applied"] is False  # the file on disk is not what runs
        page = await served.http.get("/settings", headers=served.bearer(ADMIN))
        assert 'id="not-applied"' in page.text


async def test_a_run_in_flight_finishes_with_the_configuration_it_started_with(
    emulator_server, tmp_path, env, api
):
    path = tmp_path / "mogulsync.yml"
    raw = raw_project(emulator_server, tmp_path, accounts(tmp_path, 3))
    raw["syncs"]["customers"]["bulk"] = "off"
    write(path, raw)
    config = load_config(path)
    gate = Gate()
    async with serving(config, engine=GatedEngine(config, gate), config_path=path) as served:
        admin = served.bearer(ADMIN)
        started = await served.http.post("/api/v1/syncs/customers/runs", headers=admin)
        run_id = started.json()["run_id"]
        await gate.reached.wait()  # the run is sending its first write: mid-run

        # the name now comes from the email column; the data source is another one
        raw["syncs"]["customers"]["mapping"]["name"] = "email"
        write(path, raw)
        reloaded = await served.http.post("/api/v1/project/reload", headers=admin)
        assert reloaded.json()["syncs"]["changed"] == ["customers"]
        gate.release()
        assert (await wait_for_run(served, run_id, ADMIN))["status"] == "success"
        names = sorted(c["name"] for c in api.get("/customers").json()["entries"])
        assert names == ["Account 0", "Account 1", "Account 2"]  # the old mapping

        # the next run is the new configuration's
        again = await served.http.post("/api/v1/syncs/customers/runs", headers=admin)
        assert (await wait_for_run(served, again.json()["run_id"], ADMIN))["status"] == "success"
        names = sorted(c["name"] for c in api.get("/customers").json()["entries"])
        assert names == ["a0@example.com", "a1@example.com", "a2@example.com"]


async def test_reload_needs_the_admin_role(emulator_server, tmp_path, env):
    path = tmp_path / "mogulsync.yml"
    write(path, raw_project(emulator_server, tmp_path, accounts(tmp_path, 1)))
    async with serving(load_config(path), config_path=path) as served:
        for token in (VIEWER, OPERATOR):
            refused = await served.http.post("/api/v1/project/reload", headers=served.bearer(token))
            assert refused.status_code == 403
            assert "admin role" in refused.json()["error"]
        nobody = await served.http.post("/api/v1/project/reload")
        assert nobody.status_code == 401
        schema = (await served.http.get("/api/openapi.json")).json()
        assert {"/api/v1/project", "/api/v1/project/reload", "/api/v1/project/validate",
                "/api/v1/project/versions"} <= set(schema["paths"])  # fmt: skip


async def test_a_reload_waits_for_the_tick_in_progress(tmp_path):
    """A job removed while the tick was starting it stays removed: the tick does not save it
    back into schedule.sqlite (a reload replaces the jobs between ticks)."""

    from mogulsync.config.serve import ScheduleConfig
    from mogulsync.serve.schedule import Job
    from mogulsync.serve.scheduler import Scheduler

    clock = ManualClock(START)
    store = ScheduleStore(tmp_path)
    starting = asyncio.Event()
    release = asyncio.Event()

    async def launch(_job: Job, _reason: str) -> bool:
        starting.set()
        await release.wait()
        return True

    old = Job("old", "sync", ScheduleConfig(every="15m", jitter="0s"))
    kept = Job("kept", "sync", ScheduleConfig(every="1h", jitter="0s"))
    scheduler = Scheduler([old, kept], clock, store, launch)
    try:
        clock.advance(QUARTER)
        tick = asyncio.create_task(scheduler.tick())
        await starting.wait()  # the tick is starting `old`

        async def reload() -> dict[str, list[str]]:
            async with scheduler.jobs_lock:
                return scheduler.replace_jobs([kept])

        replacing = asyncio.create_task(reload())
        await asyncio.sleep(0)  # the reload asks for the lock: it must wait for the tick
        assert not replacing.done()
        release.set()
        assert await tick == ["old"]
        assert (await replacing)["removed"] == ["old"]
        rows = store._db.execute("SELECT name FROM jobs ORDER BY name").fetchall()
        assert rows == [("kept",)]
        assert list(scheduler.states) == ["kept"]
    finally:
        store.close()


async def test_connection_limits_need_a_restart_without_events_too(emulator_server, tmp_path, env):
    """``events.limits`` guard every connection of serve's port (header and body timeouts,
    header and connection caps), bound when it starts listening: a reload cannot say it
    applied them."""
    path = tmp_path / "mogulsync.yml"
    raw = raw_project(emulator_server, tmp_path, accounts(tmp_path, 1))
    write(path, raw)
    async with serving(load_config(path), config_path=path) as served:
        before = served.app.state.config
        raw["events"] = {"limits": {"max_connections": 5, "header_timeout_s": 1.0}}
        write(path, raw)
        reloaded = await served.http.post("/api/v1/project/reload", headers=served.bearer(ADMIN))
        assert reloaded.status_code == 409, reloaded.text
        assert reloaded.json()["restart_required"] == ["events.limits"]
        assert served.app.state.config is before


async def test_with_events_running_their_settings_need_a_restart(
    emulator_server, tmp_path, env, monkeypatch
):
    monkeypatch.setenv("WRITE_KEY", "write-key-0123456789")
    path = tmp_path / "mogulsync.yml"
    raw = raw_project(emulator_server, tmp_path, accounts(tmp_path, 1))
    raw["events"] = {"write_keys": ["${WRITE_KEY}"]}
    write(path, raw)
    async with serving(load_config(path), config_path=path) as served:
        admin = served.bearer(ADMIN)
        before = served.app.state.config
        for key, value, said in (
            (("events", "data_source"), "Other", "events"),
            (
                ("chartmogul", "base_url"),
                "https://chartmogul.invalid",
                "chartmogul (the events forwarder's)",
            ),
            (("chartmogul", "rate_limit"), 80.0, "chartmogul.rate_limit (raised)"),
        ):
            changed = yaml.safe_load(yaml.safe_dump(raw))
            changed[key[0]][key[1]] = value
            write(path, changed)
            reloaded = await served.http.post("/api/v1/project/reload", headers=admin)
            assert reloaded.status_code == 409
            assert said in reloaded.json()["restart_required"]
            assert served.app.state.config is before
        raw["syncs"]["customers"]["data_source"] = "Renamed"  # read per run: applies live
        raw["chartmogul"]["json_import_timeout_s"] = 60.0  # the forwarder does not use it
        write(path, raw)
        reloaded = await served.http.post("/api/v1/project/reload", headers=admin)
        assert reloaded.status_code == 200, reloaded.text
        assert served.app.state.config.syncs["customers"].data_source == "Renamed"


async def test_an_extract_in_flight_alerts_by_the_configuration_it_started_with(
    emulator_server, tmp_path, env, monkeypatch, api
):
    """The extract's success notice goes to the channel of its start, not to the one a
    reload swapped in meanwhile (its alerts were read at its end from the server's
    configuration of then)."""
    from tests.integration.ops._receivers import HttpReceiver

    api.post("/data_sources", json={"name": "Extracted"}).raise_for_status()  # a page to read
    with HttpReceiver() as receiver:
        monkeypatch.setenv("HOOK_A", f"{receiver.url}/a")
        monkeypatch.setenv("HOOK_B", f"{receiver.url}/b")
        path = tmp_path / "mogulsync.yml"
        raw = raw_project(emulator_server, tmp_path, accounts(tmp_path, 1))
        raw["extract"] = {"destination": f"duckdb:///{tmp_path / 'cm.duckdb'}",
                          "streams": ["data_sources"], "mode": "overwrite"}  # fmt: skip
        raw["alerts"] = {"channels": {"ops": {"type": "webhook", "url": "${HOOK_A}"}},
                         "rules": [{"on_success": True}]}  # fmt: skip
        write(path, raw)
        async with serving(load_config(path), config_path=path) as served:
            manager = served.app.state.manager
            reading, go_on = threading.Event(), threading.Event()

            def hold(_stream: str, _records: int) -> None:  # in the extract's thread
                reading.set()
                go_on.wait()

            manager.on_extract_page.append(hold)
            admin = served.bearer(ADMIN)
            try:
                await _reload_mid_extract(served, manager, raw, path, reading)
            finally:
                go_on.set()  # the extract's thread is never left waiting
            task = manager._extract_task
            assert task is not None
            await task
            assert [path for path, _ in receiver.posts] == ["/a"]

            manager.on_extract_page.clear()
            again = await served.http.post("/api/v1/extract/runs", headers=admin)
            assert again.status_code == 202
            await manager._extract_task
            assert [path for path, _ in receiver.posts] == ["/a", "/b"]


async def _reload_mid_extract(served, manager, raw, path, reading) -> None:
    """Start the extract; once it holds a page read, point the channel elsewhere."""
    admin = served.bearer(ADMIN)
    started = await served.http.post("/api/v1/extract/runs", headers=admin)
    assert started.status_code == 202
    task = manager._extract_task
    assert task is not None
    waiting = asyncio.ensure_future(asyncio.to_thread(reading.wait))
    await asyncio.wait([waiting, task], return_when=asyncio.FIRST_COMPLETED)
    if not waiting.done():  # never leave the waiting thread behind
        reading.set()
    assert not task.done(), manager.extracts[0]  # mid-extract: a page read, held
    raw["alerts"]["channels"]["ops"]["url"] = "${HOOK_B}"
    write(path, raw)
    reloaded = await served.http.post("/api/v1/project/reload", headers=admin)
    assert reloaded.status_code == 200


@pytest.fixture
def short_busy_timeout(monkeypatch) -> None:
    """Every connection to a state file gives up on a lock after 0.1 s (30 s in serve):
    a lock held by the test makes a write fail at once, and for sure."""
    import mogulsync._sqlite_file

    monkeypatch.setattr(mogulsync._sqlite_file, "BUSY_TIMEOUT_MS", 100)


@contextlib.contextmanager
def schedules_locked(state_dir: Path) -> Iterator[None]:
    """Another writer holds ``schedule.sqlite``'s write lock (a cron's `extract run`)."""
    blocker = sqlite3.connect(state_dir / "schedule.sqlite", isolation_level=None)
    try:
        blocker.execute("BEGIN EXCLUSIVE")
        yield
        blocker.execute("ROLLBACK")
    finally:
        blocker.close()


async def test_a_reload_whose_schedules_cannot_be_saved_changes_nothing(
    emulator_server, tmp_path, env, short_busy_timeout
):
    """schedule.sqlite locked by another writer: the reload answers 503 and the server
    runs on with the previous syncs and schedules (in memory and in the file); once the
    lock is gone the same reload applies whole."""
    path = tmp_path / "mogulsync.yml"
    raw = raw_project(emulator_server, tmp_path, accounts(tmp_path, 1))
    raw["syncs"]["customers"]["schedule"] = every("15m")
    write(path, raw)
    clock = ManualClock(START)
    async with serving(load_config(path), clock=clock, config_path=path) as served:
        admin = served.bearer(ADMIN)
        scheduler = served.app.state.scheduler
        assert scheduler is not None
        raw["syncs"]["customers"]["schedule"] = every("30m")
        raw["syncs"]["others"] = {**raw["syncs"]["customers"], "data_source": "Others"}
        write(path, raw)
        with schedules_locked(tmp_path / "state"):
            refused = await served.http.post("/api/v1/project/reload", headers=admin)
        assert refused.status_code == 503, refused.text
        body = refused.json()
        assert body["applied"] is False
        assert "schedule.sqlite" in body["error"]
        assert "nothing was reloaded" in body["error"]
        assert list(served.app.state.config.syncs) == ["customers"]
        assert served.app.state.manager.config.syncs.keys() == {"customers"}
        assert served.app.state.scheduler is scheduler
        assert scheduler.next_runs() == {"customers": START + QUARTER}
        listed = (await served.http.get("/api/v1/syncs", headers=admin)).json()
        assert [sync["name"] for sync in listed] == ["customers"]
        store = ScheduleStore(tmp_path / "state")
        try:  # the file too: the old job, with its old schedule
            assert store.load(
                "customers", scheduler.states["customers"].job.schedule.model_dump_json()
            )
            rows = store._db.execute("SELECT name FROM jobs").fetchall()
            assert rows == [("customers",)]
        finally:
            store.close()

        # the old schedule still runs
        clock.advance(QUARTER)
        assert await scheduler.tick() == ["customers"]
        run = served.app.state.manager.active["customers"]
        assert (await wait_for_run(served, run.run_id, ADMIN))["status"] == "success"

        # the lock gone, the same file applies whole
        reloaded = await served.http.post("/api/v1/project/reload", headers=admin)
        assert reloaded.status_code == 200, reloaded.text
        schedules = reloaded.json()["schedules"]
        assert schedules == {"added": ["others"], "changed": ["customers"], "removed": []}
        assert scheduler.next_runs() == {
            "customers": clock.now() + 2 * QUARTER,
            "others": clock.now() + 2 * QUARTER,
        }
        assert list(served.app.state.config.syncs) == ["customers", "others"]


async def test_a_first_scheduler_that_cannot_be_saved_changes_nothing(
    emulator_server, tmp_path, env, short_busy_timeout
):
    """No schedule yet, one added by a reload while schedule.sqlite is locked: 503, no
    scheduler, the previous configuration; the next reload starts the scheduler."""
    path = tmp_path / "mogulsync.yml"
    raw = raw_project(emulator_server, tmp_path, accounts(tmp_path, 1))
    write(path, raw)
    clock = ManualClock(START)
    async with serving(load_config(path), clock=clock, config_path=path) as served:
        admin = served.bearer(ADMIN)
        raw["syncs"]["customers"]["schedule"] = every("1h")
        raw["syncs"]["customers"]["data_source"] = "Changed"
        write(path, raw)
        ScheduleStore(tmp_path / "state").close()  # the file exists, as a cron's would
        with schedules_locked(tmp_path / "state"):
            refused = await served.http.post("/api/v1/project/reload", headers=admin)
        assert refused.status_code == 503, refused.text
        assert "nothing was reloaded" in refused.json()["error"]
        assert served.app.state.scheduler is None
        assert served.app.state.config.syncs["customers"].data_source == "Serve"

        reloaded = await served.http.post("/api/v1/project/reload", headers=admin)
        assert reloaded.status_code == 200, reloaded.text
        assert reloaded.json()["schedules"]["added"] == ["customers"]
        scheduler = served.app.state.scheduler
        assert scheduler is not None
        assert scheduler.next_runs() == {"customers": START + dt.timedelta(hours=1)}
        assert served.app.state.config.syncs["customers"].data_source == "Changed"

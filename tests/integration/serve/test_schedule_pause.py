"""Pausing a schedule through the running server: the API (operators only), the Syncs
and Extract pages' buttons (a signed-in browser session with its CSRF token), /metrics,
and `mogulsync schedule` after the server stopped. A driven clock; no sleeping."""

from __future__ import annotations

import datetime as dt
import json
import re

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families
from tests.integration.serve._support import (
    OPERATOR,
    START,
    VIEWER,
    accounts,
    project,
    serving,
    wait_for_run,
)
from typer.testing import CliRunner

from mogulsync.cli import app
from mogulsync.serve.clock import ManualClock

pytestmark = pytest.mark.anyio
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
QUARTER = dt.timedelta(minutes=15)


async def _signed_in(http: httpx.AsyncClient, token: str) -> str:
    """Sign in; the CSRF token the pages carry."""
    login = await http.get("/login")
    found = CSRF.search(login.text)
    assert found is not None
    await http.post("/login", data={"token": token, "csrf_token": found.group(1)})
    page = CSRF.search((await http.get("/syncs")).text)
    assert page is not None
    return page.group(1)


def _paused_samples(text: str) -> dict[tuple[str, str], float]:
    return {
        (sample.name, sample.labels["job"]): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name.startswith("mogulsync_schedule_") and "job" in sample.labels
    }


async def test_pause_and_resume_through_the_api_the_pages_and_the_cli(
    emulator_server, tmp_path, monkeypatch
):
    every = {"every": "15m", "jitter": "0s"}
    config = project(emulator_server, tmp_path, accounts(tmp_path, 2), schedule=every,
                     extract={"schedule": {"every": "1h", "jitter": "0s"}})  # fmt: skip
    clock = ManualClock(START)
    async with serving(config, clock=clock) as served:
        scheduler = served.app.state.scheduler
        assert scheduler is not None
        operator, viewer = served.bearer(OPERATOR), served.bearer(VIEWER)
        refused = await served.http.post("/api/v1/schedules/customers/pause", headers=viewer)
        assert refused.status_code == 403
        unknown = await served.http.post("/api/v1/schedules/nosuch/pause", headers=operator)
        assert unknown.status_code == 404
        assert "scheduled: customers, extract" in unknown.json()["error"]

        paused = await served.http.post("/api/v1/schedules/customers/pause", headers=operator)
        assert paused.status_code == 200
        assert paused.json()["paused_since"] == START.isoformat()
        assert paused.json()["next_run_at"] is None
        listed = (await served.http.get("/api/v1/schedules", headers=viewer)).json()
        assert {job["job"]: job["paused_since"] for job in listed} == {
            "customers": START.isoformat(), "extract": None}  # fmt: skip
        syncs = (await served.http.get("/api/v1/syncs", headers=viewer)).json()
        assert syncs[0]["next_run_at"] is None
        metrics = _paused_samples((await served.http.get("/metrics", headers=viewer)).text)
        assert metrics[("mogulsync_schedule_paused", "customers")] == 1
        assert metrics[("mogulsync_schedule_paused", "extract")] == 0
        assert ("mogulsync_schedule_next_run_timestamp_seconds", "customers") not in metrics

        clock.advance(4 * QUARTER)
        assert await scheduler.tick() == ["extract"]  # the paused sync's slots pass
        manual = await served.http.post("/api/v1/syncs/customers/runs", headers=operator)
        assert manual.status_code == 202  # Run now still works while paused
        assert (await wait_for_run(served, manual.json()["run_id"]))["status"] == "success"

        # the pages: a viewer sees the state, an operator resumes with the button
        page = (await served.http.get("/syncs", headers=viewer)).text
        assert '<span class="status paused">paused</span>' in page
        assert "Resume schedule" not in page  # viewers get no buttons
        browser = httpx.AsyncClient(base_url=served.base_url, timeout=30)
        async with browser:
            csrf = await _signed_in(browser, OPERATOR)
            page = (await browser.get("/syncs")).text
            assert 'action="/schedules/customers/resume"' in page
            no_token = await browser.post("/schedules/customers/resume")
            assert no_token.status_code == 403  # CSRF
            resumed = await browser.post("/schedules/customers/resume", data={"csrf_token": csrf})
            assert resumed.headers["location"] == "/syncs?flash=resumed"
            assert scheduler.paused() == {}
            assert scheduler.next_runs()["customers"] == clock.now() + QUARTER
            page = (await browser.get("/syncs?flash=resumed")).text
            assert "Schedule resumed" in page
            assert 'action="/schedules/customers/pause"' in page
            extract = await browser.post("/schedules/extract/pause", data={"csrf_token": csrf})
            assert extract.headers["location"] == "/extract?flash=paused"
            page = (await browser.get("/extract")).text
            assert '<span class="status paused">paused</span> since 2026-03-02 10:30 UTC' in page
            assert 'action="/schedules/extract/resume"' in page

    # after the server stopped, `mogulsync schedule` says the extract is paused
    raw = {"chartmogul": {"api_key": "${CM_KEY}"}, "state_dir": config.state_dir,
           "warehouses": {"main": "duckdb:///w.duckdb"},
           "models": {"accounts": {"warehouse": "main", "table": "accounts", "primary_key": "id"}},
           "syncs": {"customers": {"model": "accounts", "object": "customer",
                                   "mapping": {"external_id": "id", "name": "name"},
                                   "schedule": every}},
           "extract": {"schedule": {"every": "1h", "jitter": "0s"}}}  # fmt: skip
    (tmp_path / "mogulsync.yml").write_text(yaml.safe_dump(raw), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("CM_KEY", "k" * 20)
    listed = CliRunner().invoke(app, ["schedule", "--json"])
    assert listed.exit_code == 0, listed.output
    jobs = {job["name"]: job for job in json.loads(listed.stdout)["jobs"]}
    assert jobs["extract"]["paused_since"] == (START + 4 * QUARTER).isoformat()
    assert jobs["extract"]["next_run_at"] is None
    assert jobs["customers"]["paused_since"] is None
    table = CliRunner().invoke(app, ["schedule"])
    assert "paused since 2026-03-02T10:30:00+00:00" in table.output

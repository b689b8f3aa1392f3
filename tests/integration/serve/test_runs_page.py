"""The web UI's Runs page (every run, a page at a time, filtered), the run page without
JavaScript, times shown in a cron's own zone, the Syncs page's empty state, problems and
alert state; over real HTTP with a bearer token.

The history is written by the real run store, as runs write it: 120 runs of two syncs.
"""

from __future__ import annotations

import datetime as dt
import re

import duckdb
import pytest
from tests.integration.serve._support import (
    OPERATOR,
    START,
    accounts,
    project,
    serving,
    wait_for_run,
)

from mogulsync.config import parse_config
from mogulsync.runs import RunStatus, RunStore
from mogulsync.serve.clock import ManualClock
from mogulsync.serve.ui.pages import RUNS_PER_PAGE
from mogulsync.testing.ports import refused_port

pytestmark = pytest.mark.anyio

CUSTOMERS = {"model": "accounts", "object": "customer", "data_source": "Serve",
             "mapping": {"external_id": "id", "name": "name", "email": "email"}}  # fmt: skip
RUN_LINK = re.compile(r'<tr data-run="([^"]+)">')
PAGE_LINK = re.compile(r'<a href="(/runs\?[^"]*)" rel="(prev|next)">')


def _history(state_dir: str, runs: int) -> list[str]:
    """``runs`` finished runs, alternating ``customers`` (success) and ``other`` (failed),
    oldest first; their ids."""
    store = RunStore(state_dir)
    ids = []
    try:
        for index in range(runs):
            record = store.start("customers" if index % 2 == 0 else "other", full=False)
            record.status = RunStatus.SUCCESS if index % 2 == 0 else RunStatus.FAILED
            record.finished_at = record.started_at
            store.finish(record)
            ids.append(record.run_id)
    finally:
        store.close()
    return ids


def _unescape(link: str) -> str:
    return link.replace("&amp;", "&")


async def test_every_run_is_listed_once_over_the_pages_newest_first(emulator_server, tmp_path):
    """120 runs: pages of 50, 50 and 20 by Older links, none twice or missing, Newer
    links back; filters ride along in the links. Before, the UI had no list of runs."""
    config = project(emulator_server, tmp_path, accounts(tmp_path, 1), syncs={"other": CUSTOMERS})
    ids = _history(config.state_dir, 120)
    newest_first = ids[::-1]
    async with serving(config) as served:
        auth = served.bearer(OPERATOR)
        seen: list[list[str]] = []
        url: str | None = "/runs"
        while url is not None:
            page = await served.http.get(url, headers=auth)
            assert page.status_code == 200
            seen.append(RUN_LINK.findall(page.text))
            links = {rel: _unescape(href) for href, rel in PAGE_LINK.findall(page.text)}
            if len(seen) > 1:
                assert "prev" in links
            url = links.get("next")
        assert [len(rows) for rows in seen] == [RUNS_PER_PAGE, RUNS_PER_PAGE, 20]
        assert [run for rows in seen for run in rows] == newest_first
        last = await served.http.get("/runs?offset=100", headers=auth)
        assert "Runs 101 to 120, newest first." in last.text
        back = {rel: _unescape(href) for href, rel in PAGE_LINK.findall(last.text)}
        assert back["prev"] == "/runs?offset=50"

        failed = await served.http.get("/runs?sync=other&status=failed", headers=auth)
        listed = RUN_LINK.findall(failed.text)
        assert listed == newest_first[0::2][:RUNS_PER_PAGE]  # "other" ran second
        older = {rel: _unescape(href) for href, rel in PAGE_LINK.findall(failed.text)}
        assert older == {"next": "/runs?sync=other&status=failed&offset=50"}
        api = await served.http.get(
            "/api/v1/runs", params={"sync": "other", "limit": 10, "offset": 55}, headers=auth
        )
        assert [run["run_id"] for run in api.json()] == newest_first[0::2][55:60]

        watch = await served.http.get("/runs?sync=reconcile%3Aother", headers=auth)
        assert '<option value="reconcile:other" selected>' in watch.text  # not "all"
        none = await served.http.get("/runs?status=cancelled", headers=auth)
        assert "No runs match these filters." in none.text
        assert not RUN_LINK.findall(none.text)
        run = await served.http.get(f"/runs/{ids[-1]}", headers=auth)
        assert '<a href="/runs?sync=other">all runs of other</a>' in run.text
        assert 'id="dbg-nojs"' in run.text
        assert f"/api/v1/runs/{ids[-1]}/requests?limit=1000" in run.text


async def test_the_runs_page_without_any_run_says_how_to_start_one(emulator_server, tmp_path):
    config = project(emulator_server, tmp_path, accounts(tmp_path, 1))
    async with serving(config) as served:
        page = await served.http.get("/runs", headers=served.bearer(OPERATOR))
        assert "No runs yet: start one with Run now on the Syncs page" in page.text
        assert 'rel="next"' not in page.text
        assert 'rel="prev"' not in page.text


async def test_a_cron_in_a_zone_shows_its_next_run_in_that_zone_too(emulator_server, tmp_path):
    """06:30 in Berlin is 05:30 UTC in winter: the page showed only "05:30 UTC" beside
    "cron 30 6 * * 1-5 (Europe/Berlin)", which read as a wrong time."""
    berlin = {**CUSTOMERS, "schedule": {"cron": "30 6 * * 1-5", "timezone": "Europe/Berlin",
                                        "jitter": "0s"}}  # fmt: skip
    config = project(
        emulator_server, tmp_path, accounts(tmp_path, 1), syncs={"berlin": berlin},
        schedule={"cron": "0 7 * * *", "jitter": "0s"}, extract={"schedule": {"every": "1h",
        "jitter": "0s"}},
    )  # fmt: skip
    async with serving(config, clock=ManualClock(START)) as served:
        auth = served.bearer(OPERATOR)
        page = (await served.http.get("/syncs", headers=auth)).text
        berlin_row = page.split('<tr data-sync="berlin">')[1].split("</tr>")[0]
        assert "2026-03-03 05:30 UTC" in berlin_row
        assert "2026-03-03 06:30 Europe/Berlin" in berlin_row
        utc_row = page.split('<tr data-sync="customers">')[1].split("</tr>")[0]
        assert "2026-03-03 07:00 UTC" in utc_row
        assert 'class="muted local"' not in utc_row  # a UTC cron: one time is enough
        extract = (await served.http.get("/extract", headers=auth)).text
        next_extract = START + dt.timedelta(hours=1)
        assert f"next run {next_extract:%Y-%m-%d %H:%M} UTC" in extract


async def test_a_preview_that_cannot_be_made_shows_why_above_the_syncs(emulator_server, tmp_path):
    """The Syncs page came back empty (no sync listed) with the reason as a notice."""
    broken = {**CUSTOMERS, "model": "missing"}
    config = project(
        emulator_server, tmp_path, accounts(tmp_path, 1), syncs={"broken": broken},
        models={"accounts": {"warehouse": "main", "table": "accounts", "primary_key": "id"},
                "missing": {"warehouse": "main", "table": "no_such_table", "primary_key": "id"}},
    )  # fmt: skip
    async with serving(config) as served:
        auth = served.bearer(OPERATOR)
        for page in ("preview", "reconcile"):
            shown = await served.http.get(f"/syncs/broken/{page}", headers=auth)
            assert shown.status_code == 200
            assert '<p class="error" role="alert">' in shown.text
            assert "no_such_table" in shown.text
            assert '<tr data-sync="customers">' in shown.text  # the syncs are still listed
            assert '<tr data-sync="broken">' in shown.text


async def test_a_project_without_syncs_says_so_on_the_syncs_page(emulator_server, tmp_path):
    config = parse_config(
        {"chartmogul": {"api_key": "${CM_KEY}", "base_url": emulator_server.base_url},
         "state_dir": str(tmp_path / "state")},
        env={"CM_KEY": emulator_server.api_key},
    )  # fmt: skip
    async with serving(config) as served:
        page = await served.http.get("/syncs")
        assert "No syncs in the project file: add one under <code>syncs:</code>" in page.text


async def test_the_syncs_page_shows_which_syncs_are_in_alert_and_on_which_channel(
    emulator_server, tmp_path
):
    """A run with a failed row puts the sync in alert (failed_rows → ops) until a healthy
    run; the page and the API say so. Before, nothing showed the alert state."""
    url = accounts(tmp_path, 2)
    db = duckdb.connect(str(tmp_path / "w.duckdb"))
    db.execute("insert into accounts values ('bad', 'Bad Co', 'not-an-email')")
    db.close()
    with refused_port() as port:
        alerts = {
            "channels": {"ops": {"type": "webhook", "url": "${HOOK}"}},
            "rules": [{"channels": ["ops"], "failed_rows": {"count": 1}}],
            "attempts": 1,
        }
        config = project(emulator_server, tmp_path, url, alerts=alerts,
                         env={"HOOK": f"http://127.0.0.1:{port}/hook"})  # fmt: skip
        async with serving(config) as served:
            auth = served.bearer(OPERATOR)
            started = await served.http.post("/api/v1/syncs/customers/runs", headers=auth)
            run = await wait_for_run(served, started.json()["run_id"])
            assert run["status"] == "partial"
            listing = (await served.http.get("/api/v1/syncs", headers=auth)).json()
            assert listing[0]["alerting"] == [
                {"channel": "ops", "trigger": "failed_rows", "run_id": run["run_id"]}
            ]
            page = (await served.http.get("/syncs", headers=auth)).text
            cell = page.split('<td data-label="Alerts" class="alerts">')[1].split("</td>")[0]
            assert '<span class="status failed">failed_rows</span>' in cell
            assert f'<a href="/runs/{run["run_id"]}">' in cell
            assert "ops" in cell

            db = duckdb.connect(str(tmp_path / "w.duckdb"))
            db.execute("update accounts set email = 'bad@example.com' where id = 'bad'")
            db.close()
            started = await served.http.post("/api/v1/syncs/customers/runs", headers=auth)
            assert (await wait_for_run(served, started.json()["run_id"]))["status"] == "success"
            listing = (await served.http.get("/api/v1/syncs", headers=auth)).json()
            assert listing[0]["alerting"] == []
            page = (await served.http.get("/syncs", headers=auth)).text
            cell = page.split('<td data-label="Alerts" class="alerts">')[1].split("</td>")[0]
            assert cell == '<span class="muted">quiet</span>'

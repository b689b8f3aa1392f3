"""The alert views in a real headless Chromium, after real alerts went out.

One server, one project, two webhook channels: ``ops`` (a local receiver, its URL holding
a token) and ``down`` (a refused port). A sync with a bad row alerts ``failed_rows``, the
extract fails and recovers, the forwarder dead-letters an event. Then a person's view:
the sync's Runs page, the Extract page and the Events page each list what was sent, to
which target (no token), delivered or failed; the Events page shows the open condition
and the channels it is open on.
"""

from __future__ import annotations

import asyncio
import re

import duckdb
import httpx
import pytest
import stamina
from tests.e2e.serve.test_browser import CHROMIUM, LAPTOP, _require_chromium
from tests.integration.ops._receivers import HttpReceiver
from tests.integration.serve._support import (
    OPERATOR,
    Served,
    accounts,
    project,
    serving,
    wait_for_run,
)

from mogulsync.events import watch

pytestmark = pytest.mark.anyio

WRITE_KEY = "segment-write-key-alerts-browser"
HOOK_TOKEN = "hook-token-0123456789-never-shown"


async def _extract(served: Served) -> str:
    """Run the extract through the API to its end (its alerts included); its run id."""
    started = await served.http.post("/api/v1/extract/runs", headers=served.bearer(OPERATOR))
    assert started.status_code == 202
    task = served.app.state.manager._extract_task
    assert task is not None
    await task
    return str(started.json()["run_id"])


async def _events_alerted(served: Served, count: int) -> None:
    """Wait until the events alerts recorded ``count`` deliveries (the watch's own task)."""
    while True:
        status = await asyncio.to_thread(served.app.state.events_status)
        if status and len(status["alerts"]["deliveries"]) >= count:
            return
        await asyncio.sleep(0.02)


@pytest.mark.timeout(240)
async def test_alerts_sent_and_failed_as_a_person_sees_them(
    emulator_server, tmp_path, dead_port, monkeypatch
):
    from playwright.async_api import async_playwright, expect

    expect.set_options(timeout=60_000)  # a loaded machine exceeds expect()'s own 5 s
    _require_chromium()
    # the watch looks at the queue on each poll instead of once a minute of real time
    monkeypatch.setattr(watch, "WATCH_INTERVAL_S", 0.0)
    monkeypatch.setattr(watch, "POLL_S", 0.02)
    url = accounts(tmp_path, 2)
    db = duckdb.connect(str(tmp_path / "w.duckdb"))
    db.execute("insert into accounts values ('bad-1', 'Broken Co', 'not-an-email')")
    db.close()
    extract = {"destination": f"duckdb:///{tmp_path / 'cm.duckdb'}",
               "streams": ["data_sources", "plans"], "mode": "overwrite"}  # fmt: skip
    events = {"write_keys": ["${WRITE_KEY}"], "retry": {"coalesce_window_s": 0}}
    alerts = {
        "channels": {
            "ops": {"type": "webhook", "url": "${OPS_HOOK}"},
            "down": {"type": "webhook", "url": "${DOWN_HOOK}"},
        },
        "rules": [{"failed_rows": {"count": 1}}],  # all syncs: the extract and events too
        "attempts": 1,
    }
    faults = f"{emulator_server.base_url}/_emulator/faults"
    with stamina.set_testing(True, attempts=1), HttpReceiver() as receiver:
        env = {
            "WRITE_KEY": WRITE_KEY,
            "OPS_HOOK": f"{receiver.url}/hooks/{HOOK_TOKEN}",
            "DOWN_HOOK": f"http://127.0.0.1:{dead_port}/hooks/{HOOK_TOKEN}",
        }
        config = project(emulator_server, tmp_path, url, env=env, extract=extract,
                         events=events, alerts=alerts)  # fmt: skip
        async with serving(config) as served, async_playwright() as playwright:
            # a sync with a bad row
            started = await served.http.post(
                "/api/v1/syncs/customers/runs", headers=served.bearer(OPERATOR)
            )
            sync_run = (await wait_for_run(served, started.json()["run_id"]))["run_id"]
            # the extract fails, then recovers
            async with httpx.AsyncClient(timeout=30) as admin:
                failing = {"error_rate": 1.0, "error_statuses": [500], "path_pattern": "plans"}
                (await admin.put(faults, json=failing)).raise_for_status()
                failed = await _extract(served)
                (await admin.delete(faults)).raise_for_status()
            recovered = await _extract(served)
            # an event ChartMogul refuses: a dead letter
            bad = {"type": "group", "userId": "u1", "groupId": "bad", "messageId": "m-dead",
                   "traits": {"name": "Bad", "address": {"country": "Narnia"}}}  # fmt: skip
            sent = await served.http.post("/v1/group", json=bad, auth=(WRITE_KEY, ""))
            assert sent.status_code == 200
            await _events_alerted(served, 2)

            browser = await playwright.chromium.launch(
                executable_path=CHROMIUM, args=["--no-sandbox", "--disable-dev-shm-usage"]
            )
            page = await browser.new_page(viewport=LAPTOP)
            page.set_default_timeout(60_000)
            await page.goto(f"{served.base_url}/login")
            await page.get_by_label("Token").fill(OPERATOR)
            await page.get_by_role("button", name="Sign in").click()
            await expect(page.get_by_role("heading", name="Syncs")).to_be_visible()
            seen: list[str] = []

            async def table(path: str, selector: str, rows: list[tuple[str, str, str]]) -> None:
                """The page's alerts table shows ``rows`` of (run, trigger, channel),
                newest first, each with its target and its outcome."""
                await page.goto(f"{served.base_url}{path}")
                body = page.locator(f"{selector} tbody tr")
                await expect(body).to_have_count(len(rows))
                for index, (run, trigger, channel) in enumerate(rows):
                    cells = body.nth(index).locator("td")
                    await expect(cells.nth(1)).to_have_text(run)
                    await expect(cells.nth(2)).to_have_text(trigger)
                    await expect(cells.nth(3)).to_have_text(channel)
                    if channel == "ops":
                        await expect(cells.nth(4)).to_have_text(f"webhook (json) {receiver.url}")
                        await expect(cells.nth(5)).to_have_text("delivered")
                    else:
                        await expect(cells.nth(4)).to_have_text(
                            f"webhook (json) http://127.0.0.1:{dead_port}"
                        )
                        await expect(cells.nth(5)).to_contain_text(re.compile(r"^failed \S"))
                seen.append(await page.locator("main").inner_text() + await page.content())

            # the sync's Runs page: the failed_rows alert, on each channel
            sync_rows = await _rows(served, "/api/v1/syncs/customers/alerts")
            assert sorted(sync_rows) == [
                (sync_run, "failed_rows", "down"),
                (sync_run, "failed_rows", "ops"),
            ]
            await table("/runs?sync=customers", "#alert-deliveries", sync_rows)
            # the Extract page: failed, then recovered (newest first); the channel that is
            # down is sent the failure it never got again, its recovery waiting behind it
            extract_rows = await _rows(served, "/api/v1/extract/alerts")
            assert sorted(extract_rows[:2]) == [
                (failed, "failed", "down"),
                (recovered, "recovered", "ops"),
            ]
            assert sorted(extract_rows[2:]) == [
                (failed, "failed", "down"),
                (failed, "failed", "ops"),
            ]
            await table("/extract", "#alert-deliveries", extract_rows)
            # the Events page: the open condition on both channels, and what was sent
            events_rows = await _rows(served, "/api/v1/events/alerts")
            assert [trigger for _, trigger, _ in events_rows] == ["dead_letters"] * 2
            await table("/events", "#events-alert-deliveries", events_rows)
            alerting = page.locator("#alerting li")
            await expect(alerting).to_have_count(2)
            await expect(alerting.nth(0)).to_contain_text(
                re.compile(r"^dead_letters on down since")
            )
            await expect(alerting.nth(1)).to_contain_text(re.compile(r"^dead_letters on ops since"))
            await expect(alerting.locator(".status.failed").first).to_be_visible()
            await browser.close()
    assert len(receiver.bodies(f"/hooks/{HOOK_TOKEN}")) == 4  # failed_rows, extract x2, events
    assert len(seen) == 3
    assert all(HOOK_TOKEN not in text for text in seen)


async def _rows(served: Served, path: str) -> list[tuple[str, str, str]]:
    """(run, trigger, channel) of the deliveries the API lists at ``path``, newest first."""
    listed = await served.http.get(path, headers=served.bearer(OPERATOR))
    return [(d["run_id"], d["trigger"], d["channel"]) for d in listed.raise_for_status().json()]

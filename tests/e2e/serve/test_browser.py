"""The web UI in a real headless Chromium (Debian's ``chromium``, driven by Playwright).

Sign in, see the syncs, press Run now, watch the live debugger fill in while the run is
held mid-way (a gate on its writes), open a row error, open a preview, replay a dead
letter. Screenshots of each page go to ``$MOGULSYNC_SCREENSHOTS`` when set (that is how
docs/images/ is made: ``MOGULSYNC_SCREENSHOTS=docs/images pytest tests/e2e/serve``),
else to the test's temporary directory.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

import duckdb
import pytest
from tests.integration.serve._support import (
    OPERATOR,
    Gate,
    GatedEngine,
    Served,
    accounts,
    project,
    serving,
)

pytestmark = pytest.mark.anyio

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
WRITE_KEY = "segment-write-key-browser-01"
LAPTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


def _shots(tmp_path: Path) -> Path:
    target = Path(os.environ.get("MOGULSYNC_SCREENSHOTS") or tmp_path / "shots")
    target.mkdir(parents=True, exist_ok=True)
    return target


def _require_chromium() -> None:
    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is not installed: run `make install` (it installs it with apt)")


async def _dead_letter(served: Served) -> None:
    """Wait until the forwarder (in the server's loop) has dead-lettered an event."""
    while True:
        status = await asyncio.to_thread(served.app.state.events_status)
        if status and status["dead_letters"]:
            return
        await asyncio.sleep(0.02)


@pytest.mark.timeout(240)
async def test_the_web_ui_end_to_end_in_chromium(emulator_server, tmp_path):
    from playwright.async_api import async_playwright, expect

    # expect() has its own 5 s default, apart from the page's: a loaded machine exceeds it
    expect.set_options(timeout=60_000)

    _require_chromium()
    url = accounts(tmp_path, 12)
    db = duckdb.connect(str(tmp_path / "w.duckdb"))
    db.execute("insert into accounts values ('bad-1', 'Broken Co', 'not-an-email')")
    db.close()
    events = {"write_keys": ["${WRITE_KEY}"], "retry": {"coalesce_window_s": 0}}
    config = project(emulator_server, tmp_path, url, events=events, env={"WRITE_KEY": WRITE_KEY},
                     schedule={"every": "15m"})  # fmt: skip
    shots = _shots(tmp_path)
    gate = Gate()
    async with (
        serving(config, engine=GatedEngine(config, gate)) as served,
        async_playwright() as playwright,
    ):
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        page = await browser.new_page(viewport=LAPTOP)
        page.set_default_timeout(60_000)
        # the pages run under the server's Content-Security-Policy: whatever it blocks (an
        # inline script or style, an eval) is a part of a page that does not work
        blocked: list[str] = []
        page.on(
            "console", lambda m: blocked.append(m.text) if "Content Security" in m.text else None
        )

        # sign in
        await page.goto(f"{served.base_url}/syncs")
        await expect(page).to_have_url(f"{served.base_url}/login")
        await page.get_by_label("Token").fill(OPERATOR)
        await page.screenshot(path=shots / "login.png")
        await page.get_by_role("button", name="Sign in").click()

        # the syncs
        await expect(page.get_by_role("heading", name="Syncs")).to_be_visible()
        row = page.locator("tr[data-sync=customers]")
        await expect(row).to_contain_text("every 15m")

        # Run now: the run is held at its first write, the debugger shows what came before
        await row.get_by_role("button", name="Run now").click()
        await expect(page.locator("#run-status")).to_have_text("running")
        await gate.reached.wait()
        debugger = page.locator("#debugger tbody tr")
        await expect(debugger.first).to_be_visible()
        before = await debugger.count()
        assert before >= 1
        await expect(page.locator("#run-status")).to_have_text("running")
        gate.release()  # the writes go out while the page watches
        await expect(page.locator("#run-status")).to_have_text("partial")
        await expect(page.locator("#debugger")).to_have_attribute("data-done", "true")
        after = await debugger.count()
        assert after > before
        api_calls = int(await page.locator("[data-count=api_calls]").inner_text())
        assert after == api_calls  # one line per request, none missing
        await expect(debugger.filter(has_text="POST").first).to_be_visible()
        # the row key as it appears in the bodies ("a3" bare also matches hex in uuids)
        await page.locator("#dbg-filter").fill('"a3"')
        await expect(debugger.filter(has_text="a3@example.com")).to_have_count(1)
        await expect(page.locator("#debugger tbody tr:visible")).to_have_count(1)
        await page.locator("#dbg-filter").fill("")

        # open the row error (the page reloaded shows the errors table filled)
        await page.reload()
        error = page.locator("tr.row-error").filter(has_text="bad-1")
        await error.locator("summary").click()
        await expect(error.locator(".detail")).to_contain_text("Fix:")
        await expect(error.locator(".detail")).to_contain_text("email")
        await page.screenshot(path=shots / "run.png", full_page=True)

        # a preview of what the next run would change
        db = duckdb.connect(str(tmp_path / "w.duckdb"))
        db.execute("update accounts set name = 'Renamed Ltd' where id = 'a1'")
        db.close()
        await page.goto(f"{served.base_url}/syncs")
        await page.screenshot(path=shots / "syncs.png")
        await page.locator("tr[data-sync=customers]").get_by_role("link", name="Preview").click()
        sample = page.locator(".sample[data-kind=updates]").filter(has_text="a1")
        await expect(sample.locator(".from")).to_have_text("Account 1")
        await expect(sample.locator(".to")).to_have_text("Renamed Ltd")
        await page.screenshot(path=shots / "preview.png", full_page=True)

        # a dead letter, replayed from the Events page
        bad = {"type": "group", "userId": "u1", "groupId": "bad", "messageId": "m-dead",
               "traits": {"name": "Bad", "address": {"country": "Narnia"}}}  # fmt: skip
        sent = await served.http.post("/v1/group", json=bad, auth=(WRITE_KEY, ""))
        assert sent.status_code == 200
        await _dead_letter(served)
        await page.goto(f"{served.base_url}/events")
        dead = page.locator("table.dead tbody tr").filter(has_text="m-dead")
        await expect(dead).to_be_visible()
        await page.screenshot(path=shots / "events.png", full_page=True)
        await dead.get_by_role("button", name="Replay").click()
        await expect(page.locator(".flash")).to_have_text("Replayed 1 dead letter(s).")

        await page.goto(f"{served.base_url}/extract")
        await expect(page.get_by_role("heading", name="Streams")).to_be_visible()
        await page.screenshot(path=shots / "extract.png", full_page=True)

        phone = await browser.new_page(viewport=PHONE)
        await phone.context.add_cookies(await page.context.cookies())
        await phone.goto(f"{served.base_url}/syncs")
        await expect(phone.get_by_role("button", name="Run now").first).to_be_visible()
        # every button fits the phone's width (the row of actions ran off the card)
        for name in ("Run now", "Pause schedule"):
            box = await phone.get_by_role("button", name=name).first.bounding_box()
            assert box is not None
            assert box["x"] + box["width"] <= PHONE["width"], name
        await phone.screenshot(path=shots / "syncs-phone.png")
        await browser.close()
    assert blocked == []
    for name in ("login", "syncs", "run", "preview", "events", "extract", "syncs-phone"):
        assert (shots / f"{name}.png").stat().st_size > 0

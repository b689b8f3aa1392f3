"""The web UI in a real headless Chromium with hostile and very long data, and with
JavaScript off.

- a 400-character key and a message with markup: shown as text (no script runs), and
  wrapped, so the columns after them stay on screen;
- JavaScript off: Run now, the run page (what the live debugger would show is linked),
  the Runs page and its Older link all work as plain HTML.
"""

from __future__ import annotations

import re

import duckdb
import pytest
from tests.e2e.serve.test_browser import CHROMIUM, LAPTOP, _require_chromium
from tests.integration.serve._support import accounts, project, serving, wait_for_run

from mogulsync.serve import api

pytestmark = pytest.mark.anyio

MARKUP = '<script>alert("key")</script><img src=x onerror=alert("img")>'
LONG_KEY = "K" * 400


@pytest.mark.timeout(240)
async def test_hostile_and_long_values_and_no_javascript(emulator_server, tmp_path, monkeypatch):
    from playwright.async_api import async_playwright, expect

    # expect() has its own 5 s default, apart from the page's: a loaded machine exceeds it
    expect.set_options(timeout=60_000)

    _require_chromium()
    url = accounts(tmp_path, 3)
    db = duckdb.connect(str(tmp_path / "w.duckdb"))
    db.execute("insert into accounts values (?, ?, ?)", [MARKUP, "Markup Co", f"x{MARKUP}"])
    db.execute("insert into accounts values (?, ?, ?)", [LONG_KEY, "Long Co", "long@example.com"])
    db.close()
    config = project(emulator_server, tmp_path, url, tokens=False)
    async with serving(config) as served, async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        dialogs: list[str] = []
        page = await browser.new_page(viewport=LAPTOP)
        page.set_default_timeout(60_000)
        page.on("dialog", lambda dialog: dialogs.append(dialog.message))
        started = await served.http.post("/api/v1/syncs/customers/runs")
        run = await wait_for_run(served, started.json()["run_id"], token=None)
        assert run["status"] == "partial"

        await page.goto(f"{served.base_url}/runs/{run['run_id']}")
        await expect(page.locator("#debugger")).to_have_attribute("data-done", "true")
        summaries = page.locator("tr.row-error summary")
        await expect(summaries.filter(has_text=MARKUP).first).to_have_text(MARKUP)  # as text
        long_row = page.locator("tr.row-error").filter(has_text=LONG_KEY[:50])
        kind = long_row.locator("td").nth(1)
        await expect(kind).to_have_text("invalid")
        box = await kind.bounding_box()
        assert box is not None
        assert box["x"] + box["width"] <= LAPTOP["width"]  # before: pushed off to the right
        overflow = await page.evaluate(
            "() => { const s = document.querySelector('#errors').parentElement;"
            " return s.scrollWidth - s.clientWidth; }"
        )
        assert overflow <= 0
        # a short cell keeps its word whole (wrapping every cell anywhere gave "invali|d")
        lines = await kind.evaluate(
            "c => { const r = document.createRange(); r.selectNodeContents(c);"
            " return r.getClientRects().length; }"
        )
        assert lines == 1
        await expect(page.locator("#dbg-nojs")).to_be_hidden()  # the debugger runs instead
        # a long run's page shows its latest requests and says where the older ones are
        monkeypatch.setattr(api, "REPLAY_LIMIT", 2)
        await page.reload()
        await expect(page.locator("#debugger")).to_have_attribute("data-done", "true")
        await expect(page.locator("#debugger tbody tr")).to_have_count(2)
        older = run["api_calls"] - 2
        await expect(page.locator("#dbg-count")).to_have_text(
            f"2 requests ({older} older ones are in the run history)"
        )
        monkeypatch.undo()
        await page.goto(f"{served.base_url}/syncs/customers/preview")
        await expect(page.locator(".sample[data-kind=invalid] h3").first).to_be_visible()
        width = await page.evaluate("() => document.documentElement.scrollWidth")
        assert width <= LAPTOP["width"]  # the long key wraps instead of widening the page
        assert dialogs == []  # no script of the data ran, on any page

        # JavaScript off: plain HTML still does the job
        context = await browser.new_context(viewport=LAPTOP, java_script_enabled=False)
        plain = await context.new_page()
        plain.set_default_timeout(60_000)
        await plain.goto(f"{served.base_url}/syncs")
        await plain.locator("tr[data-sync=customers]").get_by_role("button", name="Run now").click()
        await plain.wait_for_url(re.compile(r".*/runs/[0-9T]+-[0-9a-f]+$"))
        second = plain.url.rsplit("/", 1)[1]
        await expect(plain.get_by_text("The live debugger needs JavaScript.")).to_be_visible()
        json_link = plain.get_by_role("link", name="as JSON")
        assert await json_link.get_attribute("href") == f"/api/v1/runs/{second}/requests?limit=1000"
        await wait_for_run(served, second, token=None)
        await plain.get_by_role("link", name="all runs of customers").click()
        await expect(plain.locator("#runs tbody tr")).to_have_count(2)
        await expect(plain.locator(f"tr[data-run='{second}']")).to_be_visible()
        await browser.close()

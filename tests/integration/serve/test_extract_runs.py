"""The extract through the server: POST starts it in the background, 409 while it runs,
the report lists rows per stream, the Extract page shows them."""

from __future__ import annotations

import pytest
from tests.integration.serve._support import (
    OPERATOR,
    VIEWER,
    accounts,
    project,
    serving,
    wait_for_run,
)

pytestmark = pytest.mark.anyio


async def test_extract_runs_from_the_api_and_shows_on_its_page(emulator_server, tmp_path):
    """Two customers synced, then extracted: the report counts them under `customers`."""
    extract = {"destination": f"duckdb:///{tmp_path / 'cm.duckdb'}",
               "streams": ["data_sources", "customers"], "mode": "overwrite"}  # fmt: skip
    config = project(emulator_server, tmp_path, accounts(tmp_path, 2), extract=extract)
    async with serving(config) as served:
        auth = served.bearer(OPERATOR)
        sync = await served.http.post("/api/v1/syncs/customers/runs", headers=auth)
        assert (await wait_for_run(served, sync.json()["run_id"]))["status"] == "success"
        started = await served.http.post("/api/v1/extract/runs", headers=auth)
        assert started.status_code == 202
        again = await served.http.post("/api/v1/extract/runs", headers=auth)
        assert again.status_code == 409
        task = served.app.state.manager._extract_task
        assert task is not None
        await task
        [run] = (await served.http.get("/api/v1/extract/runs", headers=auth)).json()
        assert run["run_id"] == started.json()["run_id"]
        assert run["status"] == "success", run["message"]
        assert run["report"]["streams"]["customers"]["records"] == 2
        page = await served.http.get("/extract", headers=served.bearer(VIEWER))
        assert "customers" in page.text
        assert "success" in page.text

"""An extract the server runs alerts when it fails and when it recovers; each delivery is
listed on the Extract page and by `GET /api/v1/extract/alerts`, without secrets."""

from __future__ import annotations

import httpx
import pytest
import stamina
from tests.integration.ops._receivers import HttpReceiver
from tests.integration.serve._support import OPERATOR, VIEWER, accounts, project, serving

pytestmark = pytest.mark.anyio
HOOK_TOKEN = "hook-token-0123456789-never-shown"


async def _extract(served) -> dict:
    """Start the extract through the API and wait for it (its alerts included)."""
    started = await served.http.post("/api/v1/extract/runs", headers=served.bearer(OPERATOR))
    assert started.status_code == 202
    task = served.app.state.manager._extract_task
    assert task is not None
    await task
    runs = (await served.http.get("/api/v1/extract/runs", headers=served.bearer(VIEWER))).json()
    assert runs[0]["run_id"] == started.json()["run_id"]
    return runs[0]


async def test_a_server_extract_alerts_on_failure_and_recovery_and_lists_them(
    emulator_server, tmp_path
):
    extract = {"destination": f"duckdb:///{tmp_path / 'cm.duckdb'}",
               "streams": ["data_sources", "plans"], "mode": "overwrite"}  # fmt: skip
    alerts = {"channels": {"ops": {"type": "webhook", "url": "${OPS_HOOK}"}}}
    faults = f"{emulator_server.base_url}/_emulator/faults"
    with stamina.set_testing(True, attempts=2), HttpReceiver() as receiver:
        hook = f"/hooks/{HOOK_TOKEN}"
        config = project(
            emulator_server,
            tmp_path,
            accounts(tmp_path, 1),
            env={"OPS_HOOK": f"{receiver.url}{hook}"},
            extract=extract,
            alerts=alerts,
        )
        async with serving(config) as served:
            viewer = served.bearer(VIEWER)
            async with httpx.AsyncClient(timeout=30) as admin:
                failing = {"error_rate": 1.0, "error_statuses": [500], "path_pattern": "plans"}
                (await admin.put(faults, json=failing)).raise_for_status()
                failed = await _extract(served)
                (await admin.delete(faults)).raise_for_status()
            healthy = await _extract(served)
            quiet = await _extract(served)
            listed = (await served.http.get("/api/v1/extract/alerts", headers=viewer)).json()
            page = await served.http.get("/extract", headers=viewer)
    assert (failed["status"], healthy["status"], quiet["status"]) == (
        "failed",
        "success",
        "success",
    )
    bodies = receiver.bodies(hook)
    assert [(b["event"], b["run_id"]) for b in bodies] == [
        ("failed", failed["run_id"]),
        ("recovered", healthy["run_id"]),
    ]
    assert (bodies[0]["stage"], bodies[0]["failed_streams"]) == ("fetch", ["plans"])
    assert [(d["run_id"], d["trigger"], d["outcome"], d["sync"]) for d in listed] == [
        (healthy["run_id"], "recovered", "delivered", "extract"),
        (failed["run_id"], "failed", "delivered", "extract"),
    ]
    assert all(HOOK_TOKEN not in d["target"] for d in listed)
    assert page.status_code == 200
    assert "Alerts sent about the extract" in page.text
    assert failed["run_id"] in page.text
    assert "recovered" in page.text
    assert HOOK_TOKEN not in page.text

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


async def test_a_failed_extract_alerts_even_when_its_end_cannot_be_recorded(
    emulator_server, tmp_path
):
    """The disk fills up: the extract fails, and so does writing its end to the history.
    The alert is what tells anyone; it goes out (as `extract run`'s does), and the server
    is ready for the next extract."""
    import sqlite3

    extract = {"destination": f"duckdb:///{tmp_path / 'cm.duckdb'}",
               "streams": ["data_sources", "plans"], "mode": "overwrite"}  # fmt: skip
    alerts = {"channels": {"ops": {"type": "webhook", "url": "${OPS_HOOK}"}}}
    faults = f"{emulator_server.base_url}/_emulator/faults"
    with stamina.set_testing(True, attempts=2), HttpReceiver() as receiver:
        config = project(
            emulator_server,
            tmp_path,
            accounts(tmp_path, 1),
            env={"OPS_HOOK": f"{receiver.url}/hook"},
            extract=extract,
            alerts=alerts,
        )
        async with serving(config) as served:
            manager = served.app.state.manager
            history = manager.extract_history
            real_save = history.save

            def save(run) -> None:
                if run.status != "running":  # the run's end: the disk is full by now
                    raise sqlite3.OperationalError("database or disk is full")
                real_save(run)

            history.save = save
            async with httpx.AsyncClient(timeout=30) as admin:
                failing = {"error_rate": 1.0, "error_statuses": [500], "path_pattern": "plans"}
                (await admin.put(faults, json=failing)).raise_for_status()
                try:
                    started = await served.http.post(
                        "/api/v1/extract/runs", headers=served.bearer(OPERATOR)
                    )
                    assert started.status_code == 202
                    await manager._extract_task
                finally:
                    (await admin.delete(faults)).raise_for_status()
            assert manager.extract is None
    [alert] = receiver.bodies("/hook")
    assert (alert["event"], alert["run_id"]) == ("failed", started.json()["run_id"])

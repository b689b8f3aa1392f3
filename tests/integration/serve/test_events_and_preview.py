"""The events endpoints on the server's port, dead letters replayed through the API, and
the preview's from → to for updates read from ChartMogul's current record."""

from __future__ import annotations

import asyncio

import duckdb
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

WRITE_KEY = "segment-write-key-serve-0123"


async def test_events_are_ingested_on_the_same_port_and_dead_letters_replay(
    emulator_server, tmp_path
):
    """A refused group event dead-letters; status shows it; a viewer cannot replay, an
    operator can (the forwarder picks it up again)."""
    events = {"write_keys": ["${WRITE_KEY}"], "retry": {"coalesce_window_s": 0}}
    config = project(
        emulator_server, tmp_path, accounts(tmp_path, 1), events=events,
        env={"WRITE_KEY": WRITE_KEY},
    )  # fmt: skip
    async with serving(config) as served:
        event = {"type": "group", "userId": "u1", "groupId": "bad", "messageId": "m-bad",
                 "traits": {"name": "Bad", "address": {"country": "Narnia"}}}  # fmt: skip
        accepted = await served.http.post("/v1/group", json=event, auth=(WRITE_KEY, ""))
        assert accepted.status_code == 200, accepted.text
        refused = await served.http.post("/v1/group", json=event, auth=("wrong", ""))
        assert refused.status_code == 401
        viewer = served.bearer(VIEWER)
        status: dict = {}
        while not status.get("dead_letters"):  # the forwarder runs in the server's loop
            await asyncio.sleep(0.02)
            status = (await served.http.get("/api/v1/events/status", headers=viewer)).json()
        [dead] = status["dead_letters"]
        assert dead["message_id"] == "m-bad"
        assert "country" in dead["reason"].lower() or "Validation" in dead["reason"]
        no = await served.http.post("/api/v1/events/dead-letters/replay", headers=viewer)
        assert no.status_code == 403
        replay = await served.http.post(
            "/api/v1/events/dead-letters/replay",
            json={"seq": [dead["seq"]]},
            headers=served.bearer(OPERATOR),
        )
        assert replay.json() == {"replayed": 1}
        status = (await served.http.get("/api/v1/events/status", headers=viewer)).json()
        assert status["counters"]["replayed"] == 1
        text = (await served.http.get("/metrics", headers=viewer)).text
        assert "mogulsync_events_queue_depth" in text
        assert WRITE_KEY not in text + str(status)


async def test_preview_shows_which_fields_change_from_what_to_what(emulator_server, tmp_path):
    """After a run, renaming a row previews as an update: name from the current record → new."""
    url = accounts(tmp_path, 3)
    db = duckdb.connect(str(tmp_path / "w.duckdb"))
    db.execute("alter table accounts add column seats integer default 5")  # a custom attribute
    db.close()
    config = project(emulator_server, tmp_path, url)
    async with serving(config) as served:
        auth = served.bearer(OPERATOR)
        first = await served.http.post("/api/v1/syncs/customers/runs", headers=auth)
        assert (await wait_for_run(served, first.json()["run_id"]))["status"] == "success"
        db = duckdb.connect(str(tmp_path / "w.duckdb"))
        db.execute("update accounts set name = 'Renamed Ltd', seats = 15 where id = 'a1'")
        db.close()
        stats = f"{emulator_server.base_url}/_emulator/stats"
        writes = (await served.http.get(stats)).json()["writes_succeeded"]
        plan = (await served.http.post("/api/v1/syncs/customers/plan", headers=auth)).json()
        assert plan["counts"]["updates"] == 1
        [update] = plan["samples"]["updates"]
        assert update["key"] == "a1"
        assert update["changes"] == [
            {"field": "name", "from": "Account 1", "to": "Renamed Ltd"},
            {"field": "custom.seats", "from": 5, "to": 15},
        ]
        page = await served.http.get("/syncs/customers/preview", headers=served.bearer(VIEWER))
        assert page.status_code == 200
        assert "Renamed Ltd" in page.text
        assert "Account 1" in page.text
        assert (await served.http.get(stats)).json()["writes_succeeded"] == writes  # reads only


async def test_reconcile_page_and_api_show_drift_without_writing(emulator_server, tmp_path):
    """After a run and an edit in ChartMogul, the page and the API name the drifted field."""
    url = accounts(tmp_path, 3)
    config = project(emulator_server, tmp_path, url)
    async with serving(config) as served:
        auth = served.bearer(OPERATOR)
        first = await served.http.post("/api/v1/syncs/customers/runs", headers=auth)
        assert (await wait_for_run(served, first.json()["run_id"]))["status"] == "success"
        viewer = served.bearer(VIEWER)
        page = await served.http.get("/syncs/customers/reconcile", headers=viewer)
        assert page.status_code == 200
        assert "ChartMogul matches the warehouse." in page.text
        found = await served.http.get(
            f"{emulator_server.base_url}/v1/customers",
            params={"external_id": "a1"},
            auth=(emulator_server.api_key, ""),
        )
        uuid = found.json()["entries"][0]["uuid"]
        await served.http.patch(
            f"{emulator_server.base_url}/v1/customers/{uuid}",
            json={"name": "Edited in the UI"},
            auth=(emulator_server.api_key, ""),
        )
        stats = f"{emulator_server.base_url}/_emulator/stats"
        writes = (await served.http.get(stats)).json()["writes_succeeded"]
        summary = (
            await served.http.post("/api/v1/syncs/customers/reconcile", headers=viewer)
        ).json()
        assert (summary["in_both"], summary["drifted"], summary["fields"]) == (2, 1, {"name": 1})
        page = await served.http.get("/syncs/customers/reconcile", headers=viewer)
        assert "Edited in the UI" in page.text
        assert "Account 1" in page.text
        assert (await served.http.get(stats)).json()["writes_succeeded"] == writes  # reads only
        missing = await served.http.post("/api/v1/syncs/nosuch/reconcile", headers=viewer)
        assert missing.status_code == 404

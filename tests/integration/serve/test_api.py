"""The HTTP API over real HTTP: trigger, poll, cancel, 409, 404, roles, OpenAPI, metrics.

Runs go to the emulator for real; a gate holds their writes so "while it runs" is a state
the test controls, never a race against the clock.
"""

from __future__ import annotations

import asyncio
import json

import pytest
from tests.integration.serve._support import (
    OPERATOR,
    VIEWER,
    Gate,
    GatedEngine,
    accounts,
    project,
    serving,
    wait_for_run,
)
from tests.integration.sync._support import all_pages, api

pytestmark = pytest.mark.anyio

SUMMARY_KEYS = {"run_id", "sync", "status", "rows", "api_calls", "duration_s"}


async def test_trigger_poll_and_the_run_is_what_sync_run_json_prints(emulator_server, tmp_path):
    """POST runs → 202 run_id; GET run ends success with every row; listing shows it."""
    config = project(emulator_server, tmp_path, accounts(tmp_path, 5))
    async with serving(config) as served:
        auth = served.bearer(OPERATOR)
        started = await served.http.post("/api/v1/syncs/customers/runs", headers=auth)
        assert started.status_code == 202, started.text
        run_id = started.json()["run_id"]
        run = await wait_for_run(served, run_id)
        assert set(run) >= SUMMARY_KEYS
        assert run["status"] == "success"
        assert run["rows"]["added"] == 5
        assert run["rows"]["succeeded"] == 5
        assert run["api_calls"] >= 5
        syncs = (await served.http.get("/api/v1/syncs", headers=served.bearer(VIEWER))).json()
        assert syncs == [{"name": "customers", "object": "customer", "mode": "upsert",
                          "schedule": None, "next_run_at": None,
                          "last_run": {"run_id": run_id, "status": "success"},
                          "alerting": []}]  # fmt: skip
        listed = await served.http.get(
            "/api/v1/runs", params={"sync": "customers", "status": "success"}, headers=auth
        )
        assert [r["run_id"] for r in listed.json()] == [run_id]
        none = await served.http.get("/api/v1/runs", params={"status": "failed"}, headers=auth)
        assert none.json() == []
        page = await served.http.get(
            f"/api/v1/runs/{run_id}/requests", params={"limit": 2}, headers=auth
        )
        assert [r["seq"] for r in page.json()["requests"]] == [1, 2]
        assert page.json()["next_offset"] == 2
    with api(emulator_server) as client:
        assert len(all_pages(client, "/customers", "entries")) == 5


async def test_overlap_is_409_cancel_stops_at_a_safe_point(emulator_server, tmp_path):
    """While a run is held mid-flight: a second trigger is 409; cancel ends it `cancelled`
    with the rows in flight answered; the next run sends exactly the rest."""
    rows = 100  # more than the engine keeps in flight, so some are never sent
    config = project(  # one REST call per row (100 new rows would go through a bulk import)
        emulator_server, tmp_path, accounts(tmp_path, rows), customers_extra={"bulk": "off"}
    )
    with api(emulator_server) as client:  # the data source exists: the first write is a row
        client.post("/data_sources", json={"name": "Serve"}).raise_for_status()
    gate = Gate()
    async with serving(config, engine=GatedEngine(config, gate)) as served:
        auth = served.bearer(OPERATOR)
        run_id = (await served.http.post("/api/v1/syncs/customers/runs", headers=auth)).json()[
            "run_id"
        ]
        await gate.reached.wait()  # rows are in flight: the run is mid-way
        again = await served.http.post("/api/v1/syncs/customers/runs", headers=auth)
        assert again.status_code == 409
        assert "already running" in again.json()["error"]
        running = (await served.http.get(f"/api/v1/runs/{run_id}", headers=auth)).json()
        assert running["status"] == "running"
        cancel = await served.http.post(f"/api/v1/runs/{run_id}/cancel", headers=auth)
        assert cancel.status_code == 202
        gate.release()
        run = await wait_for_run(served, run_id)
        assert run["status"] == "cancelled"
        assert 0 < run["rows"]["succeeded"] < rows  # those in flight, not one more
        assert run["rows"]["failed"] == 0
        again = await served.http.post(f"/api/v1/runs/{run_id}/cancel", headers=auth)
        assert again.status_code == 409
        rest = await served.http.post("/api/v1/syncs/customers/runs", headers=auth)
        final = await wait_for_run(served, rest.json()["run_id"])
        assert final["status"] == "success"
        assert run["rows"]["succeeded"] + final["rows"]["succeeded"] == rows
    with api(emulator_server) as client:
        ids = sorted(c["external_id"] for c in all_pages(client, "/customers", "entries"))
    assert ids == sorted(f"a{i}" for i in range(rows))  # each exactly once


async def test_unknown_sync_and_run_are_404(emulator_server, tmp_path):
    """An unknown sync or run id is 404 with the known names."""
    config = project(emulator_server, tmp_path, accounts(tmp_path, 1))
    async with serving(config) as served:
        auth = served.bearer(OPERATOR)
        missing = await served.http.post("/api/v1/syncs/nope/runs", headers=auth)
        assert missing.status_code == 404
        assert "customers" in missing.json()["error"]
        for path in ("/api/v1/runs/nope", "/api/v1/runs/nope/errors",
                     "/api/v1/runs/nope/requests"):  # fmt: skip
            assert (await served.http.get(path, headers=auth)).status_code == 404
        bad = await served.http.post(
            "/api/v1/syncs/customers/runs", content=b"{not json", headers=auth
        )
        assert bad.status_code == 400


async def test_a_filter_no_run_or_row_error_can_match_is_400(emulator_server, tmp_path):
    """`?status=sucess` or `?kind=transiant` answered `[]`, which reads as "none of those";
    and the run page offered no `transient` filter, a kind the history records."""
    config = project(emulator_server, tmp_path, accounts(tmp_path, 1))
    async with serving(config) as served:
        auth = served.bearer(VIEWER)
        started = await served.http.post(
            "/api/v1/syncs/customers/runs", headers=served.bearer(OPERATOR)
        )
        run_id = started.json()["run_id"]
        await wait_for_run(served, run_id)
        typo = await served.http.get("/api/v1/runs", params={"status": "sucess"}, headers=auth)
        right = await served.http.get("/api/v1/runs", params={"status": "success"}, headers=auth)
        errors = f"/api/v1/runs/{run_id}/errors"
        kind_typo = await served.http.get(errors, params={"kind": "transiant"}, headers=auth)
        transient = await served.http.get(errors, params={"kind": "transient"}, headers=auth)
        page = await served.http.get(f"/runs/{run_id}", headers=auth)
    assert typo.status_code == 400
    assert "unknown status `sucess`: use one of running, success, partial" in typo.json()["error"]
    assert [run["run_id"] for run in right.json()] == [run_id]
    assert kind_typo.status_code == 400
    assert kind_typo.json()["error"] == (
        "unknown kind `transiant`: use one of invalid, rejected, transient, error"
    )
    assert (transient.status_code, transient.json()) == (200, [])
    assert '<option value="transient"' in page.text


async def test_roles_401_and_403(emulator_server, tmp_path):
    """No or a wrong token: 401; a viewer may read but not trigger, cancel or replay: 403."""
    config = project(emulator_server, tmp_path, accounts(tmp_path, 1))
    async with serving(config) as served:
        assert (await served.http.get("/api/v1/syncs")).status_code == 401
        wrong = await served.http.get("/api/v1/syncs", headers=served.bearer("x" * 30))
        assert wrong.status_code == 401
        assert "x" * 30 not in wrong.text
        viewer = served.bearer(VIEWER)
        assert (await served.http.get("/api/v1/syncs", headers=viewer)).status_code == 200
        for path in ("/api/v1/syncs/customers/runs", "/api/v1/runs/r1/cancel",
                     "/api/v1/extract/runs", "/api/v1/events/dead-letters/replay"):  # fmt: skip
            refused = await served.http.post(path, headers=viewer)
            assert refused.status_code == 403, path
            assert "operator" in refused.json()["error"]
        assert (await served.http.get("/metrics")).status_code == 401
        assert (await served.http.get("/healthz")).text == "ok"
        spec = (await served.http.get("/api/openapi.json")).json()
        assert "/api/v1/syncs/{name}/runs" in spec["paths"]
        assert "202" in spec["paths"]["/api/v1/syncs/{name}/runs"]["post"]["responses"]


async def test_metrics_and_the_live_stream(emulator_server, tmp_path):
    """The SSE stream gives one event per request as it happens; /metrics counts the run."""
    config = project(emulator_server, tmp_path, accounts(tmp_path, 4))
    gate = Gate()
    async with serving(config, engine=GatedEngine(config, gate)) as served:
        auth = served.bearer(OPERATOR)
        run_id = (await served.http.post("/api/v1/syncs/customers/runs", headers=auth)).json()[
            "run_id"
        ]
        await gate.reached.wait()
        seen: list[str] = []
        async with served.http.stream(
            "GET", f"/api/v1/runs/{run_id}/requests/stream", headers=auth
        ) as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            lines = stream.aiter_lines()
            # the reads before the gate are already there, streamed at once
            while not seen or seen[-1] != "event: request":
                seen.append(await anext(lines))
            gate.release()  # now the writes happen while the stream is open
            seen.extend([line async for line in lines])
        events = [line for line in seen if line.startswith("event: ")]
        assert events[-1] == "event: end"
        posts = [line for line in seen if line.startswith("data: ") and '"POST"' in line]
        assert len(posts) >= 4
        run = await wait_for_run(served, run_id)
        assert events.count("event: request") == run["api_calls"]
        text = (await served.http.get("/metrics", headers=auth)).text
        assert 'mogulsync_runs_total{status="success"} 1.0' in text
        assert 'mogulsync_rows_total{outcome="succeeded"} 4.0' in text
        assert f"mogulsync_api_calls_total {float(run['api_calls'])}" in text
        assert "mogulsync_runs_running 0.0" in text


async def test_a_stream_of_a_finished_run_replays_its_history(emulator_server, tmp_path):
    """The stream of a finished run sends its stored requests, then ends."""
    config = project(emulator_server, tmp_path, accounts(tmp_path, 2))
    async with serving(config) as served:
        auth = served.bearer(VIEWER)
        run_id = (
            await served.http.post("/api/v1/syncs/customers/runs", headers=served.bearer(OPERATOR))
        ).json()["run_id"]
        run = await wait_for_run(served, run_id)
        body = (await served.http.get(f"/api/v1/runs/{run_id}/requests/stream", headers=auth)).text
        assert body.count("event: request") == run["api_calls"]
        assert body.rstrip().splitlines()[-2] == "event: end"
        await asyncio.sleep(0)


async def test_run_errors_name_null_and_repeated_keys_by_row_number(emulator_server, tmp_path):
    """`/runs/{id}/errors`: a null key is `row N (primary key is null)`, searchable by `row N`."""
    from tests.integration.sync._support import make_warehouse

    rows = "('a1','A','a@x.io'),(NULL,'Nokey','n@x.io'),('a1','Again','b@x.io')"
    url = make_warehouse(
        tmp_path / "keys.duckdb",
        ["create table accounts(id varchar, name varchar, email varchar)",
         f"insert into accounts values {rows}"],
    )  # fmt: skip
    config = project(emulator_server, tmp_path, url)
    async with serving(config) as served:
        auth = served.bearer(VIEWER)
        started = await served.http.post(
            "/api/v1/syncs/customers/runs", headers=served.bearer(OPERATOR)
        )
        run_id = started.json()["run_id"]
        assert (await wait_for_run(served, run_id))["status"] == "partial"
        body = (await served.http.get(f"/api/v1/runs/{run_id}/errors", headers=auth)).json()
        found = await served.http.get(
            f"/api/v1/runs/{run_id}/errors", params={"q": "row 2"}, headers=auth
        )
    assert [(e["key"], e["message"]) for e in body] == [
        ("row 2 (primary key is null)",
         "primary key id is null or blank (the row with name='Nokey', email='n@x.io')"),
        ("a1", ("duplicate primary key 'a1' (rows 1 and 3): row 1 was kept and synced,"
                " row 3 skipped")),
    ]  # fmt: skip
    assert [e["key"] for e in found.json()] == ["row 2 (primary key is null)"]


async def test_a_finished_runs_log_is_streamed_page_by_page_in_order(
    emulator_server, tmp_path, monkeypatch
):
    """A finished run's stored requests go out a page at a time (read off the event loop,
    never the whole log in memory): every request once, numbered in order, then the end;
    `/requests?offset=` pages the same log."""
    from mogulsync.serve import api as serve_api

    monkeypatch.setattr(serve_api, "_STREAM_PAGE", 3)
    config = project(emulator_server, tmp_path, accounts(tmp_path, 7))
    async with serving(config) as served:
        auth = served.bearer(VIEWER)
        run_id = (
            await served.http.post("/api/v1/syncs/customers/runs", headers=served.bearer(OPERATOR))
        ).json()["run_id"]
        run = await wait_for_run(served, run_id)
        assert run["api_calls"] > 2 * 3  # more than two pages
        body = (await served.http.get(f"/api/v1/runs/{run_id}/requests/stream", headers=auth)).text
        events = [block for block in body.strip().split("\n\n") if block]
        assert events[-1].startswith("event: end")
        numbers = [json.loads(e.split("data: ", 1)[1])["seq"] for e in events[:-1]]
        assert numbers == list(range(1, run["api_calls"] + 1))
        paged: list[int] = []
        offset: int | None = 0
        while offset is not None:
            answer = await served.http.get(
                f"/api/v1/runs/{run_id}/requests?offset={offset}&limit=4", headers=auth
            )
            paged += [item["seq"] for item in answer.json()["requests"]]
            offset = answer.json()["next_offset"]
        assert paged == numbers
        unknown = await served.http.get("/api/v1/runs/nosuch/requests/stream", headers=auth)
        assert unknown.status_code == 404

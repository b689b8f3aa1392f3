"""The emulator's service rules: auth, limits, faults, admin API, data sources."""

from __future__ import annotations

import httpx
import pytest

from mogulsync.emulator.server import EmulatorServer
from mogulsync.emulator.settings import EmulatorSettings, Limits


def test_ping_and_bad_key(api: httpx.Client, emulator_server: EmulatorServer) -> None:
    """A valid key gets pong; a bad key gets the documented 401 body."""
    assert api.get("/ping").json() == {"data": "pong!"}
    bad = httpx.get(f"{emulator_server.base_url}/v1/ping", auth=("nope", ""), timeout=30)
    assert bad.status_code == 401
    assert bad.json() == {"code": 401, "message": "No valid API key provided", "param": None}


def test_data_source_rules(api: httpx.Client) -> None:
    """Names are required and unique; unknown uuids give the import-API 404 body."""
    created = api.post("/data_sources", json={"name": "Warehouse"})
    assert created.status_code == 201
    assert created.json()["uuid"].startswith("ds_")
    assert created.json()["system"] == "Custom"
    taken = api.post("/data_sources", json={"name": "Warehouse"})
    assert (taken.status_code, taken.json()) == (
        422,
        {"errors": {"name": "Has already been taken."}},
    )
    missing = api.post("/data_sources", json={})
    assert missing.status_code == 400
    assert missing.json()["param"] == "name"
    null = api.post("/data_sources", json={"name": None})
    assert null.json() == {"errors": {"name": "A name is required for each data source."}}
    gone = api.delete("/data_sources/ds_00000000-0000-0000-0000-000000000000")
    assert (gone.status_code, gone.json()) == (404, {"error": "Data source not found"})
    assert api.delete(f"/data_sources/{created.json()['uuid']}").status_code == 204


def test_rate_limit_and_stats() -> None:
    """Past the token bucket the emulator answers 429 with the documented message."""
    settings = EmulatorSettings(limits=Limits(rate_limit=5, max_connections=20))
    clock = [0.0]  # the bucket's clock stands still unless the test moves it
    with (
        EmulatorServer(settings) as server,
        httpx.Client(base_url=server.base_url, auth=(server.api_key, ""), timeout=30) as client,
    ):
        server.emulator.bucket.use_clock(lambda: clock[0])
        statuses = [client.get("/v1/ping").status_code for _ in range(12)]
        assert statuses == [200] * 5 + [429] * 7  # a burst of one second's worth
        limited = client.get("/v1/ping")
        assert limited.json()["message"] == "Your request rate has exceeded our rate limit."
        clock[0] += 0.4  # two tokens come back
        assert [client.get("/v1/ping").status_code for _ in range(3)] == [200, 200, 429]
        stats = client.get("/_emulator/stats").json()
        assert stats["rate_limited_429"] == 9
        assert stats["by_endpoint"]["GET /v1/ping"] == {"200": 7, "429": 9}


def test_scripted_drop_and_lost_response(api: httpx.Client, admin: httpx.Client) -> None:
    """A drop resets the connection unprocessed; a lost response commits the write."""
    admin.post("/faults/script", json=[{"fault": "drop"}, {"fault": "lost_response"}])
    with pytest.raises(httpx.TransportError):
        api.post("/data_sources", json={"name": "dropped"})
    with pytest.raises(httpx.TransportError):
        api.post("/data_sources", json={"name": "lost"})
    names = [ds["name"] for ds in api.get("/data_sources").json()["data_sources"]]
    assert names == ["lost"]
    assert admin.get("/stats").json()["faults_injected"] == {"drop": 1, "lost_response": 1}


@pytest.mark.parametrize("status", [502, 504])
def test_error_after_write_commits_then_answers_a_gateway_error(
    api: httpx.Client, admin: httpx.Client, status: int
) -> None:
    """The write is applied, then a gateway's 5xx replaces its answer; reads never get it."""
    script = [
        {"fault": "error_after_write", "status": status, "path_pattern": "^/v1/data_sources$"},
    ]
    admin.post("/faults/script", json=script).raise_for_status()
    # a read matching the script passes untouched: only a write can have been applied
    assert api.get("/data_sources").json()["data_sources"] == []
    answer = api.post("/data_sources", json={"name": "applied"})
    assert (answer.status_code, answer.headers["content-type"].split(";")[0]) == (
        status,
        "text/plain",
    )
    names = [ds["name"] for ds in api.get("/data_sources").json()["data_sources"]]
    assert names == ["applied"]
    again = api.post("/data_sources", json={"name": "applied"})
    assert again.json() == {"errors": {"name": "Has already been taken."}}
    stats = admin.get("/stats").json()
    assert stats["faults_injected"] == {"error_after_write": 1}
    assert stats["by_endpoint"]["POST /v1/data_sources"] == {str(status): 1, "422": 1}


def test_random_error_after_write_uses_the_error_statuses(
    api: httpx.Client, admin: httpx.Client
) -> None:
    """At rate 1 every write lands and answers one of ``error_statuses``; reads are spared."""
    faults = {"error_after_write_rate": 1.0, "error_statuses": [504], "seed": 3}
    admin.put("/faults", json=faults).raise_for_status()
    assert [api.post("/data_sources", json={"name": f"s{i}"}).status_code for i in range(3)] == [
        504
    ] * 3
    listed = api.get("/data_sources")
    assert listed.status_code == 200
    assert sorted(ds["name"] for ds in listed.json()["data_sources"]) == ["s0", "s1", "s2"]
    assert admin.get("/stats").json()["faults_injected"] == {"error_after_write": 3}


def test_error_after_write_never_answers_the_503_that_means_nothing_was_done(
    api: httpx.Client, admin: httpx.Client
) -> None:
    """503 is ChartMogul's "too many connections" (the emulator's own concurrency cap): the
    request was not processed, and a client re-sends it without looking first. A write the
    emulator applied must never answer it: at rate 1 with the default ``error_statuses``
    (500, 502, 503, 504) one write in four answered 503, which the client read as "nothing
    happened" (a duplicate, or its own record refused as "already exists"); a script or
    settings asking for it are refused."""
    admin.put("/faults", json={"error_after_write_rate": 1.0, "seed": 5}).raise_for_status()
    answers = [api.post("/data_sources", json={"name": f"s{i}"}).status_code for i in range(40)]
    assert set(answers) == {500, 502, 504}
    admin.delete("/faults")
    assert len(api.get("/data_sources").json()["data_sources"]) == 40
    scripted = admin.post("/faults/script", json=[{"fault": "error_after_write", "status": 503}])
    assert scripted.status_code == 422
    assert admin.get("/faults").json()["script"] == []
    only = {"error_after_write_rate": 0.5, "error_statuses": [503]}
    assert admin.put("/faults", json=only).status_code == 422
    # 503 stays an `error` fault's status: nothing processed, as ChartMogul means it
    admin.post("/faults/script", json=[{"fault": "error", "status": 503}]).raise_for_status()
    assert api.post("/data_sources", json={"name": "refused"}).status_code == 503
    assert len(api.get("/data_sources").json()["data_sources"]) == 40


def test_a_bad_fault_script_queues_nothing_and_says_which_item(
    api: httpx.Client, admin: httpx.Client
) -> None:
    """Unreadable JSON is a 400, not a 500; a script with one bad item is refused whole
    (nothing queued), its errors placed by item index."""
    unreadable = admin.post("/faults/script", content=b"{bad")
    assert unreadable.status_code == 400
    assert unreadable.json()["message"].startswith("Invalid JSON in request body")
    refused = admin.post("/faults/script", json=[{"fault": "drop"}, {"fault": "nosuch"}])
    assert refused.status_code == 422
    assert {tuple(error["loc"]) for error in refused.json()["errors"]} == {(1, "fault")}
    assert admin.get("/faults").json()["script"] == []
    assert api.get("/ping").status_code == 200  # the valid first item was not queued


def test_random_errors_and_reset(api: httpx.Client, admin: httpx.Client) -> None:
    """error_rate 1 answers plain-text 5xx; reset forgets data and counters."""
    api.post("/data_sources", json={"name": "kept until reset"})
    admin.patch("/faults", json={"error_rate": 1.0, "error_statuses": [504]})
    failed = api.get("/ping")
    assert (failed.status_code, failed.text) == (504, "Gateway Timeout Error")
    admin.delete("/faults")
    admin.post("/reset")
    assert api.get("/data_sources").json() == {"data_sources": []}
    assert admin.get("/stats").json()["requests_total"] == 1


@pytest.mark.anyio
async def test_in_process_transport_drop(emulator_app) -> None:
    """In process, an injected drop surfaces as an httpx transport error."""
    from mogulsync.emulator.transport import in_process_transport

    async with httpx.AsyncClient(
        transport=in_process_transport(emulator_app), base_url="http://emulator"
    ) as client:
        await client.post("/_emulator/faults/script", json={"fault": "drop"})
        with pytest.raises(httpx.ReadError):
            await client.get("/v1/ping", auth=("emulator-api-key", ""))
        pong = await client.get("/v1/ping", auth=("emulator-api-key", ""))
        assert pong.json() == {"data": "pong!"}

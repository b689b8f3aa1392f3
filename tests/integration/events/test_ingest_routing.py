"""The ingest app's request dispatch: hot routes, the router's answers, bodies and failures."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from mogulsync.events.app import IngestApp
from mogulsync.events.queue import EventQueue, GroupCommitWriter
from mogulsync.events.schema import MAX_EVENT_BYTES

WRITE_KEY = "wk-routing"
CHUNK = 1024


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    writer = GroupCommitWriter(tmp_path / "q.sqlite")
    transport = httpx.ASGITransport(app=IngestApp(writer, [WRITE_KEY]).app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://ingest", auth=(WRITE_KEY, "")
    ) as http:
        yield http
    writer.close()


async def _chunks(parts: list[bytes]) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


@pytest.mark.anyio
async def test_health_answers_get_and_head(client: httpx.AsyncClient) -> None:
    """GET /health is {"status": "ok"} as JSON; HEAD /health is 200 too."""
    response = await client.get("/health")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})
    assert response.headers["content-type"] == "application/json"
    assert (await client.head("/health")).status_code == 200


@pytest.mark.anyio
async def test_other_methods_and_paths_get_the_routers_answers(client: httpx.AsyncClient) -> None:
    """Wrong method: 405 with Allow; unknown path: 404; trailing slash: redirect."""
    wrong_method = await client.get("/v1/identify")
    assert wrong_method.status_code == 405
    assert wrong_method.headers["allow"] == "POST"
    assert (await client.post("/v1/unknown", json={})).status_code == 404
    slash = await client.post("/v1/identify/", json={"userId": "u"})
    assert slash.status_code == 307
    assert slash.headers["location"].endswith("/v1/identify")


@pytest.mark.anyio
async def test_a_body_in_several_chunks_is_read_whole(
    client: httpx.AsyncClient, tmp_path: Path
) -> None:
    """A streamed body (no Content-Length) is joined before parsing, then stored."""
    parts = [b'{"userId": "u", ', b'"messageId": "chunked"}']
    response = await client.post("/v1/identify", content=_chunks(parts))
    assert (response.status_code, response.json()) == (200, {"success": True})
    stored = EventQueue(tmp_path / "q.sqlite").get("chunked")
    assert stored is not None
    assert stored.type == "identify"


@pytest.mark.anyio
async def test_a_streamed_body_over_the_limit_is_refused(client: httpx.AsyncClient) -> None:
    """Without a Content-Length, the limit is enforced while the body arrives."""
    parts = [b" " * CHUNK] * (MAX_EVENT_BYTES // CHUNK + 1)
    response = await client.post("/v1/identify", content=_chunks(parts))
    assert (response.status_code, response.json()["code"]) == (400, "payload_too_large")


@pytest.mark.anyio
async def test_a_storage_failure_is_a_500_not_an_acknowledgement(tmp_path: Path) -> None:
    """When the queue cannot store, the client gets a plain 500 and never a success."""
    path = tmp_path / "q.sqlite"
    writer = GroupCommitWriter(path)
    with sqlite3.connect(path) as conn:
        conn.execute("DROP TABLE events")  # the next group commit fails
    transport = httpx.ASGITransport(
        app=IngestApp(writer, [WRITE_KEY]).app, raise_app_exceptions=False
    )
    try:
        async with httpx.AsyncClient(
            transport=transport, base_url="http://ingest", auth=(WRITE_KEY, "")
        ) as http:
            response = await http.post("/v1/identify", json={"userId": "u", "messageId": "m"})
    finally:
        writer.close()
    assert (response.status_code, response.text) == (500, "Internal Server Error")
    assert response.headers["content-type"] == "text/plain; charset=utf-8"

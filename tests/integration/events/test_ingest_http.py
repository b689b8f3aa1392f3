"""The ingest app over HTTP (in-process ASGI): auth, gzip, limits, Segment's responses."""

from __future__ import annotations

import gzip
import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from mogulsync.events.app import IngestApp
from mogulsync.events.queue import EventQueue, GroupCommitWriter
from mogulsync.events.schema import MAX_BATCH_BYTES, MAX_EVENT_BYTES

WRITE_KEY = "wk-test-123"


@pytest.fixture
async def ingest(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, EventQueue]]:
    writer = GroupCommitWriter(tmp_path / "q.sqlite")
    app = IngestApp(writer, [WRITE_KEY]).app
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://ingest", auth=(WRITE_KEY, "")
    ) as client:
        yield client, EventQueue(tmp_path / "q.sqlite")
    writer.close()


@pytest.mark.anyio
async def test_identify_is_acknowledged_and_stored(ingest) -> None:
    """POST /v1/identify answers {"success": true} and the event is in the queue."""
    client, queue = ingest
    response = await client.post(
        "/v1/identify", json={"userId": "u1", "messageId": "m1", "traits": {"a": 1}}
    )
    assert (response.status_code, response.json()) == (200, {"success": True})
    stored = queue.get("m1")
    assert stored is not None
    assert (stored.type, stored.status) == ("identify", "pending")


@pytest.mark.anyio
@pytest.mark.parametrize("route", ["group", "track", "page", "screen", "alias"])
async def test_every_single_event_route_sets_the_type(ingest, route: str) -> None:
    """Each Tracking API route stores its own type."""
    client, queue = ingest
    response = await client.post(f"/v1/{route}", json={"userId": "u", "messageId": f"m-{route}"})
    assert response.status_code == 200
    stored = queue.get(f"m-{route}")
    assert stored is not None
    assert stored.type == route


@pytest.mark.anyio
async def test_wrong_or_missing_write_key_is_401(ingest) -> None:
    """Basic auth with an unknown key, or none, is refused."""
    client, queue = ingest
    wrong = await client.post(
        "/v1/identify", json={"userId": "u", "messageId": "x"}, auth=("nope", "")
    )
    assert wrong.status_code == 401
    assert wrong.json()["code"] == "unauthorized"
    anonymous = httpx.AsyncClient(transport=client._transport, base_url="http://ingest")
    assert (await anonymous.post("/v1/identify", json={"userId": "u"})).status_code == 401
    assert queue.get("x") is None


@pytest.mark.anyio
async def test_write_key_in_the_body_is_accepted(ingest) -> None:
    """Segment also accepts writeKey in the body; it is not stored."""
    client, queue = ingest
    plain = httpx.AsyncClient(transport=client._transport, base_url="http://ingest")
    response = await plain.post(
        "/v1/track", json={"writeKey": WRITE_KEY, "userId": "u", "event": "E", "messageId": "t1"}
    )
    assert response.status_code == 200
    stored = queue.get("t1")
    assert stored is not None
    assert WRITE_KEY not in stored.body


@pytest.mark.anyio
async def test_gzip_batch_with_envelope_defaults(ingest) -> None:
    """A gzip /v1/batch body is decompressed; envelope context fills each message."""
    client, queue = ingest
    body = {
        "batch": [
            {"type": "identify", "userId": "u1", "messageId": "b1"},
            {"type": "group", "userId": "u1", "groupId": "g", "messageId": "b2"},
        ],
        "context": {"library": {"name": "test"}},
    }
    response = await client.post(
        "/v1/batch",
        content=gzip.compress(json.dumps(body).encode()),
        headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
    )
    assert response.status_code == 200
    stored = queue.get("b2")
    assert stored is not None
    assert json.loads(stored.body)["context"] == {"library": {"name": "test"}}


@pytest.mark.anyio
async def test_duplicate_message_ids_are_acknowledged_and_stored_once(ingest) -> None:
    """Re-sending a messageId answers 200 but stores nothing new."""
    client, queue = ingest
    for _ in range(3):
        assert (
            await client.post("/v1/identify", json={"userId": "u", "messageId": "dup"})
        ).status_code == 200
    assert queue.counts()["pending"] == 1
    assert queue.counters()["duplicates"] == 2


@pytest.mark.anyio
async def test_size_limits_answer_400_like_segment(ingest) -> None:
    """Over 32 KB for one event, 500 KB for a batch, or a big event in a batch: 400."""
    client, _ = ingest
    blob = "x" * MAX_EVENT_BYTES
    single = await client.post("/v1/identify", json={"userId": "u", "traits": {"b": blob}})
    assert (single.status_code, single.json()["code"]) == (400, "payload_too_large")
    in_batch = await client.post(
        "/v1/batch", json={"batch": [{"type": "identify", "userId": "u", "traits": {"b": blob}}]}
    )
    assert in_batch.status_code == 400
    many = [
        {"type": "identify", "userId": "u", "traits": {"b": "y" * 20_000}}
        for _ in range(MAX_BATCH_BYTES // 20_000 + 1)
    ]
    whole = await client.post("/v1/batch", json={"batch": many})
    assert (whole.status_code, whole.json()["code"]) == (400, "payload_too_large")


@pytest.mark.anyio
async def test_gzip_bomb_is_bounded(ingest) -> None:
    """A small gzip body that inflates past the limit is refused, not inflated."""
    client, _ = ingest
    bomb = gzip.compress(b'{"userId":"' + b"a" * (MAX_EVENT_BYTES * 4) + b'"}')
    response = await client.post("/v1/identify", content=bomb, headers={"Content-Encoding": "gzip"})
    assert (response.status_code, response.json()["code"]) == (400, "payload_too_large")


@pytest.mark.anyio
async def test_invalid_json_and_bad_batch_are_400(ingest) -> None:
    """Malformed JSON or a batch without `batch` is a 400 with a Segment-style body."""
    client, _ = ingest
    broken = await client.post("/v1/identify", content=b"{not json")
    assert (broken.status_code, broken.json()["success"]) == (400, False)
    no_batch = await client.post("/v1/batch", json={"events": []})
    assert no_batch.status_code == 400


@pytest.mark.anyio
async def test_invalid_events_are_acknowledged_and_counted_as_rejected(ingest) -> None:
    """Like Segment, a spec violation gets 200 but is visible as a rejection."""
    client, queue = ingest
    response = await client.post("/v1/identify", json={"messageId": "noid", "traits": {}})
    assert response.status_code == 200
    assert queue.counts()["rejected"] == 1

"""The ingest app under hostile input: amplification, bad values, deep JSON, key scoping."""

from __future__ import annotations

import gzip
import json
import logging
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from mogulsync.config.events import IngestLimits
from mogulsync.events._throttle import INGEST_LOGGER, THROTTLED_LOGGERS, install_log_throttle
from mogulsync.events.app import IngestApp
from mogulsync.events.queue import EventQueue, GroupCommitWriter

WRITE_KEY = "wk-hostile"
OTHER_KEY = "wk-other"
MIB = 1024 * 1024


class Clock:
    """A clock the test moves by hand (the per-key byte budget refills with it)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Ingest:
    def __init__(self, app: IngestApp, path: Path, clock: Clock) -> None:
        self.app = app
        self.path = path
        self.clock = clock
        self.queue = EventQueue(path)

    def client(self, key: str | None = WRITE_KEY) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=self.app.app)
        auth = (key, "") if key is not None else None
        return httpx.AsyncClient(transport=transport, base_url="http://ingest", auth=auth)

    def stored_bytes(self) -> int:
        with sqlite3.connect(self.path) as conn:
            events = conn.execute("SELECT COALESCE(SUM(LENGTH(body)), 0) FROM events").fetchone()
            shared = conn.execute("SELECT COALESCE(SUM(LENGTH(body)), 0) FROM shared").fetchone()
        return int(events[0]) + int(shared[0])


@pytest.fixture
def limits() -> IngestLimits:
    return IngestLimits()


@pytest.fixture
async def ingest(tmp_path: Path, limits: IngestLimits) -> AsyncIterator[Ingest]:
    path = tmp_path / "q.sqlite"
    writer = GroupCommitWriter(path)
    clock = Clock()
    app = IngestApp(writer, [WRITE_KEY, OTHER_KEY], limits=limits, clock=clock)
    yield Ingest(app, path, clock)
    writer.close()


def amplifying_batch(events: int = 2500, context_bytes: int = 31_000) -> bytes:
    """The review's request: a big context in the envelope, shared by many tiny events."""
    body = {
        "batch": [{"type": "track", "userId": "u", "event": "e"} for _ in range(events)],
        "context": {"blob": "x" * context_bytes},
    }
    return gzip.compress(json.dumps(body).encode())


@pytest.mark.anyio
async def test_a_shared_context_is_not_stored_once_per_event(ingest: Ingest) -> None:
    """A ~7 KB gzip batch, 31 KB context shared by 2,500 events, stores well under 1 MiB (was 77 MB)."""
    request = amplifying_batch()
    assert len(request) < 8 * 1024
    async with ingest.client() as client:
        for _ in range(4):
            response = await client.post(
                "/v1/batch", content=request, headers={"Content-Encoding": "gzip"}
            )
            assert response.status_code == 200
    assert ingest.queue.counts()["pending"] == 4 * 2500
    per_request = ingest.stored_bytes() / 4
    assert per_request < MIB  # 2,500 copies of the context would be 77.5 MB
    [first] = ingest.queue.pending(1)
    assert len(json.loads(first.body)["context"]["blob"]) == 31_000


@pytest.mark.anyio
@pytest.mark.parametrize("limits", [IngestLimits(max_stored_bytes_per_request=64 * 1024)])
async def test_a_request_storing_more_than_the_bound_is_refused(ingest: Ingest) -> None:
    """Over max_stored_bytes_per_request: 400 payload_too_large, nothing stored."""
    async with ingest.client() as client:
        response = await client.post(
            "/v1/batch", content=amplifying_batch(), headers={"Content-Encoding": "gzip"}
        )
    assert response.status_code == 400
    assert response.json()["code"] == "payload_too_large"
    assert "send fewer events" in response.json()["message"]
    assert ingest.queue.counts()["pending"] == 0


@pytest.mark.anyio
@pytest.mark.parametrize(
    "limits", [IngestLimits(key_bytes_per_s=256 * 1024, key_burst_bytes=1 * MIB)]
)
async def test_a_write_key_over_its_byte_rate_gets_429_until_its_budget_refills(
    ingest: Ingest,
) -> None:
    """Past the burst a key gets 429 + Retry-After; other keys are unaffected; time refills."""
    request = amplifying_batch(events=2500, context_bytes=10)
    headers = {"Content-Encoding": "gzip"}
    async with ingest.client() as client, ingest.client(OTHER_KEY) as other:
        accepted = 0
        for _ in range(10):
            response = await client.post("/v1/batch", content=request, headers=headers)
            if response.status_code != 200:
                break
            accepted += 1
        assert 1 <= accepted < 10
        assert response.status_code == 429
        assert response.json() == {
            "success": False,
            "code": "rate_limited",
            "message": response.json()["message"],
        }
        retry_after = int(response.headers["retry-after"])
        assert retry_after >= 1
        assert (await other.post("/v1/batch", content=request, headers=headers)).status_code == 200
        ingest.clock.now += retry_after
        assert (await client.post("/v1/batch", content=request, headers=headers)).status_code == 200
    assert ingest.queue.counts()["pending"] == (accepted + 2) * 2500


@pytest.mark.anyio
async def test_one_bad_event_does_not_fail_its_batch(ingest: Ingest) -> None:
    """Skew overflow, a lone surrogate, NaN and 1e400 reject only their own events."""
    body = (
        '{"batch": ['
        '{"type": "identify", "userId": "ok", "messageId": "good"},'
        '{"type": "identify", "userId": "u", "messageId": "skew",'
        ' "sentAt": "0001-01-01T00:00:00Z", "timestamp": "9999-12-31T23:59:59Z"},'
        '{"type": "identify", "userId": "u", "messageId": "surrogate",'
        ' "traits": {"name": "\\ud800"}},'
        '{"type": "identify", "userId": "u", "messageId": "nan", "traits": {"n": NaN}},'
        '{"type": "identify", "userId": "u", "messageId": "huge", "traits": {"n": 1e400}},'
        '{"type": "identify", "userId": "u", "messageId": "inf", "traits": {"n": -Infinity}}'
        "]}"
    )
    async with ingest.client() as client:
        response = await client.post("/v1/batch", content=body.encode())
    assert (response.status_code, response.json()) == (200, {"success": True})
    good = ingest.queue.get("good")
    assert good is not None
    assert good.status == "pending"
    reasons = {e.message_id: e.reason or "" for e in ingest.queue.by_status("rejected")}
    assert set(reasons) == {"skew", "surrogate", "nan", "huge", "inf"}
    assert "outside years 1-9999" in reasons["skew"]
    assert "traits.name" in reasons["surrogate"]
    assert all("traits.n" in reasons[m] for m in ("nan", "huge", "inf"))
    for event in ingest.queue.by_status("rejected"):
        json.loads(event.body)  # standard JSON: no NaN/Infinity literals
        assert "NaN" not in event.body
        assert "Infinity" not in event.body


def deep(levels: int) -> bytes:
    return b'{"userId": "u", "traits": ' + b"[" * levels + b"]" * levels + b"}"


@pytest.mark.anyio
@pytest.mark.parametrize("levels", [40, 15_000])
async def test_deep_json_is_a_400_when_authenticated_and_a_401_otherwise(
    ingest: Ingest, levels: int
) -> None:
    """Nesting beyond max_json_depth: 400 (never a 500/traceback); no key: 401 first."""
    async with ingest.client() as client, ingest.client(None) as anonymous:
        refused = await client.post("/v1/identify", content=deep(levels))
        unauthenticated = await anonymous.post("/v1/identify", content=deep(levels))
        shallow = await client.post("/v1/identify", content=deep(20))
    assert (refused.status_code, refused.json()["code"]) == (400, "invalid_json")
    assert "nested deeper than 32" in refused.json()["message"]
    assert unauthenticated.status_code == 401
    assert shallow.status_code == 200


@pytest.mark.anyio
async def test_a_wrong_basic_auth_key_is_refused_before_the_body_is_read(ingest: Ingest) -> None:
    """With a Basic-auth header naming no key, the app answers 401 without reading the body."""
    sent: list[dict] = []

    async def receive() -> dict:
        raise AssertionError("the body was read before the key was checked")

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/v1/batch",
        "root_path": "",
        "headers": [(b"authorization", b"Basic d3Jvbmc6"), (b"content-length", b"400000")],
    }
    await ingest.app(scope, receive, send)
    assert sent[0]["status"] == 401


@pytest.mark.anyio
async def test_a_body_without_a_valid_write_key_is_never_parsed(ingest: Ingest) -> None:
    """No header and no valid writeKey in the raw body: 401, even for invalid JSON."""
    async with ingest.client(None) as anonymous:
        broken = await anonymous.post("/v1/identify", content=b"{not json")
        wrong = await anonymous.post("/v1/identify", json={"writeKey": "nope", "userId": "u"})
        nested = await anonymous.post(
            "/v1/identify", json={"userId": "u", "traits": {"writeKey": WRITE_KEY}}
        )
        right = await anonymous.post(
            "/v1/identify", json={"writeKey": WRITE_KEY, "userId": "u", "messageId": "k"}
        )
    assert [r.status_code for r in (broken, wrong, nested, right)] == [401, 401, 401, 200]


@pytest.mark.anyio
async def test_message_ids_are_scoped_per_write_key(ingest: Ingest) -> None:
    """Two sources sending the same messageId are both stored; a repeat per key is not."""
    message = {"userId": "u", "messageId": "shared-id"}
    async with ingest.client() as first, ingest.client(OTHER_KEY) as second:
        for client in (first, second, first):
            assert (await client.post("/v1/identify", json=message)).status_code == 200
    assert ingest.queue.counts()["pending"] == 2
    assert ingest.queue.counters()["duplicates"] == 1
    with sqlite3.connect(ingest.path) as conn:
        sources = [row[0] for row in conn.execute("SELECT source FROM events")]
    assert all(WRITE_KEY not in s and OTHER_KEY not in s for s in sources)


@pytest.mark.anyio
async def test_repeated_failures_log_one_traceback_per_interval(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Every failing request gets a plain 500; the log gets one traceback, then a count."""
    path = tmp_path / "q.sqlite"
    writer = GroupCommitWriter(path)
    with sqlite3.connect(path) as conn:
        conn.execute("DROP TABLE events")  # every group commit fails
    throttle = install_log_throttle(3600)
    app = IngestApp(writer, [WRITE_KEY]).app
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://x", auth=(WRITE_KEY, "")
        ) as client:
            with caplog.at_level(logging.ERROR, INGEST_LOGGER):
                statuses = [
                    (await client.post("/v1/identify", json={"userId": "u"})).status_code
                    for _ in range(30)
                ]
    finally:
        writer.close()
        for name in THROTTLED_LOGGERS:
            logging.getLogger(name).removeFilter(throttle)
    assert statuses == [500] * 30
    tracebacks = [r for r in caplog.records if r.exc_info]
    assert len(tracebacks) == 1

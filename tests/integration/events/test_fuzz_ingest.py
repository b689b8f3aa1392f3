"""Property: no request to the events endpoint gets a 5xx, and it keeps answering.

Hypothesis draws requests (paths, methods, auth headers, content types and encodings,
bodies: random JSON with Segment's fields of the wrong type, bad gzip, invalid UTF-8, deep
or huge values). The requests are drawn first with ``derandomize`` (the same ones every
run), then sent to the in-process ingest app in one event loop.
"""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, NamedTuple

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mogulsync.events.app import IngestApp
from mogulsync.events.queue import EventQueue, GroupCommitWriter

WRITE_KEY = "wk-fuzz"
EXAMPLES = 400
ROUTES = ["identify", "group", "track", "page", "screen", "alias", "batch", "import"]
PATHS = [f"/v1/{route}" for route in ROUTES] + ["/v1/identify/", "/health", "/v1/x", "/"]


class Request(NamedTuple):
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


def _basic(username: bytes) -> str:
    return "Basic " + base64.b64encode(username + b":").decode()


AUTH = st.sampled_from(
    [
        _basic(WRITE_KEY.encode()),
        _basic(WRITE_KEY.encode()),
        _basic(b"wrong"),
        _basic(b"\xff\xfe"),
        "Basic " + base64.b64encode(b"no-colon").decode(),
        "Basic !!!",
        "Basic ",
        "Bearer " + WRITE_KEY,
        "",
        "basic " + base64.b64encode(b":" + WRITE_KEY.encode()).decode(),
    ]
)
HOSTILE = st.sampled_from(
    [
        None,
        "",
        "x" * 20_000,
        "\x00",
        "\ud800",
        -1,
        2**64,
        1e308,
        "2024-02-30T25:00:00Z",
        "0001-01-01T00:00:00+23:59",
        "9999-12-31T23:59:59-23:59",
        [],
        {},
    ]
)
JSON = st.recursive(
    st.one_of(
        st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20)
    )
    | HOSTILE,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=10,
)
FIELDS = [
    "userId", "anonymousId", "messageId", "type", "event", "traits", "properties", "context",
    "timestamp", "sentAt", "originalTimestamp", "groupId", "previousId", "integrations",
    "writeKey", "name", "batch",
]  # fmt: skip
MESSAGE = st.fixed_dictionaries(
    {},
    optional=dict.fromkeys(FIELDS, JSON)
    | {
        "traits": st.dictionaries(
            st.sampled_from(["email", "name", "plan", "mrr", "createdAt", "company"]), JSON
        )
    },
)
BODY_JSON = st.one_of(
    MESSAGE,
    st.fixed_dictionaries(
        {"batch": st.lists(MESSAGE | JSON, max_size=5)},
        optional={"context": JSON, "writeKey": JSON},
    ),
    JSON,
)
RAW_BODIES = st.sampled_from(
    [
        b"",
        b"{",
        b"\xff\xfe{}",
        b'{"userId": 1e99999}',
        b'{"userId": NaN}',
        b'{"userId": ' + b"9" * 5000 + b"}",
        b"[" * 100_000,
        b'{"a":' * 40 + b"1" + b"}" * 40,
        b'{"writeKey": "wk-fuzz", "userId": "u"}',
        b'{"writeKey": "wk-fuzz\\u0000", "userId": "u"}',
        b'{"writeKey": "\\ud800", "userId": "u"}',
        b'{"batch": [{"type": "identify", "userId": "u"}], "writeKey": "wk-fuzz"}',
        gzip.compress(b"not json"),
        gzip.compress(b"0" * 2_000_000),
    ]
)


@st.composite
def requests(draw: st.DrawFn) -> Request:
    body = json.dumps(draw(BODY_JSON)).encode() if draw(st.booleans()) else draw(RAW_BODIES)
    headers: dict[str, str] = {}
    auth = draw(AUTH)
    if auth:
        headers["Authorization"] = auth
    content_type = draw(
        st.sampled_from(["application/json", "text/plain", "", "application/x-www-form-urlencoded"])
    )
    if content_type:
        headers["Content-Type"] = content_type
    encoding = draw(st.sampled_from(["", "", "gzip", "GZIP", "deflate", "gzip, gzip", "br"]))
    if encoding:
        headers["Content-Encoding"] = encoding
        if encoding.lower() == "gzip" and draw(st.booleans()):
            body = gzip.compress(body)
    if draw(st.integers(0, 9)) == 0:
        headers["Content-Length"] = draw(st.sampled_from(["-1", "abc", "99999999999", "1"]))
    method = draw(st.sampled_from(["POST"] * 6 + ["GET", "PUT", "DELETE", "OPTIONS"]))
    return Request(method, draw(st.sampled_from(PATHS)), headers, body)


def drawn_requests() -> list[Request]:
    """The same requests on every run: hypothesis as a derandomized generator."""
    found: list[Request] = []

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(requests())
    def collect(request: Request) -> None:
        found.append(request)

    collect()
    return found


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    writer = GroupCommitWriter(tmp_path / "q.sqlite")
    transport = httpx.ASGITransport(app=IngestApp(writer, [WRITE_KEY]).app)
    async with httpx.AsyncClient(transport=transport, base_url="http://ingest") as http:
        yield http
    writer.close()


async def _send(http: httpx.AsyncClient, request: Request) -> httpx.Response:
    return await http.request(
        request.method, request.path, headers=request.headers, content=request.body
    )


def _describe(request: Request, response: httpx.Response) -> dict[str, Any]:
    return {
        "request": (request.method, request.path, request.headers, request.body[:200]),
        "status": response.status_code,
        "body": response.text[:200],
    }


@pytest.mark.anyio
async def test_no_request_gets_a_5xx_and_errors_are_json(
    client: httpx.AsyncClient, tmp_path: Path
) -> None:
    failures = []
    for request in drawn_requests():
        response = await _send(client, request)
        if response.status_code >= 500:
            failures.append(_describe(request, response))
        elif response.status_code >= 400:  # every error, unknown routes' too, is JSON
            try:
                response.json()
            except ValueError:
                failures.append(_describe(request, response))
    assert failures == [], failures[:5]
    # still answering, and still storing
    assert (await client.get("/health")).status_code == 200
    ok = await client.post(
        "/v1/identify", json={"userId": "u", "messageId": "after-fuzz"}, auth=(WRITE_KEY, "")
    )
    assert ok.status_code == 200
    assert EventQueue(tmp_path / "q.sqlite").get("after-fuzz") is not None


@pytest.mark.anyio
async def test_regression_unknown_routes_and_methods_answer_json(
    client: httpx.AsyncClient,
) -> None:
    """The router's 404 and 405 were plain text ("Not Found") where every other error is JSON."""
    missing = await client.post("/v1/x", json={})
    wrong = await client.get("/v1/identify")
    assert (missing.status_code, missing.json()["code"]) == (404, "not_found")
    assert (wrong.status_code, wrong.json()["code"]) == (405, "method_not_allowed")
    assert wrong.headers["allow"] == "POST"
    assert "/v1/{identify|" in missing.json()["message"]

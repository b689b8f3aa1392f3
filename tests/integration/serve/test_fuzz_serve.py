"""Property: no request to `mogulsync serve` (API and UI) gets a 5xx.

Hypothesis draws requests over every route: path params (run ids, sync names) that are
odd, huge or URL-escaped; query strings of pagination and filter params with out-of-range
or non-numeric values; JSON and form bodies of the wrong shape; with each role's token and
none. The requests are drawn first with ``derandomize`` (the same ones every run), then
sent over real HTTP to the server on loopback, which has one finished run to look up.
"""

from __future__ import annotations

import json
from typing import Any, NamedTuple
from urllib.parse import quote, urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.integration.serve._support import (
    OPERATOR,
    VIEWER,
    accounts,
    project,
    serving,
    wait_for_run,
)

pytestmark = pytest.mark.anyio

#: requests drawn per route: every route gets its share of odd values
PER_ROUTE = 10
FEW = 3
READS_QUERY = {"/", "/login", "/api/v1/runs", "/runs"}
RUN = "{run}"  # replaced by the finished run's id
ROUTES = [
    ("GET", "/api/v1/syncs"),
    ("POST", "/api/v1/syncs/{name}/runs"),
    ("POST", "/api/v1/syncs/{name}/plan"),
    ("POST", "/api/v1/syncs/{name}/reconcile"),
    ("GET", "/api/v1/runs"),
    ("GET", "/api/v1/runs/{run_id}"),
    ("GET", "/api/v1/runs/{run_id}/errors"),
    ("GET", "/api/v1/runs/{run_id}/requests"),
    ("GET", "/api/v1/runs/{run_id}/requests/stream"),
    ("POST", "/api/v1/runs/{run_id}/cancel"),
    ("GET", "/api/v1/extract/runs"),
    ("GET", "/api/v1/schedules"),
    ("POST", "/api/v1/schedules/{name}/pause"),
    ("POST", "/api/v1/schedules/{name}/resume"),
    ("GET", "/api/v1/events/status"),
    ("POST", "/api/v1/events/dead-letters/replay"),
    ("GET", "/api/openapi.json"),
    ("GET", "/healthz"),
    ("GET", "/metrics"),
    ("GET", "/"),
    ("GET", "/login"),
    ("POST", "/login"),
    ("POST", "/logout"),
    ("GET", "/syncs"),
    ("POST", "/syncs/{name}/run"),
    ("POST", "/schedules/{name}/pause"),
    ("POST", "/schedules/{name}/resume"),
    ("GET", "/syncs/{name}/preview"),
    ("GET", "/syncs/{name}/reconcile"),
    ("GET", "/runs"),
    ("GET", "/runs/{run_id}"),
    ("POST", "/runs/{run_id}/cancel"),
    ("GET", "/events"),
    ("POST", "/events/replay"),
    ("GET", "/extract"),
    ("GET", "/static/{name}"),
]
ODD = [
    "",
    "0",
    "-1",
    "1e3",
    "NaN",
    "9" * 30,
    "9" * 5000,
    "\x00",
    "%00",
    "..",
    "../../etc/passwd",
    "a" * 3000,
    "ü🙂",
    "1 OR 1=1",
    "'; drop table runs; --",
    "true",
]
NAMES = st.sampled_from(["customers", "nope", *ODD]) | st.text(max_size=10)
#: mostly the finished run: its pages reach the code behind the 404s
RUN_IDS = st.sampled_from([RUN] * len(ODD) + ["nope", *ODD]) | st.text(max_size=10)
#: what pagination and counters are most likely to choke on
NUMBERS = ["9" * 30, "-9" + "9" * 30, "9" * 5000, "-1", "1e3", "NaN", "0x10", " 1 ", "1_0"]
KEYS = st.sampled_from(
    ["offset", "limit", "n", "sync", "status", "q", "kind", "flash", "failed", "full"]
)
PARAMS = st.one_of(
    st.dictionaries(KEYS, st.sampled_from(NUMBERS), min_size=1, max_size=3),
    st.dictionaries(
        KEYS, st.sampled_from(ODD) | st.integers().map(str) | st.text(max_size=8), max_size=4
    ),
)
JSON_BODIES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8) | st.sampled_from(ODD),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)


class Request(NamedTuple):
    method: str
    url: str
    token: str | None
    content: bytes
    content_type: str


@st.composite
def requests(draw: st.DrawFn, method: str, template: str) -> Request:
    path = template.format(
        name=quote(draw(NAMES), safe=""), run_id=quote(draw(RUN_IDS), safe="")
    ).replace(quote(RUN, safe=""), RUN)
    query = urlencode(draw(PARAMS))
    url = f"{path}?{query}" if query else path
    token = draw(st.sampled_from([VIEWER, OPERATOR, None, "wrong-token"]))
    kind = draw(st.sampled_from(["none", "json", "form", "raw"]))
    content, content_type = b"", ""
    if kind == "json":
        content, content_type = json.dumps(draw(JSON_BODIES)).encode(), "application/json"
    elif kind == "form":
        fields = draw(
            st.dictionaries(st.sampled_from(["csrf", "token", "full", "x"]), st.text(max_size=8))
        )
        content, content_type = urlencode(fields).encode(), "application/x-www-form-urlencoded"
    elif kind == "raw":
        content = draw(
            st.sampled_from([b"{", b"\xff\xfe", b"[]", b'{"full": "yes"}', b"x" * 100_000])
        )
        content_type = draw(
            st.sampled_from(["application/json", "multipart/form-data; boundary=x", ""])
        )
    return Request(method, url, token, content, content_type)


def drawn_requests() -> list[Request]:
    """The same requests on every run: hypothesis as a derandomized generator."""
    found: list[Request] = []
    for method, template in ROUTES:
        # routes reading path or query params get the most; the rest a few (body, auth)
        reads = "{" in template or template in READS_QUERY
        found.extend(_drawn(method, template, PER_ROUTE if reads else FEW))
    return found


def _drawn(method: str, template: str, count: int) -> list[Request]:
    found: list[Request] = []

    @settings(
        max_examples=count,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(requests(method, template))
    def collect(request: Request) -> None:
        found.append(request)

    collect()
    return found


async def test_no_request_to_serve_gets_a_5xx(emulator_server: Any, tmp_path: Any) -> None:
    # scheduled: the pause and resume routes reach a real job (nothing ticks it here)
    config = project(emulator_server, tmp_path, accounts(tmp_path, 3), schedule={"every": "1h"})
    async with serving(config) as served:
        started = await served.http.post(
            "/api/v1/syncs/customers/runs", headers=served.bearer(OPERATOR)
        )
        run_id = started.json()["run_id"]
        await wait_for_run(served, run_id)
        failures = []
        started_runs = []
        for request in drawn_requests():
            headers = served.bearer(request.token) if request.token else {}
            if request.content_type:
                headers["Content-Type"] = request.content_type
            response = await served.http.request(
                request.method,
                request.url.replace(RUN, run_id),
                headers=headers,
                content=request.content,
            )
            if response.status_code >= 500:
                failures.append((request, response.status_code, response.text[:300]))
            if response.status_code == 202 and "run_id" in response.text:
                started_runs.append(response.json()["run_id"])
        for started_id in started_runs:  # let triggered runs end before the server stops
            await wait_for_run(served, started_id)
        assert failures == [], failures[:5]
        assert (await served.http.get("/healthz")).status_code == 200


async def test_regression_a_huge_requests_offset_is_an_empty_page(
    emulator_server: Any, tmp_path: Any
) -> None:
    """?offset= past sys.maxsize made itertools.islice raise: a 500 (found by the fuzz)."""
    config = project(emulator_server, tmp_path, accounts(tmp_path, 1))
    async with serving(config) as served:
        auth = served.bearer(VIEWER)
        started = await served.http.post(
            "/api/v1/syncs/customers/runs", headers=served.bearer(OPERATOR)
        )
        run_id = started.json()["run_id"]
        await wait_for_run(served, run_id)
        huge = await served.http.get(
            f"/api/v1/runs/{run_id}/requests?offset={'9' * 30}", headers=auth
        )
        assert (huge.status_code, huge.json()) == (200, {"requests": [], "next_offset": None})
        first = await served.http.get(f"/api/v1/runs/{run_id}/requests?offset=0", headers=auth)
        assert first.json()["requests"]  # the cap leaves real offsets alone

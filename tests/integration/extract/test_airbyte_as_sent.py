"""The Airbyte source passes every stream's entries on as the API sent them.

The list streams always did (``Page.raw_items``); ``account``, ``data_sources``,
``plan_groups`` and the metrics series (``customer_count``, ``metrics`` and 1.0.13's
``customer_*_count``) were re-serialised from the parsed models, which respells values (a
timestamp's ``.000Z`` as ``Z``). The responses are recorded on their way in (real HTTP to
the emulator) and each record compared with its entry.
"""

from __future__ import annotations

import io
import json
from typing import Any

import httpx
import pytest
from tests.integration.extract._seed import Seeded
from tests.integration.extract.test_airbyte import _catalog, _config

from mogulsync.emulator.server import EmulatorServer
from mogulsync.extract.airbyte import AirbyteSource

STREAMS = {
    # stream: (path, the body's key holding its entries; None: the body is the entry)
    "account": ("/v1/account", None),
    "data_sources": ("/v1/data_sources", "data_sources"),
    "plan_groups": ("/v1/plan_groups", "plan_groups"),
    "customer_count": ("/v1/metrics/customer-count", "entries"),
    "customer_monthly_count": ("/v1/metrics/customer-count", "entries"),
    "metrics": ("/v1/metrics/all", "entries"),
}


class _Recording(httpx.AsyncBaseTransport):
    """Real HTTP, each response's body kept by path and query."""

    def __init__(self) -> None:
        self._http = httpx.AsyncHTTPTransport()
        self.bodies: dict[str, list[str]] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self._http.handle_async_request(request)
        body = await response.aread()
        self.bodies.setdefault(request.url.path, []).append(body.decode())
        return httpx.Response(response.status_code, headers=response.headers, content=body)

    async def aclose(self) -> None:
        await self._http.aclose()


@pytest.fixture
def read(
    seeded: tuple[EmulatorServer, Seeded],
) -> tuple[list[dict[str, Any]], _Recording]:
    recording = _Recording()
    out = io.StringIO()
    config = _config(seeded[0], interval="month")
    assert AirbyteSource(out, transport=recording).read(config, _catalog(list(STREAMS))) == 0
    messages = [json.loads(line) for line in out.getvalue().splitlines()]
    return messages, recording


def _sent(recording: _Recording, path: str, key: str | None) -> list[list[str]]:
    """The entries sent to ``path`` as JSON text: every response's together (a list's
    pages), and each response's alone (two streams may ask for one series)."""
    bodies = [json.loads(body) for body in recording.bodies[path]]
    each = [[json.dumps(e) for e in ([body] if key is None else body[key])] for body in bodies]
    return [sorted(entry for entries in each for entry in entries), *map(sorted, each)]


#: what a stream adds to each entry: a series' interval, a group's plans
ADDED = {"customer_count": "interval", "metrics": "interval", "plan_groups": "plans"}


def test_every_record_is_its_entry_as_sent(read):
    messages, recording = read
    for stream, (path, key) in STREAMS.items():
        records = [
            m["record"]["data"]
            for m in messages
            if m["type"] == "RECORD" and m["record"]["stream"] == stream
        ]
        assert records, stream
        # compared as JSON text: "...T10:00:00.138Z" and "...T10:00:00.138000Z" differ
        as_text = sorted(
            json.dumps({k: v for k, v in record.items() if k != ADDED.get(stream)})
            for record in records
        )
        assert as_text in _sent(recording, path, key), stream

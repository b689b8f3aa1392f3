"""A refusal from the Segment webhook that quotes only the URL's path stores no token.

With webhook delivery the URL's path names the account's source: it is a secret. Before,
only the whole URL was masked in the stored reason, so a reply such as ``no source at
/segment/<token>`` put the token on the Events page and in ``events dead-letter list``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from tests.unit.events.test_forwarder import T0, store

from mogulsync.events.delivery import PlannedEvent, WebhookDelivery
from mogulsync.events.forwarder import plan_for
from mogulsync.events.mappings import DEFAULT_MAPPINGS
from mogulsync.events.schema import normalize

TOKEN = "src-7f3a9c2e5b1d4f60-secret"


class _Refuses(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        body = f"no source at {self.path}".encode()
        self.send_response(404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def refusing_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Refuses)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.mark.anyio
async def test_a_refusal_quoting_the_path_stores_no_token(
    tmp_path: Path, refusing_url: str
) -> None:
    group = normalize(
        {"type": "group", "userId": "u1", "groupId": "acme", "traits": {"name": "Acme"}},
        received_at=T0,
    )
    queue = await store(tmp_path / "q", [group])
    try:
        [event] = queue.pending(1)
        plan = plan_for(event, DEFAULT_MAPPINGS)
        assert any(action.webhook is not None for action in plan.actions)
        delivery = WebhookDelivery(f"{refusing_url}/segment/{TOKEN}")
        try:
            [verdict] = await delivery.deliver("acme", [PlannedEvent(event, plan)])
        finally:
            await delivery.aclose()
    finally:
        queue.close()
    assert verdict.kind == "dead"
    assert verdict.reason is not None
    assert "no source at" in verdict.reason
    assert TOKEN not in verdict.reason

"""Two writes to one customer at once both land, as they do at ChartMogul.

A handler used to look the customer up, then wait for its request body, then save the
customer as it had looked it up: a write that finished in between was lost (found by the
events model-based test: two contacts of one company, their custom attributes added in
parallel). The request whose body is held back stands for a slow client.
"""

from __future__ import annotations

import base64
import json
import socket
import time

import httpx

from mogulsync.emulator.server import EmulatorServer

#: safety net for conditions that hold within milliseconds on an idle machine
_WAIT_S = 30.0


def _wait_in_flight(server: EmulatorServer, count: int) -> None:
    deadline = time.monotonic() + _WAIT_S
    while server.emulator.stats.in_flight < count:
        assert time.monotonic() < deadline, "the held request never reached the emulator"
        time.sleep(0.005)


def _held_post(server: EmulatorServer, path: str, body: bytes) -> socket.socket:
    """A POST whose headers are sent and whose body is not (yet)."""
    host, port = server.base_url.removeprefix("http://").split(":")
    token = base64.b64encode(f"{server.api_key}:".encode()).decode()
    sock = socket.create_connection((host, int(port)), timeout=_WAIT_S)
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Basic {token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    )
    sock.sendall(head.encode())
    return sock


def _answer(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    sock.close()
    return b"".join(chunks)


def _custom(key: str, value: str) -> dict[str, object]:
    return {"custom": [{"type": "String", "key": key, "value": value}]}


def test_a_write_that_lands_while_another_waits_for_its_body_is_kept(
    emulator_server: EmulatorServer, api: httpx.Client
) -> None:
    source = api.post("/data_sources", json={"name": "writes"}).json()["uuid"]
    customer = api.post(
        "/customers", json={"data_source_uuid": source, "external_id": "c1", "name": "Acme"}
    ).json()["uuid"]
    path = f"/v1/customers/{customer}/attributes/custom"
    body = json.dumps(_custom("held", "a")).encode()

    held = _held_post(emulator_server, path, body)
    _wait_in_flight(emulator_server, 1)
    quick = api.post(f"/customers/{customer}/attributes/custom", json=_custom("quick", "b"))
    assert quick.status_code == 200, quick.text
    renamed = api.patch(f"/customers/{customer}", json={"name": "Acme Inc"})
    assert renamed.status_code == 200, renamed.text
    held.sendall(body)
    assert _answer(held).startswith(b"HTTP/1.1 200")

    after = api.get(f"/customers/{customer}").json()
    assert after["attributes"]["custom"] == {"held": "a", "quick": "b"}
    assert after["name"] == "Acme Inc"

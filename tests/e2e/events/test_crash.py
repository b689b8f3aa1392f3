"""kill -9 the endpoint during a burst: every acknowledged event is delivered exactly once.

In ``api`` mode the emulator counts the writes: each contact is created by exactly one
successful ``POST /contacts`` and never patched, although the kill leaves events in
flight whose effect already landed. In ``webhook`` mode (no read-back possible) the
payloads are absolute upserts: each acknowledged event yields exactly one record.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
import yaml

from mogulsync.emulator.server import EmulatorServer
from mogulsync.events.queue import EventQueue
from mogulsync.testing.ports import announced_url

from .conftest import WAIT_S, WRITE_KEY, wait_for

BATCH = 10
KILL_AFTER_ACKED = 300
MAX_BATCHES = 1_000
#: slows every API call, so a delivery round lasts long enough to be cut in the middle
API_LATENCY_MS = 30
#: kill once this many contacts exist: the round in progress has sent a good part of its
#: events (effects landed, not yet recorded as delivered) and still has more to send
KILL_AFTER_CONTACTS = 40
#: after the kill point the burst slows down (requests stay in flight until the kill)
TRICKLE_S = 0.02
RATE_LIMIT = 5_000


def write_config(path: Path, state_dir: Path, delivery: str, base_url: str) -> None:
    events: dict[str, object] = {
        "write_keys": ["${WRITE_KEY}"],
        "delivery": delivery,
        "retry": {"coalesce_window_s": 0.0, "retry_initial_s": 0.05},
    }
    if delivery == "webhook":
        events["webhook_url"] = "${WEBHOOK_URL}"
    config = {
        "chartmogul": {"api_key": "${API_KEY}", "base_url": base_url, "rate_limit": RATE_LIMIT},
        "state_dir": str(state_dir),
        "events": events,
    }
    path.write_text(yaml.safe_dump(config))


def start(config: Path, env: dict[str, str], log: Path) -> tuple[subprocess.Popen[bytes], str]:
    """``events serve --port 0`` logging to ``log``; the process and its base URL."""
    command = [sys.executable, "-m", "mogulsync", "events", "serve", "-c", str(config)]
    address = log.with_suffix(".out")  # stdout: the address line
    with log.open("wb") as stderr, address.open("wb") as stdout:
        process = subprocess.Popen([*command, "--port", "0"], env=env, stdout=stdout, stderr=stderr)

    def up(base: str) -> bool:
        assert process.poll() is None, log.read_text()
        try:
            return httpx.get(f"{base}/health", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    try:
        base = announced_url(process, address).removesuffix("/v1")
        wait_for(lambda: up(base), "the events server to start")
    except BaseException:
        process.kill()  # a server that did not come up must not outlive the test
        process.wait()
        raise
    return process, base


def burst(base_url: str, acked: list[str], enough: threading.Event) -> None:
    """Send batches until the server dies; remember only what was acknowledged.

    A killed server resets or refuses the connection at once; a slow answer is not a
    death. (A 5 s read timeout, taken for one, would end the burst early on a loaded
    machine and fail the test at the kill point.) A timeout here is the suite's safety
    net and is raised.
    """
    with httpx.Client(base_url=base_url, auth=(WRITE_KEY, ""), timeout=WAIT_S) as client:
        for number in range(MAX_BATCHES):
            ids = [f"crash-{number}-{n}" for n in range(BATCH)]
            batch = [
                {
                    "type": "identify",
                    "userId": f"user-{mid}",
                    "messageId": mid,
                    "traits": {"email": f"{mid}@x.io", "company": {"id": "crashco"}},
                }
                for mid in ids
            ]
            try:
                response = client.post("/v1/batch", json={"batch": batch})
            except httpx.TimeoutException:
                raise
            except httpx.TransportError:
                return  # the server is gone
            if response.status_code == 200:
                acked.extend(ids)
            if len(acked) >= KILL_AFTER_ACKED:
                enough.set()
                time.sleep(TRICKLE_S)


def all_contacts(api: httpx.Client, source: str) -> list[dict]:
    found: list[dict] = []
    params: dict[str, str] = {"data_source_uuid": source, "per_page": "200"}
    while True:
        page = api.get("/contacts", params=params).json()
        found.extend(page["entries"])
        if not page["has_more"]:
            return found
        params["cursor"] = page["cursor"]


def contacts_so_far(api: httpx.Client) -> int:
    """Contacts in the emulator (up to one page is enough to compare with the kill point)."""
    return len(api.get("/contacts", params={"per_page": "200"}).json()["entries"])


def in_flight(path: Path) -> int:
    """Events marked in flight in the queue file (read while the server is dead)."""
    with sqlite3.connect(path) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM events WHERE inflight = 1").fetchone()[0])


def freeze_mid_send(server: subprocess.Popen[bytes], queue_file: Path) -> None:
    """Stop the server (SIGSTOP) while the forwarder has a delivery in flight.

    Seen in flight, the server is frozen and the queue read again: the delivery may have
    ended between the look and the signal (a test process held off the CPU makes that gap
    long), and then the server is let go to try again. Frozen, it cannot finish one.
    """
    while True:
        wait_for(lambda: in_flight(queue_file) > 0, "a delivery in flight")
        server.send_signal(signal.SIGSTOP)
        if in_flight(queue_file) > 0:
            return
        server.send_signal(signal.SIGCONT)


def successes(admin: httpx.Client, endpoint: str) -> int:
    """2xx answers the emulator gave on one endpoint (e.g. ``POST /v1/contacts``)."""
    by_status = admin.get("/stats").json()["by_endpoint"].get(endpoint, {})
    return sum(count for status, count in by_status.items() if status.startswith("2"))


@pytest.mark.timeout(180)
@pytest.mark.parametrize("delivery", ["api", "webhook"])
def test_kill_dash_nine_during_a_burst_loses_and_duplicates_nothing(
    delivery: str,
    emulator_server: EmulatorServer,
    api: httpx.Client,
    admin: httpx.Client,
    tmp_path: Path,
) -> None:
    """Acknowledged events survive SIGKILL and each reaches ChartMogul exactly once."""
    env = {**os.environ, "API_KEY": emulator_server.api_key, "WRITE_KEY": WRITE_KEY}
    if delivery == "webhook":
        source = api.post("/data_sources", json={"name": "Segment"}).json()["uuid"]
        env["WEBHOOK_URL"] = f"{emulator_server.base_url}/webhooks/segment/{source}"
    admin.put("/faults", json={"latency_ms": API_LATENCY_MS}).raise_for_status()
    config = tmp_path / "mogulsync.yml"
    write_config(config, tmp_path / "state", delivery, emulator_server.base_url)
    queue_file = tmp_path / "state" / "events.sqlite"
    server, base = start(config, env, tmp_path / "server-1.log")
    acked: list[str] = []
    enough = threading.Event()
    sender = threading.Thread(target=burst, args=(base, acked, enough))
    sender.start()
    try:
        assert enough.wait(timeout=60), "the burst never reached the kill point"
        wait_for(lambda: contacts_so_far(api) >= KILL_AFTER_CONTACTS, "deliveries to start")
        if delivery == "api":  # kill on an observed condition: the forwarder is mid-send
            freeze_mid_send(server, queue_file)
        os.kill(server.pid, signal.SIGKILL)  # mid-burst: requests are in flight
        server.wait(timeout=10)
        sender.join(timeout=30)
        acknowledged = list(acked)
        assert len(acknowledged) >= KILL_AFTER_ACKED
        if delivery == "api":  # webhook posts are too quick to be caught reliably
            assert in_flight(queue_file) > 0, "the kill did not catch the forwarder mid-send"
        server, _ = start(config, env, tmp_path / "server-2.log")
        queue = EventQueue(queue_file)
        wait_for(lambda: queue.counts()["pending"] == 0, "the restarted forwarder to drain")
        missing = [
            mid for mid in acknowledged if (e := queue.get(mid)) is None or e.status != "delivered"
        ]
        assert missing == []
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    if delivery == "api":
        [source] = [s["uuid"] for s in api.get("/data_sources").json()["data_sources"]]
    contacts = Counter(c["external_id"] for c in all_contacts(api, source))
    assert all(count == 1 for count in contacts.values()), "a contact was created twice"
    assert {f"user-{mid}" for mid in acknowledged} <= set(contacts)
    assert sum(queue.counts().values()) == len(contacts)  # nothing stored that was not delivered
    if delivery == "api":  # exactly one write per event, although some were in flight
        assert successes(admin, "POST /v1/contacts") == len(contacts)
        assert successes(admin, "PATCH /v1/contacts/{id}") == 0
        assert successes(admin, "POST /v1/customers") == 1  # the shared company

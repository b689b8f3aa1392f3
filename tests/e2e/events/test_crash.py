"""kill -9 the endpoint during a burst: every acknowledged event is delivered exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

import httpx
import pytest
import yaml

from mogulsync.emulator.server import EmulatorServer, free_port
from mogulsync.events.queue import EventQueue

from .conftest import WRITE_KEY, wait_for

BATCH = 10
KILL_AFTER_ACKED = 300
MAX_BATCHES = 1_000


def write_config(path: Path, state_dir: Path, webhook_url: str, base_url: str) -> None:
    config = {
        "chartmogul": {"api_key": "${API_KEY}", "base_url": base_url},
        "state_dir": str(state_dir),
        "events": {
            "write_keys": ["${WRITE_KEY}"],
            "delivery": "webhook",
            "webhook_url": "${WEBHOOK_URL}",
            "retry": {"coalesce_window_s": 0.0, "retry_initial_s": 0.05},
        },
    }
    path.write_text(yaml.safe_dump(config))


def start(config: Path, port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    log = config.with_name("server.log")
    command = [sys.executable, "-m", "mogulsync", "events", "serve", "-c", str(config)]
    with log.open("ab") as stderr:
        process = subprocess.Popen(
            [*command, "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=stderr
        )
    url = f"http://127.0.0.1:{port}/health"

    def up() -> bool:
        assert process.poll() is None, log.read_text()
        try:
            return httpx.get(url, timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    wait_for(up, "the events server to start")
    return process


def burst(base_url: str, acked: list[str], enough: threading.Event) -> None:
    """Send batches until the server dies; remember only what was acknowledged."""
    with httpx.Client(base_url=base_url, auth=(WRITE_KEY, ""), timeout=5) as client:
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
            except httpx.TransportError:
                return
            if response.status_code == 200:
                acked.extend(ids)
            if len(acked) >= KILL_AFTER_ACKED:
                enough.set()


def all_contacts(api: httpx.Client, source: str) -> list[dict]:
    found: list[dict] = []
    params: dict[str, str] = {"data_source_uuid": source, "per_page": "200"}
    while True:
        page = api.get("/contacts", params=params).json()
        found.extend(page["entries"])
        if not page["has_more"]:
            return found
        params["cursor"] = page["cursor"]


@pytest.mark.timeout(180)
def test_kill_dash_nine_during_a_burst_loses_and_duplicates_nothing(
    emulator_server: EmulatorServer, api: httpx.Client, tmp_path: Path
) -> None:
    """Acknowledged events survive SIGKILL and each reaches ChartMogul exactly once."""
    source = api.post("/data_sources", json={"name": "Segment"}).json()["uuid"]
    webhook = f"{emulator_server.base_url}/webhooks/segment/{source}"
    config = tmp_path / "mogulsync.yml"
    write_config(config, tmp_path / "state", webhook, emulator_server.base_url)
    env = {
        **os.environ,
        "API_KEY": emulator_server.api_key,
        "WRITE_KEY": WRITE_KEY,
        "WEBHOOK_URL": webhook,
    }
    port = free_port()
    server = start(config, port, env)
    acked: list[str] = []
    enough = threading.Event()
    sender = threading.Thread(target=burst, args=(f"http://127.0.0.1:{port}", acked, enough))
    sender.start()
    try:
        assert enough.wait(timeout=60), "the burst never reached the kill point"
        os.kill(server.pid, signal.SIGKILL)  # mid-burst: requests are in flight
        server.wait(timeout=10)
        sender.join(timeout=30)
        acknowledged = list(acked)
        assert len(acknowledged) >= KILL_AFTER_ACKED
        server = start(config, port, env)
        queue = EventQueue(tmp_path / "state" / "events.sqlite")
        wait_for(lambda: queue.counts()["pending"] == 0, "the restarted forwarder to drain")
        missing = [
            mid for mid in acknowledged if (e := queue.get(mid)) is None or e.status != "delivered"
        ]
        assert missing == []
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    contacts = Counter(c["external_id"] for c in all_contacts(api, source))
    assert all(count == 1 for count in contacts.values()), "a contact was created twice"
    assert {f"user-{mid}" for mid in acknowledged} <= set(contacts)
    assert sum(queue.counts().values()) == len(contacts)  # nothing stored that was not delivered

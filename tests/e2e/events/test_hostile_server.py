"""`mogulsync events serve` under a flood of idle connections, with few file descriptors.

The review opened 21,000 connections that never sent their headers: the server ran out
of file descriptors, a valid identify timed out and the log grew by "Too many open files"
tracebacks. Here the server runs with an open-files limit of 256 and 1,000 idle
connections: it must keep accepting real requests, keep one bad event from failing its
batch (visible in `events status`), and keep its log short.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import yaml
from typer.testing import CliRunner

from mogulsync.cli import app
from mogulsync.testing.ports import announced_url

from .conftest import WRITE_KEY, wait_for

OPEN_FILES = 256
IDLE_CONNECTIONS = 1_000
#: what a well-behaved log may hold after the flood (the review saw 96 MB in 50 s)
MAX_LOG_BYTES = 4_096


def _low_open_files() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (OPEN_FILES, hard))


def test_idle_flood_with_few_descriptors_leaves_the_endpoint_working(
    tmp_path: Path, dead_url: str
) -> None:
    """1,000 idle sockets at a 256-file limit: identify and batch still land; log stays short."""
    config = tmp_path / "mogulsync.yml"
    config.write_text(
        yaml.safe_dump(
            {
                "chartmogul": {"api_key": "${API_KEY}", "base_url": dead_url},
                "state_dir": str(tmp_path / "state"),
                "events": {"write_keys": ["${WRITE_KEY}"]},
            }
        )
    )
    env = {**os.environ, "API_KEY": "unused", "WRITE_KEY": WRITE_KEY}
    log = tmp_path / "server.log"
    command = [sys.executable, "-m", "mogulsync", "events", "serve", "--no-forward"]
    address = tmp_path / "server.out"  # stdout: the address line
    with log.open("wb") as stderr, address.open("wb") as stdout:
        server = subprocess.Popen(
            [*command, "-c", str(config), "--port", "0"],
            env=env,
            stdout=stdout,
            stderr=stderr,
            preexec_fn=_low_open_files,
        )
    try:
        base = announced_url(server, address).removesuffix("/v1")
        port = int(base.rsplit(":", 1)[1])

        def up() -> bool:
            assert server.poll() is None, log.read_text()
            try:
                return httpx.get(f"{base}/health", timeout=5).status_code == 200
            except httpx.TransportError:
                return False

        wait_for(up, "the events server to start")
        with contextlib.ExitStack() as stack:
            for _ in range(IDLE_CONNECTIONS):
                stack.enter_context(socket.create_connection(("127.0.0.1", port), timeout=30))
            auth = (WRITE_KEY, "")
            single = httpx.post(
                f"{base}/v1/identify",
                json={"userId": "u", "messageId": "one"},
                auth=auth,
                timeout=30,
            )
            batch = httpx.post(
                f"{base}/v1/batch",
                auth=auth,
                json={
                    "batch": [
                        {"type": "identify", "userId": "u", "messageId": "two"},
                        {
                            "type": "identify",
                            "userId": "u",
                            "messageId": "skewed",
                            "sentAt": "0001-01-01T00:00:00Z",
                            "timestamp": "9999-12-31T23:59:59Z",
                        },
                    ]
                },
                timeout=30,
            )
        assert (single.status_code, batch.status_code) == (200, 200)
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=30)
    result = CliRunner().invoke(
        app, ["events", "status", "--json", "-c", str(config)], env=env, catch_exceptions=False
    )
    status = json.loads(result.output)
    assert status["events"]["pending"] == 2
    [rejection] = status["recent_rejections"]
    assert rejection["message_id"] == "skewed"
    assert "outside years 1-9999" in rejection["reason"]
    text = log.read_text()
    assert "Too many open files" not in text
    assert "Traceback" not in text
    assert len(text.encode()) < MAX_LOG_BYTES, text[-2000:]

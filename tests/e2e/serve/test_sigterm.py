"""`mogulsync serve` as a process: SIGTERM mid-run, restart, every row exactly once.

The run is really in the middle (the test waits until the server has made requests and
has rows still to send, reading the run's live counts); SIGTERM then stops it at a safe
point as ``cancelled``, the process exits 0, and after a restart a new run sends exactly
the rest. No token, API key or write key appears in the server's output or the history.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml
from tests.integration.sync._support import all_pages, api, make_warehouse

from mogulsync.emulator.server import EmulatorServer
from mogulsync.testing.ports import announced_url

#: about 5 s of requests at 40 req/s: SIGTERM lands long before the end
ROWS = 200
OPERATOR = "operator-token-sigterm-0123456789"
VIEWER = "viewer-token-sigterm-0123456789ab"
#: generous bounds on waiting for the server process (never asserted as speed)
STARTUP_S = 60
EXIT_S = 120


def _start(workdir: Path, env: dict[str, str], log: Path) -> tuple[subprocess.Popen[bytes], str]:
    """``mogulsync serve --port 0`` writing to ``log`` (truncated); the process and its URL."""
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "mogulsync", "serve", "--port", "0"],
            cwd=workdir, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        base = announced_url(process, log, timeout=STARTUP_S)
    except BaseException:
        process.kill()
        process.wait()
        raise
    deadline = time.monotonic() + STARTUP_S
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).text == "ok":
                return process, base
        except httpx.TransportError:
            time.sleep(0.05)
    process.kill()
    raise AssertionError(log.read_text())


def _run(client: httpx.Client, run_id: str) -> dict:
    return client.get(f"/api/v1/runs/{run_id}").raise_for_status().json()


@pytest.mark.timeout(300)
def test_sigterm_mid_run_cancels_then_restart_sends_exactly_the_rest(tmp_path):
    with EmulatorServer() as emulator:  # ChartMogul's real 40 req/s: the run takes a while
        values = ", ".join(f"('a{i}', 'Account {i}')" for i in range(ROWS))
        make_warehouse(tmp_path / "warehouse.duckdb", [
            "create table accounts(id varchar, name varchar)",
            f"insert into accounts values {values}",
        ])  # fmt: skip
        config = {
            "chartmogul": {"api_key": "${CHARTMOGUL_API_KEY}", "base_url": emulator.base_url},
            "state_dir": "state",
            "warehouses": {"main": "duckdb:///warehouse.duckdb"},
            "models": {"accounts": {"warehouse": "main", "table": "accounts",
                                    "primary_key": "id"}},
            "syncs": {"customers": {"model": "accounts", "object": "customer",
                                    "data_source": "Term", "bulk": "off",
                                    "mapping": {"external_id": "id", "name": "name"}}},
            "serve": {"tokens": [{"token": "${OP}", "role": "operator"},
                                 {"token": "${VIEW}", "role": "viewer"}]},
        }  # fmt: skip
        (tmp_path / "mogulsync.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
        env = {**os.environ, "CHARTMOGUL_API_KEY": emulator.api_key, "OP": OPERATOR,
               "VIEW": VIEWER}  # fmt: skip
        logs = [tmp_path / "serve-1.log", tmp_path / "serve-2.log"]  # one a start
        headers = {"Authorization": f"Bearer {OPERATOR}"}

        process, base = _start(tmp_path, env, logs[0])
        try:
            with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
                run_id = client.post("/api/v1/syncs/customers/runs").json()["run_id"]
                while True:  # mid-run: some rows sent, many still to go
                    run = _run(client, run_id)
                    assert run["status"] == "running", run
                    if run["rows"]["succeeded"] >= 5:
                        break
                    time.sleep(0.05)
                assert run["rows"]["succeeded"] < ROWS
                process.send_signal(signal.SIGTERM)
                assert process.wait(timeout=EXIT_S) == 0
        finally:
            if process.poll() is None:
                process.kill()

        process, base = _start(tmp_path, env, logs[1])
        try:
            with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
                first = _run(client, run_id)
                assert first["status"] == "cancelled"
                assert 0 < first["rows"]["succeeded"] < ROWS
                rest_id = client.post("/api/v1/syncs/customers/runs").json()["run_id"]
                while (rest := _run(client, rest_id))["status"] == "running":
                    time.sleep(0.05)
                assert rest["status"] == "success"
                assert first["rows"]["succeeded"] + rest["rows"]["succeeded"] == ROWS
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=EXIT_S)

        with api(emulator) as client:
            ids = [c["external_id"] for c in all_pages(client, "/customers", "entries")]
        assert sorted(ids) == sorted(f"a{i}" for i in range(ROWS))  # each exactly once

        output = b"".join(log.read_bytes() for log in logs)
        assert b"mogulsync serve on http://127.0.0.1" in output
        for secret in (OPERATOR, VIEWER, emulator.api_key):
            assert secret.encode() not in output
            for path in (tmp_path / "state").rglob("*"):
                if path.is_file():
                    assert secret.encode() not in path.read_bytes(), path

"""`mogulsync serve` as a process: SIGHUP reloads the project file (a schedule added is
planned), a broken file is logged with its problems and changes nothing, and the server
goes on (SIGTERM still stops it, exit 0)."""

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
from tests.integration.sync._support import make_warehouse

from mogulsync.emulator.server import EmulatorServer
from mogulsync.testing.ports import announced_url

#: generous bounds on waiting for the server process (never asserted as speed)
WAIT_S = 60
ADMIN = "admin-token-sighup-0123456789abc"


def _wait_for(log: Path, text: str, process: subprocess.Popen[bytes]) -> str:
    """The server's output once it holds ``text`` (it is written when the reload ends)."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        seen = log.read_text(errors="replace")
        if text in seen:
            return seen
        if process.poll() is not None:
            break
        time.sleep(0.05)
    raise AssertionError(f"{text!r} not in the output:\n{log.read_text(errors='replace')}")


@pytest.mark.timeout(180)
@pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="no SIGHUP on this platform")
def test_sighup_reloads_the_project_file(tmp_path):
    make_warehouse(tmp_path / "warehouse.duckdb", [
        "create table accounts(id varchar, name varchar)",
        "insert into accounts values ('a1', 'Account 1')",
    ])  # fmt: skip
    with EmulatorServer() as emulator:
        config = {
            "chartmogul": {"api_key": "${CHARTMOGUL_API_KEY}", "base_url": emulator.base_url},
            "state_dir": "state",
            "warehouses": {"main": "duckdb:///warehouse.duckdb"},
            "models": {"accounts": {"warehouse": "main", "table": "accounts",
                                    "primary_key": "id"}},
            "syncs": {"customers": {"model": "accounts", "object": "customer",
                                    "mapping": {"external_id": "id", "name": "name"}}},
            "serve": {"tokens": [{"token": "${ADMIN}", "role": "admin"}]},
        }  # fmt: skip
        project = tmp_path / "mogulsync.yml"
        project.write_text(yaml.safe_dump(config))
        env = {**os.environ, "CHARTMOGUL_API_KEY": emulator.api_key, "ADMIN": ADMIN}
        log = tmp_path / "serve.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "mogulsync", "serve", "--port", "0"],
                cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        try:
            base = announced_url(process, log, timeout=WAIT_S)
            auth = {"Authorization": f"Bearer {ADMIN}"}
            with httpx.Client(base_url=base, headers=auth, timeout=30) as http:
                assert http.get("/api/v1/schedules").json() == []

                config["syncs"]["customers"]["schedule"] = {"every": "1h"}
                project.write_text(yaml.safe_dump(config))
                process.send_signal(signal.SIGHUP)
                _wait_for(log, "project file reloaded", process)
                jobs = http.get("/api/v1/schedules").json()
                assert [(job["job"], job["schedule"]) for job in jobs] == [
                    ("customers", "every 1h")
                ]

                project.write_text(yaml.safe_dump(config).replace("every: 1h", "every: 1x"))
                process.send_signal(signal.SIGHUP)
                seen = _wait_for(log, "syncs.customers.schedule.every", process)
                assert "SIGHUP: the project file has 1 problem(s)" in seen
                assert http.get("/healthz").text == "ok"  # still serving, as it was
                jobs = http.get("/api/v1/schedules").json()
                assert [job["schedule"] for job in jobs] == ["every 1h"]
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=WAIT_S) == 0
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        output = log.read_text(errors="replace")
        assert ADMIN not in output
        assert emulator.api_key not in output

"""Every one-shot command ends without the interpreter's teardown, and loses nothing.

Each test runs the console-script entry point in a fresh process (``tests/e2e/_one_shot``):
a command that ran skips the teardown (``mogulsync._quick_exit``) yet keeps its exit code,
its whole output through a pipe, its run history and its sync logs; servers, and command
lines that never reach a command (usage errors), end as Python ends.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import httpx
import pytest
import typer.main
import yaml
from tests.e2e._one_shot import AT_EXIT, TEARDOWN, main_script, module_main, run_main
from tests.integration.sync._support import api, make_warehouse

from mogulsync import exit_codes
from mogulsync.cli import _Commands, app
from mogulsync.cli_lazy import asks_quick_exit, command_paths
from mogulsync.emulator.server import EmulatorServer
from mogulsync.testing.ports import announced_url

VALID = 5
#: enough row errors that `runs show --errors --json` is one line of several pipe buffers
INVALID = 1500
#: generous bound on waiting for a server process (never asserted as speed)
STARTUP_S = 60


def _project(tmp_path: Path, server: EmulatorServer) -> dict[str, str]:
    """A DuckDB model of VALID good rows and INVALID rows with a bad e-mail, sync logs on."""
    rows = [f"('ok{i}', 'ok{i}@example.com')" for i in range(VALID)]
    rows += [f"('bad{i}', 'not-an-email-{i}')" for i in range(INVALID)]
    make_warehouse(
        tmp_path / "warehouse.duckdb",
        [
            "create table accounts(id varchar, email varchar)",
            f"insert into accounts values {', '.join(rows)}",
        ],
    )
    config = {
        "chartmogul": {"api_key": "${CHARTMOGUL_API_KEY}", "base_url": server.base_url},
        "state_dir": "state",
        "sync_logs": True,
        "warehouses": {"main": "duckdb:///warehouse.duckdb"},
        "models": {"accounts": {"warehouse": "main", "table": "accounts", "primary_key": "id"}},
        "syncs": {
            "customers": {
                "model": "accounts",
                "object": "customer",
                "data_source": "OneShot",
                "bulk": "off",
                "mapping": {"external_id": "id", "email": "email"},
            }
        },
    }
    (tmp_path / "mogulsync.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
    return {"CHARTMOGUL_API_KEY": server.api_key}


def _ended_quickly(done: subprocess.CompletedProcess[str]) -> None:
    assert AT_EXIT in done.stderr, done.stderr
    assert TEARDOWN not in done.stderr, done.stderr
    assert "leaked" not in done.stderr


def test_a_sync_run_keeps_its_code_history_sync_logs_and_output(
    emulator_server: EmulatorServer, tmp_path: Path
) -> None:
    """Partial run: exit 3; every row in the sync log; the run and its errors in history."""
    env = _project(tmp_path, emulator_server)

    ran = run_main(["--log-format", "json", "sync", "run", "customers", "--json"], tmp_path, env)

    assert ran.returncode == exit_codes.PARTIAL, ran.stderr
    _ended_quickly(ran)
    summary = json.loads(ran.stdout)
    run_id = summary["run_id"]
    finished = [json.loads(line) for line in ran.stderr.splitlines() if "run_finished" in line]
    assert [line["run_id"] for line in finished] == [run_id]
    # the sync-log writer thread's batches are all in the warehouse
    with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as con:
        logged = con.execute("select count(*) from mogulsync.sync_log").fetchone()
    assert logged == (VALID + INVALID,)

    shown = run_main(["runs", "show", run_id, "--errors", "--json"], tmp_path, env)

    assert shown.returncode == 0, shown.stderr
    _ended_quickly(shown)
    assert len(shown.stdout) > 2 * 65536  # more than a pipe holds: the tail needs the flush
    body = json.loads(shown.stdout)
    assert body["status"] == "partial"
    assert len(body["errors"]) == INVALID


def test_exit_codes_of_a_listing_a_config_error_and_a_usage_error(tmp_path: Path) -> None:
    """0 and 4 from commands that ran (no teardown); 2 from a command line that ran none."""
    project = "chartmogul: {api_key: '${CHARTMOGUL_API_KEY}'}\nstate_dir: state\n"
    (tmp_path / "mogulsync.yml").write_text(project, encoding="utf-8")
    listed = run_main(["runs", "list", "--json"], tmp_path, {"CHARTMOGUL_API_KEY": "unused"})
    (tmp_path / "mogulsync.yml").write_text("chartmogul: [not, a, mapping]\n", encoding="utf-8")
    broken = run_main(["check"], tmp_path)
    usage = run_main(["sync", "run", "--no-such-flag"], tmp_path)

    assert listed.returncode == 0, listed.stderr
    assert listed.stdout == ""
    _ended_quickly(listed)
    assert broken.returncode == exit_codes.CONFIG, broken.stderr
    assert "mogulsync.yml" in broken.stderr
    _ended_quickly(broken)
    assert usage.returncode == exit_codes.USAGE
    assert "No such option" in usage.stderr
    assert TEARDOWN in usage.stderr


def test_a_server_ends_as_python_ends(tmp_path: Path) -> None:
    """`emulator serve` stopped by Ctrl-C (SIGINT) runs the interpreter's teardown as before."""
    args = ["emulator", "serve", "--port", "0"]
    stdout_log = tmp_path / "stdout.log"
    with stdout_log.open("wb") as stdout_file:
        server = subprocess.Popen(
            [sys.executable, "-c", main_script(args)],
            cwd=tmp_path,
            stdout=stdout_file,
            stderr=subprocess.PIPE,
            text=True,
        )
    try:
        base = announced_url(server, stdout_log, timeout=STARTUP_S)
        deadline = time.monotonic() + STARTUP_S
        while time.monotonic() < deadline and server.poll() is None:
            try:
                httpx.get(f"{base}/_emulator/stats", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.05)
        server.send_signal(signal.SIGINT)
        _, stderr = server.communicate(timeout=STARTUP_S)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    stdout = stdout_log.read_text()
    assert AT_EXIT in stderr
    assert "ChartMogul emulator on" in stdout + stderr  # it was serving when stopped
    assert TEARDOWN in stderr


@pytest.mark.parametrize(
    "path",
    [path for path in command_paths(typer.main.get_command(app)) if path],
    ids=" ".join,
)
def test_each_command_asks_for_a_quick_exit_unless_it_serves(path: tuple[str, ...]) -> None:
    """A new command gets the quick exit by default; only the listed servers opt out."""
    command = typer.main.get_command(app)
    for name in path:
        command = command.get_command(typer.Context(command), name)  # type: ignore[attr-defined]
    if command.callback is None or hasattr(command, "commands"):
        return  # a group: its commands ask
    assert asks_quick_exit(command) is (" ".join(path) not in _Commands.long_running)


def test_the_lean_airbyte_entry_point_ends_quickly(
    emulator_server: EmulatorServer, tmp_path: Path
) -> None:
    """`python -m mogulsync.extract read`: every record and state message, no teardown."""
    with api(emulator_server) as client:
        for name in ("Billing", "Stripe", "Shop"):
            client.post("/data_sources", json={"name": name}).raise_for_status()
    config = tmp_path / "config.json"
    settings = {"api_key": emulator_server.api_key, "start_date": "2024-01-01T00:00:00Z"}
    config.write_text(json.dumps({**settings, "base_url": emulator_server.base_url}))
    catalog = tmp_path / "catalog.json"
    catalog.write_text(json.dumps({"streams": [{"stream": {"name": "data_sources"}}]}))
    args = ["read", "--config", str(config), "--catalog", str(catalog)]

    done = run_main(args, tmp_path, entry=module_main("mogulsync.extract"))

    assert done.returncode == 0, done.stderr
    _ended_quickly(done)
    messages = [json.loads(line) for line in done.stdout.splitlines()]
    records = [m["record"]["data"]["name"] for m in messages if m["type"] == "RECORD"]
    assert sorted(records) == ["Billing", "Shop", "Stripe"]
    assert "STATE" in {message["type"] for message in messages}

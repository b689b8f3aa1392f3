"""`--log-format json` holds for every command: each stderr line is one JSON object.

Every command runs once as it should succeed and once with an error; every line it writes
on stderr must parse as a JSON object with ``ts``, ``level``, ``event`` and ``run_id`` (no
Rich or plain text leaks through). The servers run as processes (they serve until stopped);
everything else in this process, through the real root command.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import stamina
import yaml
from tests.integration.extract._seed import TEST_RATE_LIMIT
from tests.integration.ops._receivers import HttpReceiver
from tests.integration.sync._support import make_warehouse
from typer.testing import CliRunner, Result

from mogulsync import exit_codes, logs, output
from mogulsync.cli import app
from mogulsync.emulator.server import EmulatorServer
from mogulsync.events.queue import EventQueue
from mogulsync.testing.ports import announced_url

KEYS = {"ts", "level", "event", "run_id"}
#: generous bounds on waiting for a server process (never asserted as speed)
STARTUP_S = 60
EXIT_S = 60


def _lines(stderr: str) -> list[dict[str, Any]]:
    """Every stderr line as a JSON object (a blank or text line fails the test)."""
    lines = [json.loads(line) for line in stderr.splitlines()]
    for line in lines:
        assert isinstance(line, dict)
        assert line.keys() >= KEYS, line
    return lines


def _json(args: list[str], **env: str) -> tuple[Result, list[dict[str, Any]]]:
    result = CliRunner().invoke(app, ["--log-format", "json", *args], env=env or None)
    return result, _lines(result.stderr)


def _error(lines: list[dict[str, Any]], code: int) -> dict[str, Any]:
    """The single error object of a failed command."""
    (error,) = [line for line in lines if line["level"] == "error"]
    assert error["exit_code"] == code
    assert error["message"]
    return error


@pytest.fixture
def hook() -> Iterator[HttpReceiver]:
    with stamina.set_testing(True, attempts=1), HttpReceiver() as receiver:
        yield receiver


@pytest.fixture
def workdir(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    emulator_server: EmulatorServer,
    hook: HttpReceiver,
) -> Path:
    make_warehouse(
        tmp_path / "warehouse.duckdb",
        ["create table accounts(id varchar, name varchar, email varchar)",
         "insert into accounts values ('a1','Acme','a@acme.io'),(NULL,'Nokey','n@x.io')"],
    )  # fmt: skip
    config = {
        "chartmogul": {"api_key": "${CHARTMOGUL_API_KEY}", "base_url": emulator_server.base_url,
                       "rate_limit": TEST_RATE_LIMIT},
        "state_dir": "state",
        "warehouses": {"main": "duckdb:///warehouse.duckdb"},
        "models": {"accounts": {"warehouse": "main", "table": "accounts", "primary_key": "id"}},
        "syncs": {"customers": {"model": "accounts", "object": "customer",
                                "data_source": "Warehouse", "mapping": {"external_id": "id"},
                                "schedule": {"every": "1h"}}},
        "alerts": {"channels": {"hook": {"type": "webhook", "url": "${ALERT_HOOK_URL}"}}},
        "events": {"write_keys": ["${WRITE_KEY}"]},
        "extract": {"destination": f"duckdb:///{tmp_path / 'cm.duckdb'}",
                    "start_date": "2024-01-01"},
    }  # fmt: skip
    (tmp_path / "mogulsync.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CHARTMOGUL_API_KEY", emulator_server.api_key)
    monkeypatch.setenv("ALERT_HOOK_URL", f"{hook.url}/hook")
    monkeypatch.setenv("WRITE_KEY", "wk-json-logs-0123456789")
    return tmp_path


def test_check_plan_and_run(workdir: Path) -> None:
    result, lines = _json(["check"])
    assert result.exit_code == 0, result.output
    assert lines == []  # results go to stdout
    result, lines = _json(["sync", "plan", "customers"])
    assert result.exit_code == 0, result.output
    result, lines = _json(["sync", "plan", "nosuch"])
    assert "nosuch" in _error(lines, result.exit_code)["message"]
    result, lines = _json(["sync", "run"])  # neither a name nor --all
    assert _error(lines, exit_codes.USAGE)["run_id"] is None
    result, lines = _json(["sync", "run", "customers"])
    (finished,) = [line for line in lines if line["event"] == "run_finished"]
    assert finished["run_id"]


def test_runs_list_and_show(workdir: Path) -> None:
    run, _ = _json(["sync", "run", "customers"])
    assert run.exit_code == exit_codes.PARTIAL, run.output
    result, lines = _json(["runs", "list"])
    assert result.exit_code == 0
    assert lines == []
    assert "customers" in result.stdout
    result, lines = _json(["runs", "list", "--sync", "customerz"])
    assert "Did you mean `customers`?" in _error(lines, exit_codes.USAGE)["message"]
    result, lines = _json(["runs", "show", "20990101T000000-00000000"])
    error = _error(lines, result.exit_code)
    assert error["run_id"] == "20990101T000000-00000000"


def test_reconcile(workdir: Path) -> None:
    _json(["sync", "run", "customers"])
    result, lines = _json(["reconcile", "customers", "--record"])
    assert result.exit_code in {exit_codes.SUCCESS, exit_codes.PARTIAL}, result.output
    assert all(line["level"] != "error" for line in lines)
    result, lines = _json(["reconcile", "nosuch"])
    _error(lines, result.exit_code)


def test_alerts_test(workdir: Path, hook: HttpReceiver) -> None:
    result, lines = _json(["alerts", "test"])
    assert result.exit_code == 0, result.output
    assert lines == []
    assert [body["event"] for body in hook.bodies("/hook")] == ["test"]
    config = yaml.safe_load((workdir / "mogulsync.yml").read_text())
    del config["alerts"]
    (workdir / "mogulsync.yml").write_text(yaml.safe_dump(config))
    result, lines = _json(["alerts", "test"])
    assert "no alert channels" in _error(lines, exit_codes.CONFIG)["message"]


def test_schedule_and_init(workdir: Path) -> None:
    result, lines = _json(["schedule", "--json"])
    assert result.exit_code == 0, result.output
    assert lines == []
    result, lines = _json(["schedule", "-c", "nosuch.yml"])
    assert "nosuch.yml" in _error(lines, exit_codes.CONFIG)["message"]
    result, lines = _json(["init", "-c", "starter.yml"])
    assert result.exit_code == 0, result.output
    assert lines == []
    result, lines = _json(["init", "-c", "starter.yml"])  # exists already
    _error(lines, exit_codes.CONFIG)


def test_events_status_and_dead_letters(workdir: Path) -> None:
    result, lines = _json(["events", "status"])  # no queue yet
    assert "events serve" in _error(lines, result.exit_code)["message"]
    EventQueue(workdir / "state" / "events.sqlite").close()
    for args in (["events", "status"], ["events", "dead-letter", "list"],
                 ["events", "dead-letter", "replay"]):  # fmt: skip
        result, lines = _json(args)
        assert result.exit_code == 0, (args, result.output)
        assert lines == []
    result, lines = _json(["events", "status"], WRITE_KEY="")
    _error(lines, exit_codes.CONFIG)


def test_extract_run_progress_and_outcome_share_a_run_id(workdir: Path) -> None:
    """Progress at each stage, then ``extract_finished``; stdout stays empty without --json."""
    result, lines = _json(["extract", "run", "--streams", "customers,plans"])
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    progress = [line for line in lines if line["event"] == "progress"]
    assert [line["stage"] for line in progress][-3:] == ["fetched", "extracted", "loaded"]
    (finished,) = [line for line in lines if line["event"] == "extract_finished"]
    assert finished["run_id"].startswith("extract-")
    assert {line["run_id"] for line in progress} == {finished["run_id"]}
    assert set(finished["streams"]) == {"customers", "plans"}
    # --json: the report on stdout, the log lines still on stderr
    result, lines = _json(["extract", "run", "--streams", "plans", "--json"])
    assert json.loads(result.stdout)["streams"]["plans"]["records"] == 0
    assert [line["event"] for line in lines][-1] == "extract_finished"
    result, lines = _json(["extract", "run", "--streams", "customerz"])
    assert "customerz" in _error(lines, exit_codes.USAGE)["message"]
    result, lines = _json(["extract", "run", "--destination", "nosuch://x"])
    assert _error(lines, result.exit_code)["run_id"].startswith("extract-")


def test_extract_run_outside_a_terminal_prints_progress_lines(workdir: Path) -> None:
    """Text mode in a log file: a plain line per stage on stderr (not silence until the end),
    the report on stdout."""
    result = CliRunner().invoke(app, ["extract", "run", "--streams", "customers"])
    assert result.exit_code == 0, result.output
    stages = [line.split(" · ")[0] for line in result.stderr.splitlines()]
    assert stages[-3:] == ["extract: fetched", "extract: extracted", "extract: loaded"]
    assert result.stdout.startswith("Loaded into ")
    # a relative DuckDB file is named with the file it is, where the command ran
    relative = ["--destination", "duckdb:///out/cm.duckdb"]
    result = CliRunner().invoke(app, ["extract", "run", "--streams", "plans", *relative])
    assert result.exit_code == 0, result.output
    first = result.stdout.splitlines()[0]
    assert first.startswith(
        f"Loaded into duckdb:///out/cm.duckdb ({workdir / 'out' / 'cm.duckdb'})"
    )
    assert (workdir / "out" / "cm.duckdb").is_file()
    # a folder that cannot be made is a configuration error naming it, before any request
    (workdir / "afile").write_text("not a folder")
    blocked = ["--destination", "duckdb:///afile/cm.duckdb"]
    result = CliRunner().invoke(app, ["extract", "run", "--streams", "plans", *blocked])
    assert result.exit_code == exit_codes.CONFIG, result.output
    assert "cannot create the folder afile" in " ".join(result.stderr.split())


def test_server_commands_refuse_in_json(workdir: Path) -> None:
    """What stops a server before it listens is one error object."""
    result, lines = _json(["serve", "--host", "0.0.0.0"])
    assert "without tokens" in _error(lines, exit_codes.CONFIG)["message"]
    result, lines = _json(["events", "serve"], WRITE_KEY="")
    _error(lines, exit_codes.CONFIG)
    result, lines = _json(["emulator", "serve", "--error-rate", "2"])
    assert "--error-rate" in _error(lines, exit_codes.USAGE)["message"]
    assert result.stdout == ""


def test_usage_errors_and_crashes_are_json(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Click's own usage errors and an unexpected exception: JSON too, from the environment."""
    result, lines = _json(["sync", "run", "--bogus"])
    assert _error(lines, exit_codes.USAGE)["kind"] == "usage_error"
    result = CliRunner().invoke(app, ["nosuchcommand"], env={"MOGULSYNC_LOG_FORMAT": "json"})
    assert "nosuchcommand" in _error(_lines(result.stderr), exit_codes.USAGE)["message"]

    from mogulsync.runs import cli as runs_cli

    def broken(_config: Path) -> None:
        message = "disk on fire"
        raise RuntimeError(message)

    monkeypatch.setattr(runs_cli, "_open", broken)
    result, lines = _json(["runs", "list"])
    assert result.exit_code == 1
    (crash,) = lines
    assert (crash["event"], crash["level"], crash["error_type"]) == (
        "crash",
        "critical",
        "RuntimeError",
    )
    assert "disk on fire" in crash["traceback"]
    # text mode is untouched: the usage error is click's text
    text = CliRunner().invoke(app, ["sync", "run", "--bogus"])
    assert "No such option" in text.stderr
    assert not text.stderr.startswith("{")


def test_a_stray_stderr_print_becomes_a_message_object(capsys: pytest.CaptureFixture[str]) -> None:
    """A line no command turned into an event still comes out as JSON (never Rich text)."""
    logs.configure(logs.LogFormat.JSON)
    try:
        output.LazyConsole(stderr=True).print("[red]oops[/red] in [bold]red[/bold]")
        output.note("stage", "a note", step=2)
    finally:
        logs.configure(logs.LogFormat.TEXT)
    stray, note = _lines(capsys.readouterr().err)
    assert (stray["event"], stray["message"]) == ("message", "oops in red")
    assert (note["event"], note["message"], note["step"]) == ("stage", "a note", 2)


def test_requested_reads_only_the_root_options() -> None:
    env: dict[str, str] = {}
    assert logs.requested(["--log-format", "json", "runs", "list"], env)
    assert logs.requested(["-c", "x.yml", "--log-format=JSON", "runs"], env)
    assert not logs.requested(["runs", "list", "--log-format", "json"], env)
    assert logs.requested(["runs", "list"], {"MOGULSYNC_LOG_FORMAT": "json"})
    assert not logs.requested(["--log-format", "text", "runs"], {"MOGULSYNC_LOG_FORMAT": "json"})


# ------------------------------------------------------------------ the servers, as processes
def _serve(args: list[str], health: str, cwd: Path) -> tuple[str, list[dict[str, Any]]]:
    """Start ``mogulsync --log-format json ARGS --port 0``, wait for the announced URL +
    ``health``, stop it; the URL and the parsed stderr."""
    out, err = cwd / "serve.stdout", cwd / "serve.stderr"
    with out.open("wb") as stdout_file, err.open("wb") as stderr_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "mogulsync", "--log-format", "json", *args, "--port", "0"],
            cwd=cwd, env=os.environ.copy(), stdout=stdout_file, stderr=stderr_file,
        )  # fmt: skip
    try:
        url = announced_url(process, err, timeout=STARTUP_S).removesuffix("/v1")
        deadline = time.monotonic() + STARTUP_S
        while True:
            try:
                if httpx.get(url + health, timeout=1).status_code < 500:
                    break
            except httpx.TransportError:
                assert process.poll() is None, err.read_text()
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=EXIT_S)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    stderr = err.read_text()
    # uvicorn raises SIGTERM again once it has shut down (`serve` alone exits 0)
    assert process.returncode in {0, -signal.SIGTERM}, stderr
    assert out.read_text() == ""
    return url, _lines(stderr)


@pytest.mark.timeout(180)
def test_servers_write_json_lines(workdir: Path) -> None:
    """serve, events serve and emulator serve: start-up, uvicorn's lines, shut-down."""
    url, lines = _serve(["serve"], "/healthz", workdir)
    (serving,) = [line for line in lines if line["event"] == "serving"]
    assert serving["url"] == url
    assert any(line["logger"].startswith("uvicorn") for line in lines if line["event"] == "log")

    _, lines = _serve(["events", "serve"], "/v1/health", workdir)
    assert lines[0]["event"] == "events_serving"
    assert "wk-json-logs" not in json.dumps(lines)

    url, lines = _serve(
        ["emulator", "serve", "--api-key", "k-secret-emulator-key"], "/_emulator/health", workdir
    )
    (serving,) = [line for line in lines if line["event"] == "emulator_serving"]
    assert serving["url"] == f"{url}/v1"
    assert serving["data"] is None  # in memory (it was "", which reads as a path)
    assert "k-secret-emulator-key" not in json.dumps(lines)


def test_timestamps_are_utc(workdir: Path) -> None:
    _, lines = _json(["sync", "plan", "nosuch"])
    (error,) = lines
    assert error["ts"].endswith("Z")
    assert dt.datetime.fromisoformat(error["ts"]).tzinfo is not None


@pytest.mark.timeout(180)
def test_retries_never_print_on_stdout(workdir: Path, emulator_server: EmulatorServer) -> None:
    """A retried request in a real `mogulsync` process: stdout holds only the run's JSON.

    With structlog importable (Dagster brings it into this environment) stamina reports
    retries through structlog, whose default logger prints on stdout.
    """
    import importlib.util

    assert importlib.util.find_spec("structlog") is not None, "the case this test is about"
    retried = {"fault": "error", "status": 503, "method": "POST", "path_pattern": "^/v1/customers$"}
    httpx.put(
        f"{emulator_server.base_url}/_emulator/faults", json={"script": [retried]}, timeout=30
    ).raise_for_status()
    done = subprocess.run(
        [sys.executable, "-m", "mogulsync", "--log-format", "json", "sync", "run", "customers",
         "--json"],
        cwd=workdir, env=os.environ.copy(), capture_output=True, text=True, timeout=EXIT_S,
        check=False,
    )  # fmt: skip
    stats = httpx.get(f"{emulator_server.base_url}/_emulator/stats", timeout=30).json()
    assert stats["faults_injected"] == {"error": 1}  # the create was retried
    results = [json.loads(line) for line in done.stdout.splitlines()]
    assert [result["sync"] for result in results] == ["customers"], done.stdout
    _lines(done.stderr)

"""The sync CLI as a user runs it: check, plan (zero writes), run --json, runs show, exit codes."""

from __future__ import annotations

import json
import os

import httpx
import pytest
import yaml
from tests.integration.sync._support import make_warehouse
from typer.testing import CliRunner

from mogulsync.cli import app
from mogulsync.sync import exit_codes
from mogulsync.sync.state import SyncLock

SECRET_KEY = "sk-live-very-secret-key-123"


@pytest.fixture
def workdir(tmp_path, monkeypatch, emulator_server):
    make_warehouse(
        tmp_path / "warehouse.duckdb",
        ["create table accounts(id varchar, name varchar, email varchar)",
         "insert into accounts values ('a1','Acme','a@acme.io'),('a2','Beta','not-an-email')"],
    )  # fmt: skip
    config = {
        "chartmogul": {"api_key": "${CHARTMOGUL_API_KEY}", "base_url": emulator_server.base_url},
        "warehouses": {"main": "duckdb:///warehouse.duckdb"},
        "models": {"accounts": {"warehouse": "main", "table": "accounts", "primary_key": "id"}},
        "syncs": {"customers": {"model": "accounts", "object": "customer",
                                "data_source": "Warehouse", "mapping": {"external_id": "id"}}},
    }  # fmt: skip
    (tmp_path / "mogulsync.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CHARTMOGUL_API_KEY", emulator_server.api_key)
    return tmp_path


def _stats(server) -> dict:
    return httpx.get(f"{server.base_url}/_emulator/stats", timeout=30).json()


def test_check_passes_then_reports_a_bad_key(workdir, monkeypatch):
    """check says ok for a good project and names the API key problem for a bad one."""
    runner = CliRunner()
    ok = runner.invoke(app, ["check"])
    assert ok.exit_code == 0, ok.output
    assert "will be created on first run" in ok.output
    monkeypatch.setenv("CHARTMOGUL_API_KEY", SECRET_KEY)
    bad = runner.invoke(app, ["check"])
    assert bad.exit_code == exit_codes.FAILED
    assert "API key was rejected" in bad.output
    assert SECRET_KEY not in bad.output


def test_check_passes_where_the_state_dir_cannot_be_created(workdir):
    """check writes no state: a read-only checkout passes, with a warning for the runs;
    a run there is refused as a configuration problem."""
    (workdir / "afile").write_text("not a directory", encoding="utf-8")
    config = yaml.safe_load((workdir / "mogulsync.yml").read_text())
    config["state_dir"] = "afile/state"
    (workdir / "mogulsync.yml").write_text(yaml.safe_dump(config))
    checked = CliRunner().invoke(app, ["check"])
    assert checked.exit_code == 0, checked.output
    text = " ".join(checked.output.split())
    assert f"warn state_dir: {workdir / 'afile' / 'state'} cannot be created" in text
    run = CliRunner().invoke(app, ["sync", "run", "customers"])
    assert run.exit_code == exit_codes.CONFIG, run.output


def test_check_reports_missing_data_source_uuid(workdir):
    """A ds_ uuid that does not exist is reported by check."""
    config = yaml.safe_load((workdir / "mogulsync.yml").read_text())
    config["syncs"]["customers"]["data_source"] = "ds_00000000-0000-0000-0000-000000000000"
    (workdir / "mogulsync.yml").write_text(yaml.safe_dump(config))
    result = CliRunner().invoke(app, ["check"])
    assert result.exit_code == exit_codes.FAILED
    assert "not found" in result.output


def test_plan_writes_nothing(workdir, emulator_server):
    """sync plan counts creates and invalid rows with zero writes to ChartMogul."""
    result = CliRunner().invoke(app, ["sync", "plan", "customers", "--json"])
    assert result.exit_code == 0, result.output
    plan = json.loads(result.output)
    assert plan["counts"]["creates"] == 1
    assert plan["counts"]["invalid"] == 1
    assert plan["samples"]["invalid"][0]["field"] == "email"
    stats = _stats(emulator_server)
    assert stats["requests_total"] > 0
    assert [e for e in stats["by_endpoint"] if not e.startswith("GET")] == []
    assert stats["writes_succeeded"] == 0


def test_run_json_summary_exit_codes_and_history(workdir):
    """run --json prints the summary; partial exits 3; runs show lists errors and requests."""
    runner = CliRunner()
    result = runner.invoke(app, ["sync", "run", "customers", "--json"])
    assert result.exit_code == exit_codes.PARTIAL, result.output
    summary = json.loads(result.output.strip().splitlines()[-1])
    assert set(summary) == {"run_id", "sync", "status", "rows", "api_calls", "duration_s"}
    assert summary["rows"] == {
        "added": 1, "changed": 0, "removed": 0, "unchanged": 0, "succeeded": 1, "failed": 1,
    }  # fmt: skip
    assert summary["status"] == "partial"
    assert summary["api_calls"] >= 2
    shown = runner.invoke(app, ["runs", "show", summary["run_id"], "--errors", "--requests",
                                "--json"])  # fmt: skip
    body = json.loads(shown.output)
    assert body["errors"][0]["key"] == "a2"
    assert body["errors"][0]["field"] == "email"
    assert body["errors"][0]["action"]
    assert [r["method"] for r in body["requests"]][:2] == ["GET", "POST"]
    listing = runner.invoke(app, ["runs", "list", "--json"])
    assert summary["run_id"] in listing.output
    table = runner.invoke(app, ["runs", "show", summary["run_id"], "--errors", "--requests"])
    assert table.exit_code == 0
    assert "not-an-email" in table.output
    key = os.environ["CHARTMOGUL_API_KEY"].encode()
    assert key not in (result.output + shown.output + table.output).encode()
    for path in (workdir / ".mogulsync").rglob("*"):
        if path.is_file():
            assert key not in path.read_bytes(), path


def test_concurrent_run_is_refused(workdir):
    """A second run of a sync while one holds its lock exits 5 with a clear message."""
    lock = SyncLock(workdir / ".mogulsync", "customers")
    lock.acquire()
    try:
        result = CliRunner().invoke(app, ["sync", "run", "customers"])
    finally:
        lock.release()
    assert result.exit_code == exit_codes.LOCKED
    assert "already running" in result.output


def test_config_errors_exit_4_without_traceback(workdir):
    """A broken project file exits 4 with a message, no traceback; an unknown sync name on
    the command line is a usage error (exit 2)."""
    runner = CliRunner()
    unknown = runner.invoke(app, ["sync", "run", "nope"])
    assert unknown.exit_code == exit_codes.USAGE
    assert "unknown sync 'nope'" in unknown.output
    (workdir / "mogulsync.yml").write_text("chartmogul: {api_key: literal-key}\n")
    broken = runner.invoke(app, ["sync", "run", "--all"])
    assert broken.exit_code == exit_codes.CONFIG
    assert "Traceback" not in broken.output


def test_invalid_api_key_run_fails_without_leaking_it(workdir, monkeypatch):
    """A rejected key fails the run (exit 4) and never shows up in output or history."""
    monkeypatch.setenv("CHARTMOGUL_API_KEY", SECRET_KEY)
    runner = CliRunner()
    result = runner.invoke(app, ["sync", "run", "customers", "--json"])
    assert result.exit_code == exit_codes.CONFIG
    assert SECRET_KEY not in result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert set(summary) == {"run_id", "sync", "status", "rows", "api_calls", "duration_s"}
    assert summary["status"] == "failed"
    assert "API key was rejected" in result.stderr
    shown = runner.invoke(app, ["runs", "show", summary["run_id"], "--errors", "--requests",
                                "--json"])  # fmt: skip
    assert SECRET_KEY not in shown.output
    for path in (workdir / ".mogulsync").rglob("*"):
        if path.is_file():
            assert SECRET_KEY.encode() not in path.read_bytes(), path
    assert os.environ["CHARTMOGUL_API_KEY"] == SECRET_KEY


def test_run_prints_failed_rows_and_history_shows_each_request(workdir):
    """A human run lists sample failed rows with reasons; runs list/show print runs and calls."""
    runner = CliRunner()
    result = runner.invoke(app, ["sync", "run", "customers"])
    assert result.exit_code == exit_codes.PARTIAL
    printed = " ".join(result.stdout.split())
    assert "a2 · email: 'not-an-email' is not a valid email address" in printed
    assert "1 invalid before sending" in printed
    listing = runner.invoke(app, ["runs", "list"])
    assert "customers" in listing.stdout
    assert "partial" in listing.stdout
    run_id = json.loads(runner.invoke(app, ["runs", "list", "--json"]).stdout)["run_id"]
    shown = runner.invoke(app, ["runs", "show", run_id, "--errors", "--requests"])
    text = " ".join(shown.stdout.split())  # Rich wraps lines at the terminal width
    assert "POST /v1/customers → 201" in text
    assert '"external_id": "a1"' in text
    assert "invalid" in text


def test_check_reports_unreachable_api_and_missing_dialect(workdir, dead_url):
    """check names an unreachable ChartMogul and a warehouse whose dialect is not installed."""
    config = yaml.safe_load((workdir / "mogulsync.yml").read_text())
    config["chartmogul"]["base_url"] = dead_url
    # redshift's dialect is not in the dev lock (snowflake's and bigquery's are)
    config["warehouses"]["main"] = "redshift+redshift_connector://user:${PW}@host:5439/db"
    (workdir / "mogulsync.yml").write_text(yaml.safe_dump(config))
    result = CliRunner().invoke(app, ["check"], env={"PW": "hunter2-secret"})
    assert result.exit_code == exit_codes.FAILED
    text = " ".join(result.stdout.split())  # Rich wraps lines at the terminal width
    assert f"not reachable at {dead_url}" in text
    # what to do, as every other failed check says: the emulator not started is the usual cause
    assert "→ Check chartmogul.base_url; for the local emulator, start `mogulsync emulator" in text
    assert (
        "pip install sqlalchemy-redshift redshift_connector (or: pip install 'mogulsync[redshift]')"
        in text
    )
    assert "hunter2-secret" not in result.output
    assert "Traceback" not in result.output

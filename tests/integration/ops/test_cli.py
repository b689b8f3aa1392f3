"""Alerts and sync logs from the command line: `sync run` and `alerts test`."""

from __future__ import annotations

import duckdb
import pytest
import stamina
import yaml
from tests.integration.ops._receivers import SMTP_PASSWORD, SMTP_USER, HttpReceiver, SmtpReceiver
from tests.integration.ops._support import ACCOUNTS_DDL
from tests.integration.sync._support import make_warehouse
from typer.testing import CliRunner

from mogulsync.cli import app
from mogulsync.sync import exit_codes


@pytest.fixture
def receivers():
    with stamina.set_testing(True, attempts=2), HttpReceiver() as http, SmtpReceiver() as smtp:
        yield http, smtp


@pytest.fixture
def workdir(tmp_path, monkeypatch, emulator_server, receivers):
    http, smtp = receivers
    make_warehouse(
        tmp_path / "warehouse.duckdb",
        [
            ACCOUNTS_DDL,
            "insert into accounts values ('a1','Acme','a@acme.io'),('a2','Beta','nope')",
        ],
    )
    config = {
        "chartmogul": {"api_key": "${CHARTMOGUL_API_KEY}", "base_url": emulator_server.base_url},
        "warehouses": {"main": "duckdb:///warehouse.duckdb"},
        "models": {"accounts": {"warehouse": "main", "table": "accounts", "primary_key": "id"}},
        "syncs": {"customers": {"model": "accounts", "object": "customer",
                                "mapping": {"external_id": "id", "email": "email"}}},
        "sync_logs": {"enabled": True},
        "alerts": {
            "channels": {
                "hook": {"type": "webhook", "url": "${ALERT_HOOK_URL}"},
                "mail": {"type": "email", "host": "127.0.0.1", "port": smtp.port,
                         "security": "none", "username": SMTP_USER,
                         "password": "${SMTP_PASSWORD}", "from": "m@example.com",
                         "to": ["team@example.com"]},
            },
            "rules": [{"failed_rows": {"percent": 10}}],
        },
    }  # fmt: skip
    (tmp_path / "mogulsync.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CHARTMOGUL_API_KEY", emulator_server.api_key)
    monkeypatch.setenv("ALERT_HOOK_URL", f"{http.url}/hook")
    monkeypatch.setenv("SMTP_PASSWORD", SMTP_PASSWORD)
    return tmp_path


def test_sync_run_writes_sync_logs_and_alerts(workdir, receivers):
    """`mogulsync sync run` logs rows into the warehouse and alerts on failed rows."""
    http, smtp = receivers
    result = CliRunner().invoke(app, ["sync", "run", "customers"])
    assert result.exit_code == exit_codes.PARTIAL, result.output
    [alert] = http.bodies("/hook")
    assert (alert["event"], alert["rows"]["failed"]) == ("failed_rows", 1)
    assert len(smtp.messages) == 1
    with duckdb.connect(str(workdir / "warehouse.duckdb")) as db:
        rows = db.execute(
            "select primary_key, status from mogulsync.sync_log where run_id = ?",
            [alert["run_id"]],
        ).fetchall()
    assert sorted(rows) == [("a1", "succeeded"), ("a2", "invalid")]


def test_alerts_test_sends_through_every_channel(workdir, receivers):
    """`mogulsync alerts test` delivers a test message to each channel and says so."""
    http, smtp = receivers
    result = CliRunner().invoke(app, ["alerts", "test"])
    assert result.exit_code == 0, result.output
    assert "ok   hook" in result.output
    assert "ok   mail" in result.output
    assert [body["event"] for body in http.bodies("/hook")] == ["test"]
    assert "test alert" in smtp.messages[0]["Subject"]


def test_alerts_test_reports_a_failing_channel(workdir, monkeypatch, dead_url):
    """A channel that cannot be reached is reported as FAIL with exit code 1, no URL shown."""
    monkeypatch.setenv("ALERT_HOOK_URL", f"{dead_url}/secret-path-token")
    result = CliRunner().invoke(app, ["alerts", "test", "--channel", "hook"])
    assert result.exit_code == exit_codes.FAILED
    assert "FAIL hook" in result.output
    text = " ".join(result.output.split())
    assert f"to webhook (json) {dead_url}" in text  # where it went, without the path
    assert "Nothing answered there: check the channel's `url`" in text
    assert "secret-path-token" not in result.output


def test_alert_secrets_must_come_from_the_environment(workdir):
    """A webhook URL written in clear is refused with its YAML path."""
    config = yaml.safe_load((workdir / "mogulsync.yml").read_text())
    config["alerts"]["channels"]["hook"]["url"] = "https://hooks.example.com/T/B/token"
    (workdir / "mogulsync.yml").write_text(yaml.safe_dump(config))
    result = CliRunner().invoke(app, ["alerts", "test"])
    assert result.exit_code == exit_codes.CONFIG
    assert "alerts.channels.hook.url: secrets must come from the environment" in result.output
    assert "token" not in result.output


def test_json_run_prints_warnings_without_calling_them_errors(workdir, monkeypatch, dead_url):
    """`sync run --json` prints an undeliverable alert as a warning on stderr, not an error."""
    monkeypatch.setenv("ALERT_HOOK_URL", f"{dead_url}/unreachable-token")
    result = CliRunner().invoke(app, ["sync", "run", "customers", "--json"])
    assert result.exit_code == exit_codes.PARTIAL, result.output
    assert "customers: warning: " in result.stderr
    assert "error:" not in result.stderr
    assert "unreachable-token" not in result.output

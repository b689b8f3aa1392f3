"""Messages a new user meets around the project file (issue 11 §3), as the CLI prints them."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import yaml
from tests.integration.sync._support import make_warehouse
from typer.testing import CliRunner

from mogulsync.cli import app
from mogulsync.emulator.server import EmulatorServer
from mogulsync.sync import exit_codes


def _text(output: str) -> str:
    """The output with Rich's line wrapping undone."""
    return " ".join(output.split())


@pytest.fixture
def project(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, emulator_server: EmulatorServer
) -> Path:
    """A customers sync without `data_source`, plus an events: section."""
    make_warehouse(
        tmp_path / "w.duckdb",
        [
            "create table accounts(id varchar, name varchar)",
            "insert into accounts values ('a1','A')",
        ],
    )
    config = {
        "chartmogul": {"api_key": "${CHARTMOGUL_API_KEY}", "base_url": emulator_server.base_url},
        "warehouses": {"main": "duckdb:///w.duckdb"},
        "models": {"accounts": {"warehouse": "main", "table": "accounts", "primary_key": "id"}},
        "syncs": {"customers": {"model": "accounts", "object": "customer",
                                "mapping": {"external_id": "id", "name": "name"}}},
        "events": {"write_keys": ["${SEGMENT_WRITE_KEY}"]},
    }  # fmt: skip
    (tmp_path / "mogulsync.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CHARTMOGUL_API_KEY", emulator_server.api_key)
    monkeypatch.setenv("SEGMENT_WRITE_KEY", "wk-123456")
    return tmp_path


def _data_sources(server: EmulatorServer) -> list[str]:
    response = httpx.get(
        f"{server.base_url}/v1/data_sources", auth=(server.api_key, ""), timeout=10
    )
    return [source["name"] for source in response.json()["data_sources"]]


def test_check_names_the_data_source_the_first_run_creates(
    project: Path, emulator_server: EmulatorServer
) -> None:
    """With `data_source` left out, check names `mogulsync`, which the run then creates."""
    check = CliRunner().invoke(app, ["check"])
    assert check.exit_code == 0, check.output
    assert "syncs.customers.data_source: `mogulsync` will be created on first run" in _text(
        check.output
    )
    assert "None" not in check.output
    run = CliRunner().invoke(app, ["sync", "run", "customers"])
    assert run.exit_code == 0, run.output
    assert _data_sources(emulator_server) == ["mogulsync"]


def test_check_covers_the_events_section(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An unset variable under events: fails `check`, as `events serve` would."""
    ok = CliRunner().invoke(app, ["check"])
    assert ok.exit_code == 0, ok.output
    assert "ok   config (events:): valid" in ok.output
    monkeypatch.delenv("SEGMENT_WRITE_KEY")
    bad = CliRunner().invoke(app, ["check"])
    assert bad.exit_code == exit_codes.FAILED, bad.output
    assert (
        "FAIL config (events:): events.write_keys.0: environment variable SEGMENT_WRITE_KEY"
        " is not set" in _text(bad.output)
    )
    # the sync checks still ran
    assert "ok syncs.customers (model accounts): compiles" in _text(bad.output)


def test_check_reports_events_without_write_keys(project: Path) -> None:
    """An events: section with no write key would make `events serve` refuse to start."""
    config = yaml.safe_load((project / "mogulsync.yml").read_text())
    config["events"] = {"port": 8799}
    (project / "mogulsync.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
    result = CliRunner().invoke(app, ["check"])
    assert result.exit_code == exit_codes.FAILED, result.output
    assert "events.write_keys: empty" in _text(result.output)


def test_a_missing_project_file_points_at_init_which_writes_a_working_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, emulator_server: EmulatorServer
) -> None:
    """No mogulsync.yml: the message names `mogulsync init`; its file passes `check`."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CHARTMOGUL_API_KEY", emulator_server.api_key)
    missing = CliRunner().invoke(app, ["check"])
    assert missing.exit_code == exit_codes.CONFIG
    assert "mogulsync init" in missing.output
    assert "examples/mogulsync.yml" not in missing.output
    make_warehouse(
        tmp_path / "crm.duckdb",
        ["create table accounts(id varchar, company_name varchar, billing_email varchar)"],
    )
    init = CliRunner().invoke(app, ["init", "--warehouse", "duckdb:///crm.duckdb"])
    assert init.exit_code == 0, init.output
    # the export lines read as the next step, not as lines of the file
    assert (
        "wrote mogulsync.yml; before running it, export its secrets:\n  export CHARTMOGUL_API_KEY=..."
        in init.output
    )
    config = yaml.safe_load((tmp_path / "mogulsync.yml").read_text())
    config["chartmogul"]["base_url"] = emulator_server.base_url
    (tmp_path / "mogulsync.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
    check = CliRunner().invoke(app, ["check"])
    assert check.exit_code == 0, check.output
    assert "FAIL" not in check.output
    again = CliRunner().invoke(app, ["init"])
    assert again.exit_code == exit_codes.CONFIG
    assert "already exists" in again.output


def test_check_reports_schema_reference_and_mapping_problems_in_one_round(project: Path) -> None:
    """A typo, a dangling reference and a mapping problem of another sync: one message."""
    config = yaml.safe_load((project / "mogulsync.yml").read_text())
    config["chartmogul"]["ratelimit"] = 5
    config["syncs"]["broken"] = {"model": "accounts", "object": "customer", "mode": "upsrt"}
    config["syncs"]["orphan"] = {"model": "nomodel", "object": "customer"}
    config["syncs"]["customers"]["mapping"]["nickname"] = "name"
    (project / "mogulsync.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
    result = CliRunner().invoke(app, ["check"])
    assert result.exit_code == exit_codes.CONFIG, result.output
    text = _text(result.output)
    assert "has 4 problem(s)" in text
    for problem in (
        "chartmogul.ratelimit: unknown key; did you mean `rate_limit`?",
        "syncs.broken.mode: Input should be 'insert', 'update' or 'upsert'",
        "syncs.orphan.model: no model named `nomodel` (known: accounts)",
        "syncs.customers.mapping.nickname: not a customer field",
    ):
        assert problem in text

"""`mogulsync extract run` and `mogulsync airbyte ...` as a user runs them."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from tests.integration.extract._seed import TEST_RATE_LIMIT, client_settings, import_customers
from typer.testing import CliRunner

from mogulsync.chartmogul import ChartMogulClient
from mogulsync.cli import app
from mogulsync.emulator.server import EmulatorServer

CUSTOMERS = 12


@pytest.fixture
def project(emulator_server: EmulatorServer, tmp_path: Path) -> Path:
    """A mogulsync.yml for the emulator, which holds a dozen paying customers."""

    async def seed() -> None:
        settings = client_settings(emulator_server.base_url, emulator_server.api_key)
        async with ChartMogulClient(settings) as client:
            source = await client.data_sources.create("Billing")
            await import_customers(client, source.uuid, "e", CUSTOMERS, dt.date(2024, 1, 1), 2)

    asyncio.run(seed())
    config = tmp_path / "mogulsync.yml"
    config.write_text(
        "chartmogul:\n"
        "  api_key: ${CM_KEY}\n"
        f"  base_url: {emulator_server.base_url}\n"
        f"  rate_limit: {TEST_RATE_LIMIT}\n"
        f"state_dir: {tmp_path / 'state'}\n"
        "extract:\n"
        f"  destination: duckdb:///{tmp_path / 'cm.duckdb'}\n"
        "  start_date: 2024-01-01\n",
        encoding="utf-8",
    )
    return config


def test_extract_run_json_prints_counts(
    project: Path, emulator_server: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--json prints per-stream record counts and durations."""
    monkeypatch.setenv("CM_KEY", emulator_server.api_key)
    args = ["extract", "run", "-c", str(project), "--streams", "customers,activities", "--json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["streams"]["customers"]["records"] == CUSTOMERS
    assert report["streams"]["activities"]["records"] == CUSTOMERS
    assert report["streams"]["activities"]["duration_s"] >= 0
    assert report["mode"] == "incremental"


def test_interval_option_overrides_the_config(
    project: Path, emulator_server: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--interval picks the rows of customer_count; an unknown interval is a clear error."""
    monkeypatch.setenv("CM_KEY", emulator_server.api_key)
    args = ["extract", "run", "-c", str(project), "--streams", "customer_count", "--json"]
    result = CliRunner().invoke(app, [*args, "--interval", "week"])
    assert result.exit_code == 0, result.output
    with duckdb.connect(str(project.parent / "cm.duckdb"), read_only=True) as con:
        intervals = con.execute("SELECT DISTINCT interval FROM chartmogul.customer_count")
        assert intervals.fetchall() == [("week",)]
    bad = CliRunner().invoke(app, [*args, "--interval", "fortnight"])
    assert bad.exit_code == 2  # a usage error, found before any work
    assert "--interval must be day, week, month, quarter" in bad.output


def test_bad_destination_fails_cleanly_without_leaking_passwords(
    project: Path, emulator_server: EmulatorServer, monkeypatch: pytest.MonkeyPatch, dead_port: int
) -> None:
    """An unusable destination exits 1 with a message, no traceback and no password."""
    monkeypatch.setenv("CM_KEY", emulator_server.api_key)
    destination = f"postgresql://user:hunter22@127.0.0.1:{dead_port}/nowhere"
    args = ["extract", "run", "-c", str(project), "--streams", "plans"]
    result = CliRunner().invoke(app, [*args, "--destination", destination])
    assert result.exit_code == 1
    assert "error:" in result.output
    assert "Traceback" not in result.output
    assert "hunter22" not in result.output


def test_unknown_stream_is_reported(
    project: Path, emulator_server: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A typo in --streams is a usage error (exit 2) naming the known streams."""
    monkeypatch.setenv("CM_KEY", emulator_server.api_key)
    args = ["extract", "run", "-c", str(project), "--streams", "customerz"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    assert "Known streams" in result.output
    assert "--streams" in result.output


def test_airbyte_read_speaks_the_protocol(emulator_server: EmulatorServer, tmp_path: Path) -> None:
    """`mogulsync airbyte read` prints only protocol JSON lines, records included."""
    asyncio.run(_seed_plans(emulator_server))
    config = tmp_path / "config.json"
    config.write_text(
        json.dumps(
            {
                "api_key": emulator_server.api_key,
                "start_date": "2024-01-01T00:00:00Z",
                "base_url": emulator_server.base_url,
            }
        )
    )
    catalog = tmp_path / "catalog.json"
    catalog.write_text(json.dumps({"streams": [{"stream": {"name": "data_sources"}}]}))
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mogulsync",
            "airbyte",
            "read",
            "--config",
            str(config),
            "--catalog",
            str(catalog),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    messages = [json.loads(line) for line in done.stdout.splitlines()]
    types = {message["type"] for message in messages}
    assert {"RECORD", "STATE", "LOG", "TRACE"} <= types
    assert [m["record"]["data"]["name"] for m in messages if m["type"] == "RECORD"] == ["Billing"]


async def _seed_plans(server: EmulatorServer) -> None:
    async with ChartMogulClient(client_settings(server.base_url, server.api_key)) as client:
        await client.data_sources.create("Billing")


def test_airbyte_read_with_a_missing_config_file_prints_a_config_error(tmp_path: Path) -> None:
    """An unreadable --config gives a config_error TRACE on stdout and exit code 1."""
    catalog = tmp_path / "catalog.json"
    catalog.write_text(json.dumps({"streams": []}))
    missing = str(tmp_path / "nope.json")
    args = ["airbyte", "read", "--config", missing, "--catalog", str(catalog)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1
    (message,) = [json.loads(line) for line in result.stdout.splitlines()]
    assert message["trace"]["error"]["failure_type"] == "config_error"
    assert "nope.json" in message["trace"]["error"]["message"]

"""The command line: every command has --help, and the emulator serves from the CLI."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx
import pytest
import typer.main
from typer.testing import CliRunner

from mogulsync.cli import app
from mogulsync.cli_lazy import command_paths
from mogulsync.testing.ports import ANNOUNCE_S, announced_url

#: a safety net for a server that will not stop, not a speed limit (docs/testing.md)
EXIT_S = 120


def test_every_command_has_help() -> None:
    """`--help` works on the root and on every sub-command."""
    runner = CliRunner()
    paths = command_paths(typer.main.get_command(app))
    assert ("emulator", "serve") in paths
    for path in paths:
        result = runner.invoke(app, [*path, "--help"])
        assert result.exit_code == 0, (path, result.output)
        assert "Usage" in result.output


@pytest.mark.parametrize(("columns", "widest"), [(160, 120), (60, 60)])
def test_help_uses_the_terminal_width_up_to_120_columns(columns: int, widest: int) -> None:
    """A wide terminal gets help laid out wide (up to 120 columns); a narrow one still
    wraps to fit."""
    out = subprocess.run(
        [sys.executable, "-m", "mogulsync", "serve", "--help"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "COLUMNS": str(columns)},
    )
    lines = out.stdout.splitlines()
    assert max(len(line) for line in lines) <= widest
    config = next(line for line in lines if "--config" in line)
    if columns > widest:
        assert config.rstrip().endswith("`mogulsync -c FILE`)]"), config


def test_python_dash_m_version() -> None:
    """`python -m mogulsync --version` prints the version."""
    out = subprocess.run(
        [sys.executable, "-m", "mogulsync", "--version"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.startswith("mogulsync ")


def test_emulator_serve_persists_with_db(tmp_path) -> None:
    """`emulator serve --db` keeps data across a restart and prints its URL and key."""
    db = tmp_path / "emulator.sqlite"
    log = tmp_path / "emulator.log"
    cmd = [
        sys.executable, "-m", "mogulsync", "emulator", "serve",
        "--port", "0", "--db", str(db), "--api-key", "k_test_123",
    ]  # fmt: skip

    def start() -> tuple[subprocess.Popen[bytes], str]:
        with log.open("wb") as out:
            proc = subprocess.Popen(
                cmd, stdout=out, stderr=subprocess.STDOUT, env=os.environ.copy()
            )
        try:
            base = announced_url(proc, log)
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        deadline = time.monotonic() + ANNOUNCE_S
        while time.monotonic() < deadline:
            try:
                httpx.get(f"{base}/_emulator/health", timeout=1)
            except httpx.TransportError:
                time.sleep(0.1)
            else:
                return proc, base
        proc.kill()
        raise AssertionError("emulator did not start")

    proc, base = start()
    try:
        created = httpx.post(
            f"{base}/v1/data_sources", json={"name": "kept"}, auth=("k_test_123", ""), timeout=30
        )
        assert created.status_code == 201
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=EXIT_S)
    output = log.read_text()
    assert f"{base}/v1" in output
    assert "k_test_123" in output
    proc, base = start()
    try:
        listed = httpx.get(f"{base}/v1/data_sources", auth=("k_test_123", ""), timeout=30).json()
        assert [ds["name"] for ds in listed["data_sources"]] == ["kept"]
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=EXIT_S)

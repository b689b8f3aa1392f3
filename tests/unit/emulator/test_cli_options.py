"""``mogulsync emulator serve`` turns its options into emulator settings, or a clear error."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from mogulsync.cli import app
from mogulsync.emulator import server
from mogulsync.emulator.cli import USAGE_ERROR
from mogulsync.emulator.settings import EmulatorSettings


def _recording(served: list[EmulatorSettings]) -> Callable[..., None]:
    """A stand-in for ``serve`` that keeps the settings and closes the bound socket."""

    def serve(settings: EmulatorSettings, host: str, port: int, sock: Any = None) -> None:
        del host, port
        served.append(settings)
        if sock is not None:
            sock.close()

    return serve


def test_every_fault_kind_can_be_set_at_start_up(monkeypatch: pytest.MonkeyPatch) -> None:
    """Limits and all fault kinds given on the command line reach the served settings."""
    port = "0"  # bound by the command itself: nothing else can hold it
    served: list[EmulatorSettings] = []
    monkeypatch.setattr(server, "serve", _recording(served))
    result = CliRunner().invoke(
        app,
        [
            "emulator", "serve", "--port", port, "--rate-limit", "5", "--max-connections", "3",
            "--latency-ms", "7", "--error-rate", "0.1", "--error-status", "502",
            "--error-status", "504", "--rate-limit-rate", "0.2", "--drop-rate", "0.3",
            "--lost-response-rate", "0.4", "--error-after-write-rate", "0.5",
            "--fault-latency-ms", "9",
            "--fault-latency-jitter-ms", "2", "--seed", "11",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    (settings,) = served
    assert (settings.limits.rate_limit, settings.limits.max_connections) == (5, 3)
    assert settings.limits.latency_ms == 7
    faults = settings.faults
    assert (faults.error_rate, faults.error_statuses) == (0.1, [502, 504])
    assert (faults.rate_limit_rate, faults.drop_rate, faults.lost_response_rate) == (0.2, 0.3, 0.4)
    assert faults.error_after_write_rate == 0.5
    assert (faults.latency_ms, faults.latency_jitter_ms, faults.seed) == (9, 2, 11)
    assert re.search(r"http://127\.0\.0\.1:[1-9]\d*/v1", result.output), result.output


def test_invalid_fault_options_are_reported_without_a_traceback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Out-of-range values name the option, exit with status 2 and never start serving."""
    served: list[EmulatorSettings] = []
    monkeypatch.setattr(server, "serve", _recording(served))
    result = CliRunner().invoke(
        app, ["emulator", "serve", "--error-rate", "2", "--error-status", "200"]
    )
    assert result.exit_code == USAGE_ERROR
    assert "Invalid --error-rate" in result.output
    assert "Invalid --error-status" in result.output
    assert "Traceback" not in result.output
    assert served == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--db", "{tmp}"], "--db {tmp} is a directory; give a file, e.g. --db {tmp}/emulator"),
        (["--db", "{tmp}/no/such/e.sqlite"], "the directory {tmp}/no/such does not exist"),
        (["--api-key", ""], "Invalid --api-key: String should have at least 1 character"),
        (["--read-only-key", ""], "Invalid --read-only-key"),
        (["--clock", "2024-03-04T09:30:00"], "Invalid --clock: Input should have timezone info"),
        (["--clock", "next tuesday"], "Invalid --clock: Input should be a valid datetime"),
        (["--clock", "9999-12-31T00:00:00Z"], "Invalid --clock: Value error, the clock can show"),
    ],
)
def test_a_database_or_key_that_cannot_work_is_refused_before_serving(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, args: list[str], message: str
) -> None:
    """`--db DIR` ended in a traceback ("unable to open database file"); an empty key let
    requests without credentials in."""
    served: list[EmulatorSettings] = []
    monkeypatch.setattr(server, "serve", _recording(served))
    argv = [arg.replace("{tmp}", str(tmp_path)) for arg in args]
    result = CliRunner().invoke(app, ["emulator", "serve", "--port", "0", *argv])
    assert result.exit_code == USAGE_ERROR, result.output
    assert message.replace("{tmp}", str(tmp_path)) in result.output
    assert "Traceback" not in result.output
    assert served == []


def test_the_clock_can_start_stopped(monkeypatch: pytest.MonkeyPatch) -> None:
    """``--clock`` reaches the settings as an aware moment (real time without it)."""
    served: list[EmulatorSettings] = []
    monkeypatch.setattr(server, "serve", _recording(served))
    runner = CliRunner()
    started = runner.invoke(
        app, ["emulator", "serve", "--port", "0", "--clock", "2024-03-04T10:30:00+01:00"]
    )
    assert started.exit_code == 0, started.output
    plain = runner.invoke(app, ["emulator", "serve", "--port", "0"])
    assert plain.exit_code == 0, plain.output
    stopped, real_time = served
    assert stopped.clock == dt.datetime(2024, 3, 4, 9, 30, tzinfo=dt.UTC)
    assert real_time.clock is None

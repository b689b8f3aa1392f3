"""``mogulsync emulator serve`` turns its options into emulator settings, or a clear error."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from mogulsync.cli import app
from mogulsync.emulator import server
from mogulsync.emulator.cli import USAGE_ERROR
from mogulsync.emulator.settings import EmulatorSettings


def test_every_fault_kind_can_be_set_at_start_up(monkeypatch: pytest.MonkeyPatch) -> None:
    """Limits and all fault kinds given on the command line reach the served settings."""
    served: list[EmulatorSettings] = []
    monkeypatch.setattr(server, "serve", lambda settings, host, port, **_: served.append(settings))
    result = CliRunner().invoke(
        app,
        [
            "emulator", "serve", "--port", "9", "--rate-limit", "5", "--max-connections", "3",
            "--latency-ms", "7", "--error-rate", "0.1", "--error-status", "502",
            "--error-status", "504", "--rate-limit-rate", "0.2", "--drop-rate", "0.3",
            "--lost-response-rate", "0.4", "--fault-latency-ms", "9",
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
    assert (faults.latency_ms, faults.latency_jitter_ms, faults.seed) == (9, 2, 11)
    assert "http://127.0.0.1:9/v1" in result.output


def test_invalid_fault_options_are_reported_without_a_traceback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Out-of-range values name the option, exit with status 2 and never start serving."""
    served: list[EmulatorSettings] = []
    monkeypatch.setattr(server, "serve", lambda settings, host, port, **_: served.append(settings))
    result = CliRunner().invoke(
        app, ["emulator", "serve", "--error-rate", "2", "--error-status", "200"]
    )
    assert result.exit_code == USAGE_ERROR
    assert "Invalid --error-rate" in result.output
    assert "Invalid --error-status" in result.output
    assert "Traceback" not in result.output
    assert served == []

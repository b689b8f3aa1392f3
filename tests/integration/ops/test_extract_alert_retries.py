"""Extract alerts a channel did not take wait in runs.sqlite and go at the start of the next
`mogulsync extract run` once due, in order (the failure before its recovery), once."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
from pathlib import Path

import httpx
import pytest
import stamina
from tests.integration.ops._receivers import HttpReceiver
from typer.testing import CliRunner

from mogulsync.cli import app
from mogulsync.config import parse_config
from mogulsync.emulator.server import EmulatorServer
from mogulsync.extract.history import ExtractHistory
from mogulsync.extract.recording import ExtractWatch, alert_after, begin, end, retry_alerts
from mogulsync.runs import RunStore


@pytest.fixture(autouse=True)
def _fast_retries():
    with stamina.set_testing(True, attempts=1):
        yield


def _make_due(state_dir: Path) -> None:
    """Move the waiting alerts' next attempt to the past (the test drives time here)."""
    store = RunStore(state_dir)
    try:
        taken = store.take_alert_retries(0.0, job="extract", due_only=False)
        store.put_back_alert_retries([dataclasses.replace(i, next_at=0.0) for i in taken])
    finally:
        store.close()


def _waiting(state_dir: Path) -> list[tuple[str, int]]:
    store = RunStore(state_dir)
    try:
        return [(item.kind, item.failures) for item in store.alert_retries("extract")]
    finally:
        store.close()


def _next_at(state_dir: Path) -> dt.datetime:
    store = RunStore(state_dir)
    try:
        first = store.alert_retries("extract")[0]
    finally:
        store.close()
    return dt.datetime.fromtimestamp(first.next_at, dt.UTC)


def test_the_next_extract_run_sends_a_refused_failure_alert_at_its_start(
    emulator_server: EmulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "mogulsync.yml"
    config.write_text(
        "chartmogul:\n"
        "  api_key: ${CM_KEY}\n"
        f"  base_url: {emulator_server.base_url}\n"
        f"state_dir: {tmp_path / 'state'}\n"
        "extract:\n"
        f"  destination: duckdb:///{tmp_path / 'cm.duckdb'}\n"
        "  streams: [data_sources, plans]\n"
        "  mode: overwrite\n"
        "alerts:\n"
        "  attempts: 1\n"
        "  channels:\n"
        "    hook: {type: webhook, url: '${HOOK_URL}'}\n"
        "  rules:\n"
        "    - {on_recovery: false}\n",
        encoding="utf-8",
    )
    faults = f"{emulator_server.base_url}/_emulator/faults"
    failing = {"error_rate": 1.0, "error_statuses": [500], "path_pattern": "/v1/plans"}
    with HttpReceiver() as http:
        monkeypatch.setenv("CM_KEY", emulator_server.api_key)
        monkeypatch.setenv("HOOK_URL", f"{http.url}/hook")
        http.refuse = {"/hook"}
        httpx.put(faults, json=failing, timeout=30).raise_for_status()
        run = ["extract", "run", "-c", str(config), "--json"]
        assert CliRunner().invoke(app, run).exit_code == 1
        httpx.delete(faults, timeout=30).raise_for_status()
        assert _waiting(tmp_path / "state") == [("problem", 1)]
        http.refuse = set()
        _make_due(tmp_path / "state")
        assert CliRunner().invoke(app, run).exit_code == 0  # healthy: alerts nobody itself
        assert CliRunner().invoke(app, run).exit_code == 0
        bodies = http.bodies("/hook")
    [failed_run, *_] = ExtractHistory(tmp_path / "state").latest(3)[::-1]
    assert [(b["event"], b["run_id"]) for b in bodies] == [("failed", failed_run.run_id)]
    assert _waiting(tmp_path / "state") == []


def test_a_refused_failure_then_recovery_go_in_order_once_due(tmp_path: Path) -> None:
    with HttpReceiver() as http:
        raw = {
            "chartmogul": {"api_key": "${CM_KEY}"},
            "state_dir": str(tmp_path / "state"),
            "extract": {"destination": f"duckdb:///{tmp_path / 'cm.duckdb'}"},
            "alerts": {"channels": {"hook": {"type": "webhook", "url": "${HOOK}"}}, "attempts": 1},
        }
        config = parse_config(raw, env={"CM_KEY": "cm-key", "HOOK": f"{http.url}/hook"})
        runs = ExtractHistory(config.state_dir)
        http.refuse = {"/hook"}
        try:
            for number in range(2):  # failed, then recovered: both refused
                run = begin(runs, f"extract-{number}")
                error = None if number else RuntimeError("ChartMogul said no")
                end(run, {"streams": {}, "duration_s": 1.0} if number else None, error)
                runs.save(run)
                [warning] = asyncio.run(alert_after(config, runs, run, ExtractWatch(), error))
                assert "tried again later" in warning
        finally:
            runs.close()
        assert _waiting(config.state_dir) == [("problem", 2), ("recovered", 0)]
        http.refuse = set()
        due = _next_at(config.state_dir)
        # just before the back-off is over: nothing goes
        asyncio.run(retry_alerts(config, now=due - dt.timedelta(seconds=1)))
        assert http.bodies("/hook") == []
        later = due + dt.timedelta(seconds=1)
        asyncio.run(retry_alerts(config, now=later))
        asyncio.run(retry_alerts(config, now=later + dt.timedelta(hours=1)))
        events = [(b["event"], b["run_id"]) for b in http.bodies("/hook")]
    assert events == [("failed", "extract-0"), ("recovered", "extract-1")]
    assert _waiting(config.state_dir) == []


def test_an_interrupt_while_retrying_alerts_at_the_start_ends_the_run_cancelled(
    emulator_server: EmulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Retrying at the start may take the channels' timeouts (one still down): a Ctrl-C
    then ends the run `cancelled`, as during the extract, never left `running`."""
    from mogulsync.extract import recorded
    from mogulsync.extract.runner import ExtractOptions

    with HttpReceiver() as hook:  # never called: the retry is interrupted first
        project = parse_config(
            {
                "chartmogul": {"api_key": "${CM_KEY}", "base_url": emulator_server.base_url},
                "state_dir": str(tmp_path / "state"),
                "alerts": {"channels": {"hook": {"type": "webhook", "url": "${HOOK}"}}},
            },
            env={"CM_KEY": emulator_server.api_key, "HOOK": hook.url},
        )

    async def interrupted(*_args: object, **_kwargs: object) -> None:
        raise KeyboardInterrupt  # the user, while a channel that is down is retried

    monkeypatch.setattr(recorded, "retry_alerts", interrupted)
    options = ExtractOptions(destination=f"duckdb:///{tmp_path / 'cm.duckdb'}")
    with pytest.raises(KeyboardInterrupt):
        recorded.recorded_extract(project, options, lambda _w: pytest.fail("ran"), warn=print)
    history = ExtractHistory(tmp_path / "state")
    try:
        [run] = history.latest()
    finally:
        history.close()
    assert (run.status, run.message) == ("cancelled", recorded.STOPPED_BY_USER)

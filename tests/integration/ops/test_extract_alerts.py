"""Alerts after `mogulsync extract run`, over real HTTP and SMTP to local receivers.

The emulator fails one stream (every `/v1/plans` request answers 500) and then heals: the
failed run alerts each channel once, the next run announces the recovery once, and a
healthy run after a healthy one stays quiet. No message carries a secret.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import stamina
from tests.integration.ops._receivers import SMTP_PASSWORD, SMTP_USER, HttpReceiver, SmtpReceiver
from typer.testing import CliRunner

from mogulsync.cli import app
from mogulsync.config import parse_config
from mogulsync.emulator.server import EmulatorServer
from mogulsync.extract import history
from mogulsync.extract.history import ExtractHistory
from mogulsync.extract.recording import ExtractWatch, alert_after, begin, end
from mogulsync.extract.runner import ExtractCancelledError
from mogulsync.runs import RunStore

SLACK_TOKEN = "T0001/B0002/slack-token-secret"
PD_KEY = "pd-routing-key-secret"


@pytest.fixture(autouse=True)
def _fast_retries() -> Iterator[None]:
    with stamina.set_testing(True, attempts=2):
        yield


def _project(server: EmulatorServer, tmp_path: Path, smtp_port: int, rules: str = "") -> Path:
    path = tmp_path / "mogulsync.yml"
    path.write_text(
        "chartmogul:\n"
        "  api_key: ${CM_KEY}\n"
        f"  base_url: {server.base_url}\n"
        f"state_dir: {tmp_path / 'state'}\n"
        "extract:\n"
        f"  destination: duckdb:///{tmp_path / 'cm.duckdb'}\n"
        "  streams: [data_sources, plans]\n"
        "  mode: overwrite\n"
        "alerts:\n"
        "  timeout_s: 2\n"
        "  channels:\n"
        "    team-slack: {type: slack, url: '${SLACK_URL}'}\n"
        "    hook: {type: webhook, url: '${HOOK_URL}'}\n"
        "    oncall: {type: webhook, format: pagerduty, url: '${PD_URL}', routing_key: '${PD_KEY}'}\n"
        "    mail:\n"
        "      type: email\n"
        "      host: 127.0.0.1\n"
        f"      port: {smtp_port}\n"
        "      security: none\n"
        f"      username: {SMTP_USER}\n"
        "      password: ${SMTP_PASSWORD}\n"
        "      from: mogulsync@example.com\n"
        "      to: [data-team@example.com]\n" + rules,
        encoding="utf-8",
    )
    return path


@pytest.fixture
def receivers(
    emulator_server: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[HttpReceiver, SmtpReceiver]]:
    with HttpReceiver() as http, SmtpReceiver() as smtp:
        env = {
            "CM_KEY": emulator_server.api_key,
            "SLACK_URL": f"{http.url}/slack/{SLACK_TOKEN}",
            "HOOK_URL": f"{http.url}/hook",
            "PD_URL": f"{http.url}/pd",
            "PD_KEY": PD_KEY,
            "SMTP_PASSWORD": SMTP_PASSWORD,
        }
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        yield http, smtp


def _extract(config: Path) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["extract", "run", "-c", str(config), "--json"])
    return result.exit_code, result.output


def _fail_plans(server: EmulatorServer) -> None:
    faults = {"error_rate": 1.0, "error_statuses": [500], "path_pattern": "/v1/plans"}
    httpx.put(f"{server.base_url}/_emulator/faults", json=faults, timeout=30).raise_for_status()


def _heal(server: EmulatorServer) -> None:
    httpx.delete(f"{server.base_url}/_emulator/faults", timeout=30).raise_for_status()


def _one_data_source(server: EmulatorServer) -> None:
    with httpx.Client(
        base_url=f"{server.base_url}/v1", auth=(server.api_key, ""), timeout=30
    ) as client:
        client.post("/data_sources", json={"name": "Billing"}).raise_for_status()


def test_a_failed_extract_alerts_every_channel_once_and_its_recovery_once(
    emulator_server: EmulatorServer,
    tmp_path: Path,
    receivers: tuple[HttpReceiver, SmtpReceiver],
) -> None:
    http, smtp = receivers
    config = _project(emulator_server, tmp_path, smtp.port)
    _one_data_source(emulator_server)

    code, output = _extract(config)
    assert code == 0, output
    assert http.posts == []  # the first healthy run: nothing to say
    assert smtp.messages == []

    _fail_plans(emulator_server)
    code, output = _extract(config)
    assert code == 1, output
    [failed] = ExtractHistory(tmp_path / "state").latest(1)
    assert failed.status == "failed"

    [slack] = http.bodies(f"/slack/{SLACK_TOKEN}")
    assert "extract failed in stage fetch, stream plans" in slack["text"]
    assert failed.run_id in slack["text"]
    assert "/api/v1/extract/runs" in json.dumps(slack["blocks"])

    [hook] = http.bodies("/hook")
    assert (hook["event"], hook["job"], hook["run_id"]) == ("failed", "extract", failed.run_id)
    assert (hook["stage"], hook["failed_streams"]) == ("fetch", ["plans"])
    assert hook["streams"] == {"data_sources": 1, "plans": 0}
    assert hook["duration_s"] >= 0
    assert "/v1/plans" in hook["message"] or "plans" in hook["message"]

    [incident] = http.bodies("/pd")
    assert (incident["event_action"], incident["dedup_key"]) == ("trigger", "mogulsync/extract")
    assert incident["payload"]["group"] == "extract"

    [mail] = smtp.messages
    assert "extract failed" in mail["Subject"]
    assert failed.run_id in mail.get_payload(decode=True).decode()

    everything = json.dumps(http.posts) + mail.as_string()
    assert emulator_server.api_key not in everything
    assert SMTP_PASSWORD not in everything
    assert SLACK_TOKEN not in json.dumps([body for _path, body in http.posts])
    assert PD_KEY not in json.dumps(incident["payload"])

    _heal(emulator_server)
    code, output = _extract(config)
    assert code == 0, output
    [healthy] = ExtractHistory(tmp_path / "state").latest(1)
    assert "recovered" in http.bodies(f"/slack/{SLACK_TOKEN}")[1]["text"]
    recovered = http.bodies("/hook")[1]
    assert (recovered["event"], recovered["run_id"]) == ("recovered", healthy.run_id)
    assert recovered["streams"] == {"data_sources": 1, "plans": 0}
    assert http.bodies("/pd")[1] == {
        "routing_key": PD_KEY,
        "event_action": "resolve",
        "dedup_key": "mogulsync/extract",
    }
    assert "recovered" in smtp.messages[1]["Subject"]

    code, output = _extract(config)
    assert code == 0, output
    assert len(http.posts) == 6  # a healthy run after a healthy run stays quiet
    assert len(smtp.messages) == 2

    store = RunStore(tmp_path / "state")
    try:
        recorded = store.deliveries(["extract"])
    finally:
        store.close()
    assert sorted((d.run_id, d.trigger, d.channel) for d in recorded) == sorted(
        [(failed.run_id, "failed", name) for name in ("team-slack", "hook", "oncall", "mail")]
        + [(healthy.run_id, "recovered", name) for name in ("team-slack", "hook", "oncall", "mail")]
    )
    assert all(d.delivered for d in recorded)
    assert SLACK_TOKEN not in json.dumps([d.as_dict() for d in recorded])


def test_a_rule_with_extract_false_stays_quiet_and_a_dead_channel_is_a_warning(
    emulator_server: EmulatorServer,
    tmp_path: Path,
    receivers: tuple[HttpReceiver, SmtpReceiver],
    dead_port: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`extract: false` keeps a rule's channels out of the extract; a channel that is down
    adds a warning to the run (never its secret URL) and leaves the exit code alone."""
    http, smtp = receivers
    dead = f"http://127.0.0.1:{dead_port}/hooks/a1B2c3D4e5f6"
    monkeypatch.setenv("HOOK_URL", dead)
    rules = (
        "  rules:\n"
        "    - {channels: [team-slack, oncall, mail], extract: false}\n"
        "    - {channels: [hook]}\n"
    )
    config = _project(emulator_server, tmp_path, smtp.port, rules)
    _fail_plans(emulator_server)
    code, output = _extract(config)
    assert code == 1  # the extract's failure, not the alert's
    assert http.posts == []
    assert smtp.messages == []
    [run] = ExtractHistory(tmp_path / "state").latest(1)
    assert run.message is not None
    assert "warning: alert to channel `hook` not delivered" in run.message
    assert "a1B2c3D4e5f6" not in run.message
    assert "a1B2c3D4e5f6" not in output
    store = RunStore(tmp_path / "state")
    try:
        [delivery] = store.deliveries(["extract"])
    finally:
        store.close()
    assert (delivery.channel, delivery.delivered, delivery.run_id) == ("hook", False, run.run_id)


def test_an_extract_runs_deliveries_go_when_the_history_drops_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Deliveries are pruned with their extract run (the history keeps the latest runs)."""
    monkeypatch.setattr(history, "KEEP_RUNS", 2)
    with HttpReceiver() as http:
        raw = {
            "chartmogul": {"api_key": "${CM_KEY}"},
            "state_dir": str(tmp_path / "state"),
            "extract": {"destination": f"duckdb:///{tmp_path / 'cm.duckdb'}"},
            "alerts": {"channels": {"hook": {"type": "webhook", "url": "${HOOK}"}}},
        }
        config = parse_config(raw, env={"CM_KEY": "cm-key", "HOOK": f"{http.url}/hook"})
        runs = ExtractHistory(config.state_dir)
        ids = []
        try:
            for number in range(4):  # failed, recovered, failed, recovered
                run = begin(runs, f"extract-{number}")
                error = None if number % 2 else RuntimeError("ChartMogul said no")
                end(run, {"streams": {}, "duration_s": 1.0} if number % 2 else None, error)
                runs.save(run)
                assert asyncio.run(alert_after(config, runs, run, ExtractWatch(), error)) == []
                ids.append(run.run_id)
        finally:
            runs.close()
        events = [body["event"] for body in http.bodies("/hook")]
    assert events == ["failed", "recovered", "failed", "recovered"]
    store = RunStore(tmp_path / "state")
    try:
        kept = store.deliveries(["extract"])
    finally:
        store.close()
    assert [d.run_id for d in kept] == ids[:1:-1]  # the two runs the history still has


def test_a_cancelled_extract_alerts_nobody_and_the_recovery_still_comes(tmp_path: Path) -> None:
    """Cancelled between a failure and a success: quiet, and passed over for the recovery."""
    with HttpReceiver() as http:
        raw = {
            "chartmogul": {"api_key": "${CM_KEY}"},
            "state_dir": str(tmp_path / "state"),
            "alerts": {"channels": {"hook": {"type": "webhook", "url": "${HOOK}"}}},
        }
        config = parse_config(raw, env={"CM_KEY": "cm-key", "HOOK": f"{http.url}/hook"})
        runs = ExtractHistory(config.state_dir)
        try:
            outcomes = [
                (None, RuntimeError("ChartMogul said no")),
                (None, ExtractCancelledError("the extract was cancelled")),
                ({"streams": {}, "duration_s": 1.0}, None),
            ]
            for number, (report, error) in enumerate(outcomes):
                run = begin(runs, f"extract-{number}")
                end(run, report, error)
                runs.save(run)
                asyncio.run(alert_after(config, runs, run, ExtractWatch(), error))
        finally:
            runs.close()
        sent = [(body["event"], body["run_id"]) for body in http.bodies("/hook")]
    assert sent == [("failed", "extract-0"), ("recovered", "extract-2")]


def test_on_success_announces_every_successful_extract_but_not_to_pagerduty(
    emulator_server: EmulatorServer,
    tmp_path: Path,
    receivers: tuple[HttpReceiver, SmtpReceiver],
) -> None:
    """`on_success`: each successful extract is announced (a failure's next success as the
    recovery); the PagerDuty channel hears only the failure and its resolve."""
    http, smtp = receivers
    config = _project(emulator_server, tmp_path, smtp.port, "  rules: [{on_success: true}]\n")
    _one_data_source(emulator_server)
    outcomes = []
    for fail in (False, True, False, False):
        if fail:
            _fail_plans(emulator_server)
        code, output = _extract(config)
        assert code == (1 if fail else 0), output
        _heal(emulator_server)
        outcomes.append(ExtractHistory(tmp_path / "state").latest(1)[0].run_id)
    hook = [(body["event"], body["run_id"]) for body in http.bodies("/hook")]
    assert hook == list(
        zip(["succeeded", "failed", "recovered", "succeeded"], outcomes, strict=True)
    )
    first = http.bodies("/hook")[0]
    assert (first["title"], first["streams"]) == (
        f"mogulsync: extract succeeded (run {outcomes[0]})",
        {"data_sources": 1, "plans": 0},
    )
    assert [body["event_action"] for body in http.bodies("/pd")] == ["trigger", "resolve"]
    assert len(http.bodies(f"/slack/{SLACK_TOKEN}")) == 4
    assert "extract succeeded" in smtp.messages[0]["Subject"]


def test_a_failure_alerts_even_when_the_history_cannot_be_read(tmp_path: Path) -> None:
    """The history cannot be read back (locked, damaged): whether this is a recovery cannot
    be told, but a failure needs no earlier run: it alerts, with a warning about the rest."""
    with HttpReceiver() as http:
        raw = {
            "chartmogul": {"api_key": "${CM_KEY}"},
            "state_dir": str(tmp_path / "state"),
            "alerts": {"channels": {"hook": {"type": "webhook", "url": "${HOOK}"}}},
        }
        config = parse_config(raw, env={"CM_KEY": "cm-key", "HOOK": f"{http.url}/hook"})
        runs = ExtractHistory(config.state_dir)
        run = begin(runs, "extract-0")
        error = RuntimeError("ChartMogul said no")
        end(run, None, error)
        runs.save(run)
        runs.close()  # unreadable from here on
        warnings = asyncio.run(alert_after(config, runs, run, ExtractWatch(), error))
        sent = [(body["event"], body["run_id"]) for body in http.bodies("/hook")]
    assert sent == [("failed", "extract-0")]
    assert len(warnings) == 1

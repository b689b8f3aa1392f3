"""`mogulsync events status` shows the forwarder's alerts as serve's Events page does.

A real queue file holds a pending event two hours old (by a driven clock); the real alert
watch looks at it, opens a `backlog` episode and sends it to a local webhook, recording
the delivery in the run history. `events status` (table and `--json`) then shows the open
condition, its channel and since when, and the delivery, without the channel's secret.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from pathlib import Path

import yaml
from tests.integration.ops._receivers import HttpReceiver
from typer.testing import CliRunner

from mogulsync.cli import app
from mogulsync.config import load_config
from mogulsync.events.queue import EventQueue, GroupCommitWriter
from mogulsync.events.schema import normalize
from mogulsync.events.watch import alert_watch

#: the driven clock: the event arrives at noon, the alerts look two hours later
ARRIVED = dt.datetime(2026, 3, 2, 12, 0, tzinfo=dt.UTC)
LOOKED = ARRIVED + dt.timedelta(hours=2)
HOOK_TOKEN = "a1B2c3D4e5f6-hook-token"
ENV = {"API_KEY": "k", "WRITE_KEY": "w"}


def _project(tmp_path: Path, alerts: dict[str, object] | None) -> Path:
    body: dict[str, object] = {
        "chartmogul": {"api_key": "${API_KEY}"},
        "state_dir": str(tmp_path / "state"),
        "events": {"write_keys": ["${WRITE_KEY}"]},
    }
    if alerts is not None:
        body["alerts"] = alerts
    path = tmp_path / "mogulsync.yml"
    path.write_text(yaml.safe_dump(body))
    return path


def _one_pending_event(queue_file: Path) -> None:
    event = normalize({"type": "identify", "userId": "u1", "messageId": "m1"}, received_at=ARRIVED)

    async def store() -> None:
        writer = GroupCommitWriter(queue_file)
        try:
            await writer.append([event])
        finally:
            writer.close()

    asyncio.run(store())


def _status(config: Path, *options: str, env: dict[str, str]) -> str:
    result = CliRunner().invoke(app, ["events", "status", "-c", str(config), *options], env=env)
    assert result.exit_code == 0, result.output
    return result.output


def test_status_shows_the_open_alert_its_channel_and_the_delivery(
    tmp_path: Path, monkeypatch
) -> None:
    alerts = {"channels": {"oncall-hook": {"type": "webhook", "url": "${HOOK_URL}"}}}
    config_path = _project(tmp_path, alerts)
    queue_file = tmp_path / "state" / "events.sqlite"
    _one_pending_event(queue_file)
    with HttpReceiver() as http:
        hook_url = f"{http.url}/hooks/{HOOK_TOKEN}"
        for name, value in {**ENV, "HOOK_URL": hook_url}.items():
            monkeypatch.setenv(name, value)
        config = load_config(config_path)
        queue = EventQueue(queue_file)
        try:
            watch = alert_watch(config, queue, clock=LOOKED.timestamp)
            assert watch is not None
            [sent] = asyncio.run(watch.look(LOOKED.timestamp()))
        finally:
            queue.close()
        [posted] = http.bodies(f"/hooks/{HOOK_TOKEN}")
    assert (sent.trigger, sent.delivered, posted["event"]) == ("backlog", True, "backlog")

    # the status command reads; it needs no channel secret (HOOK_URL unset here)
    monkeypatch.delenv("HOOK_URL")
    report = json.loads(_status(config_path, "--json", env=ENV))
    assert report["alerts"]["watching"] is True
    assert report["alerts"]["looked_at"] == LOOKED.isoformat(timespec="seconds")
    assert report["alerts"]["alerting"] == [
        {
            "condition": "backlog",
            "channel": "oncall-hook",
            "since": LOOKED.isoformat(timespec="seconds"),
        }
    ]
    [delivery] = report["alerts"]["deliveries"]
    assert (delivery["sync"], delivery["run_id"], delivery["trigger"]) == (
        "events",
        sent.run_id,
        "backlog",
    )
    assert (delivery["channel"], delivery["outcome"]) == ("oncall-hook", "delivered")
    assert report["events"]["pending"] == 1  # the counts are still there

    table = _status(config_path, env=ENV)
    assert "Alert open: backlog on channel oncall-hook since 2026-03-02 14:00:00 UTC" in table
    assert "backlog" in table.split("Alert open")[1].split("since")[1]  # the delivery row
    assert sent.run_id in table
    assert HOOK_TOKEN not in table + json.dumps(report)


def test_status_says_when_nothing_is_open_and_when_nothing_watches(tmp_path: Path) -> None:
    unwatched = _project(tmp_path, alerts=None)  # no channel: no alerts
    _one_pending_event(tmp_path / "state" / "events.sqlite")
    report = json.loads(_status(unwatched, "--json", env=ENV))
    assert report["alerts"] == {
        "watching": False,
        "looked_at": None,
        "alerting": [],
        "deliveries": [],
    }
    assert "Alerts: no rule watches the forwarder" in _status(unwatched, env=ENV)
    assert not (tmp_path / "state" / "runs.sqlite").exists()  # a status reads, never creates

    hook = {"channels": {"hook": {"type": "webhook", "url": "${HOOK_URL}"}}}  # unset: fine
    watched = _project(tmp_path, alerts=hook)  # watched, never looked at yet
    assert "Alerts: none open (not checked yet)." in _status(watched, env=ENV)

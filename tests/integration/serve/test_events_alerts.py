"""`mogulsync serve` runs the events alerts too: the Events page and the API show the
open episode and the alerts sent, and a restart inside an episode sends nothing again."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from pathlib import Path

import pytest
from tests.integration.ops._receivers import HttpReceiver
from tests.integration.serve._support import VIEWER, accounts, project, serving

from mogulsync.alerts.events_dispatch import state_key
from mogulsync.alerts.events_rules import Episode, WatchState
from mogulsync.events.queue import EventQueue, GroupCommitWriter, Outcome
from mogulsync.events.schema import normalize
from mogulsync.runs import RunStore
from mogulsync.runs.deliveries import AlertDelivery

pytestmark = pytest.mark.anyio

WRITE_KEY = "segment-write-key-alerts-0123"
HOOK_TOKEN = "hook-token-0123456789-never-shown"
MINUTE = 60.0


async def left_by_an_earlier_server(queue_file: Path, key: str, now: float) -> None:
    """A dead letter a minute ago, its episode open and announced (as a process that has
    since stopped left them)."""
    writer = GroupCommitWriter(queue_file)
    try:
        message = {"type": "group", "userId": "u", "groupId": "g", "messageId": "m1"}
        await writer.append([normalize(message, received_at=dt.datetime.now(dt.UTC))])
    finally:
        writer.close()
    queue = EventQueue(queue_file)
    try:
        [event] = queue.pending(1)
        queue.record([Outcome(event.seq, "dead", "ChartMogul refused it", 1)])
        state = WatchState(
            samples=[[now - 2 * MINUTE, 0], [now - MINUTE, 1]],
            episodes={
                "dead_letters": Episode(open=True, since=now - MINUTE, last_sent=now - MINUTE)
            },
        )
        queue.set_meta(key, state.to_json())
    finally:
        queue.close()


async def test_the_events_page_and_api_show_the_open_episode_and_a_restart_stays_quiet(
    emulator_server, tmp_path
):
    events = {"write_keys": ["${WRITE_KEY}"], "retry": {"coalesce_window_s": 0}}
    with HttpReceiver() as receiver:
        alerts = {"channels": {"hook": {"type": "webhook", "url": "${HOOK}"}}}
        env = {"WRITE_KEY": WRITE_KEY, "HOOK": f"{receiver.url}/hooks/{HOOK_TOKEN}"}
        config = project(
            emulator_server, tmp_path, accounts(tmp_path, 1), events=events, alerts=alerts, env=env
        )
        now = time.time()
        queue_file = Path(config.state_dir) / "events.sqlite"
        await left_by_an_earlier_server(queue_file, state_key(config.alerts.rules[0]), now)
        store = RunStore(config.state_dir)
        try:
            sent = AlertDelivery(
                at="2026-01-02T03:04:05+00:00", sync="events", run_id="events-dead_letters-x",
                channel="hook", target="webhook (json) http://127.0.0.1", trigger="dead_letters",
                delivered=True,
            )  # fmt: skip
            store.add_deliveries([sent])
        finally:
            store.close()
        async with serving(config) as served:
            viewer = served.bearer(VIEWER)
            status: dict = {}
            while not status.get("alerts", {}).get("looked_at"):  # the watch's first look
                await asyncio.sleep(0.02)
                status = (await served.http.get("/api/v1/events/status", headers=viewer)).json()
            listed = (await served.http.get("/api/v1/events/alerts", headers=viewer)).json()
            page = (await served.http.get("/events", headers=viewer)).text
            metrics = (await served.http.get("/metrics", headers=viewer)).text
        assert receiver.posts == []  # the episode was announced before the restart
    found = status["alerts"]
    assert found["watching"] is True
    assert [(a["condition"], a["channel"]) for a in found["alerting"]] == [("dead_letters", "hook")]
    assert [(d["trigger"], d["channel"], d["outcome"]) for d in listed] == [
        ("dead_letters", "hook", "delivered")
    ]
    assert found["deliveries"] == listed
    assert 'id="events-alert-deliveries"' in page
    assert "events-dead_letters-x" in page
    assert '<span class="status failed">dead_letters</span> on hook since' in page
    assert 'mogulsync_events_alerting{condition="dead_letters"} 1.0' in metrics
    assert 'mogulsync_events_alerting{condition="backlog"} 0.0' in metrics
    assert HOOK_TOKEN not in page + str(status) + str(listed)

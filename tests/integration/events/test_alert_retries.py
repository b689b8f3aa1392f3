"""Events alerts a channel did not take are sent again at later looks, with back-off.

Real HTTP to local receivers, one of which refuses (503) while the test says so; the
forwarder's and the watch's clock is driven, so "a minute later" is a look, not a wait.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from tests.integration.ops._receivers import HttpReceiver, SmtpReceiver

from mogulsync.emulator.server import EmulatorServer
from mogulsync.runs import RunStore
from mogulsync.runs.deliveries import AlertDelivery

from .test_alerts import REFUSED, Clock, Forwarding, bodies, pd_actions, project

pytestmark = pytest.mark.anyio

#: a rule watching the forwarder only, on the JSON webhook, PagerDuty and Slack
RULES = [{"syncs": [], "channels": ["hook", "oncall", "team-slack"], "events": True}]


@pytest.fixture
def http() -> Iterator[HttpReceiver]:
    with HttpReceiver() as receiver:
        yield receiver


@pytest.fixture
def smtp() -> Iterator[SmtpReceiver]:
    with SmtpReceiver() as receiver:
        yield receiver


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def forwarding(
    tmp_path: Path,
    emulator_server: EmulatorServer,
    http: HttpReceiver,
    smtp: SmtpReceiver,
    clock: Clock,
) -> AsyncIterator[Forwarding]:
    f = Forwarding(project(tmp_path, emulator_server, http, smtp, rules=RULES), clock)
    yield f
    await f.aclose()


def events(http: HttpReceiver, prefix: str) -> list[str]:
    return [body["event"] for body in bodies(http, prefix)]


def attempts(f: Forwarding, channel: str) -> list[AlertDelivery]:
    store = RunStore(f.config.state_dir)
    try:
        return [d for d in reversed(store.deliveries(["events"])) if d.channel == channel]
    finally:
        store.close()


async def test_a_webhook_down_for_a_minute_hears_the_alert_at_the_next_look_others_once(
    forwarding: Forwarding, http: HttpReceiver, clock: Clock
) -> None:
    """The JSON webhook refuses the dead-letter alert (after its retries); Slack and
    PagerDuty take it. A minute later, after a restart even, the webhook is back: it
    hears the alert then, and nobody hears it twice. Before, it heard nothing until the
    next reminder (6 hours)."""
    f = forwarding
    await f.minutes(1)
    http.refuse = {"/hook"}
    await f.send(REFUSED)
    made = await f.minutes(1)
    assert sorted((d.channel, d.delivered) for d in made) == [
        ("hook", False),
        ("oncall", True),
        ("team-slack", True),
    ]
    assert (events(http, "/hook"), len(bodies(http, "/slack"))) == ([], 1)
    assert pd_actions(http) == [("trigger", "mogulsync/events")]

    await f.aclose()  # what is still to send is kept in the queue file
    restarted = Forwarding(f.config, clock)
    try:
        http.refuse.clear()
        made = await restarted.minutes(1)
        assert [(d.channel, d.trigger, d.delivered) for d in made] == [
            ("hook", "dead_letters", True)
        ]
        [late] = bodies(http, "/hook")
        assert "1 event dead-lettered in the last 1h" in late["title"]
        assert await restarted.minutes(30) == []
        assert len(bodies(http, "/slack")) == 1
        assert pd_actions(http) == [("trigger", "mogulsync/events")]
        assert [d.delivered for d in attempts(f, "hook")] == [False, True]
    finally:
        await restarted.aclose()


async def test_a_channel_down_through_an_episode_hears_it_and_its_end_in_order_with_back_off(
    forwarding: Forwarding, http: HttpReceiver
) -> None:
    """The webhook and PagerDuty refuse for the whole episode: they are tried again after
    1, 2, 4, 8, 16 minutes (not at every look); the recovery waits behind the alert they
    never got, and once they are back they hear both, in order (PagerDuty: trigger, then
    resolve). Slack, which was up, hears each once."""
    f = forwarding
    await f.minutes(1)
    http.refuse = {"/hook", "/pd"}
    await f.send(REFUSED)
    await f.minutes(59)  # looks 0..58 after the dead letter: attempts at 0, 1, 3, 7, 15, 31
    assert [d.delivered for d in attempts(f, "hook")] == [False] * 6
    assert [d.delivered for d in attempts(f, "oncall")] == [False] * 6
    assert len(bodies(http, "/slack")) == 1
    http.refuse.clear()
    await f.minutes(2)  # the recovery (an hour after the dead letter) is news: sent at once
    assert events(http, "/hook") == ["dead_letters", "recovered"]
    assert pd_actions(http) == [("trigger", "mogulsync/events"), ("resolve", "mogulsync/events")]
    assert len(bodies(http, "/slack")) == 2
    await f.minutes(60)
    assert len(http.posts) == 6  # nothing more, to anybody


async def test_an_alert_being_sent_when_the_server_stops_is_sent_after_the_restart(
    forwarding: Forwarding, http: HttpReceiver, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    """`events serve` (or `serve`) stopping cancels the alerts' task, which may be waiting on
    a slow webhook (its retries take up to a minute): what no channel confirmed stays in
    the queue file and goes out at the next start's first look. Before, it was lost."""
    f = forwarding
    await f.minutes(1)
    http.hold = {"/hook"}
    await f.send(REFUSED)
    clock.advance(60)
    await f.forwarder.run_once()
    with caplog.at_level(logging.INFO, logger="mogulsync.alerts"):
        look = asyncio.create_task(f.watch.look_if_due())
        assert await asyncio.to_thread(http.holding.wait, 60)  # the webhook has the request
        # and Slack's and PagerDuty's deliveries have ended (they went out at the same time)
        deadline = time.monotonic() + 60  # a hang guard, not a speed
        while sum("events alert sent to" in r.getMessage() for r in caplog.records) < 2:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.01)
    look.cancel()
    with pytest.raises(asyncio.CancelledError):
        await look
    http.hold.clear()
    http.release.set()  # it answers 503 to a client gone
    await f.aclose()
    assert len(bodies(http, "/slack")) == 1  # Slack's delivery had ended before the stop
    restarted = Forwarding(f.config, clock)
    try:
        made = await restarted.minutes(1)
        assert [(d.channel, d.trigger, d.delivered) for d in made] == [
            ("hook", "dead_letters", True)
        ]
        assert events(http, "/hook") == ["dead_letters"]
        assert len(bodies(http, "/slack")) == 1
        assert pd_actions(http) == [("trigger", "mogulsync/events")]
    finally:
        await restarted.aclose()

"""Events-forwarder alerts over real HTTP and SMTP: dead letters, a stuck backlog, recovery.

The forwarder delivers to the emulator on loopback (which refuses or fails deliveries);
alerts go to local receivers (Slack, a JSON webhook, PagerDuty, e-mail). Every clock is
driven: the forwarder's and the alert watch's share one the test advances.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from email.message import Message
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.integration.ops._receivers import (
    SMTP_PASSWORD,
    HttpReceiver,
    SmtpReceiver,
    every_channel,
)
from tests.integration.ops.test_sms_alerts import FROM, SID, TO, TOKEN, TwilioReceiver

from mogulsync.alerts.events_dispatch import EventsAlerter
from mogulsync.config import parse_config
from mogulsync.config.models import AppConfig
from mogulsync.emulator.server import EmulatorServer
from mogulsync.events.forwarder import Forwarder
from mogulsync.events.mappings import DEFAULT_MAPPINGS
from mogulsync.events.queue import EventQueue, GroupCommitWriter, Outcome
from mogulsync.events.schema import normalize
from mogulsync.events.server import EventsService, build_delivery
from mogulsync.events.watch import (
    LOOKED_AT_KEY,
    WATCH_INTERVAL_S,
    AlertWatch,
    alert_watch,
    redactor_for,
    snapshot,
)
from mogulsync.runs import RunStore

from .conftest import call

pytestmark = pytest.mark.anyio

WRITE_KEY = "wk-alerts-write-key-0001"
SLACK_TOKEN = "T0001/B0002/slack-token-secret"
PD_KEY = "pd-routing-key-secret"
HOUR = 3600.0
#: how long a test waits for the server's threads to act
PATIENCE_S = 20.0
#: a group ChartMogul refuses (not an ISO country): dead-lettered at once
REFUSED = {"type": "group", "userId": "u", "groupId": "acme", "traits": {"address": {"country": "Narnia"}}}  # fmt: skip
GOOD = {"type": "group", "userId": "u", "groupId": "globex", "traits": {"name": "Globex"}}
PATHS = ("/slack", "/hook", "/pd")


class Clock:
    """The forwarder's and the watch's clock, moved only by the test."""

    def __init__(self) -> None:
        self.now = dt.datetime.now(dt.UTC).timestamp()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def project(
    tmp_path: Path,
    emulator: EmulatorServer,
    http: HttpReceiver,
    smtp: SmtpReceiver,
    *,
    rules: list[dict[str, Any]] | None = None,
    retry: dict[str, Any] | None = None,
    twilio: TwilioReceiver | None = None,
    api_key: str | None = None,
) -> AppConfig:
    alerts: dict[str, Any] = {
        "channels": every_channel(smtp.port),
        "timeout_s": 2,
    }
    if rules is not None:
        alerts["rules"] = rules
    if twilio is not None:
        alerts["channels"]["phones"] = {"type": "sms", "account_sid": SID,
            "auth_token": "${TWILIO_AUTH_TOKEN}", "from": FROM, "to": TO, "api_url": twilio.url}  # fmt: skip
    raw = {
        "chartmogul": {
            "api_key": "${CM_KEY}",
            "base_url": emulator.base_url,
            "rate_limit": 10_000,
        },
        "state_dir": str(tmp_path / "state"),
        "events": {
            "write_keys": ["${WRITE_KEY}"],
            "retry": {"coalesce_window_s": 0, **(retry or {})},
        },
        "alerts": alerts,
    }
    env = {
        "CM_KEY": api_key or emulator.api_key,
        "WRITE_KEY": WRITE_KEY,
        "SLACK_URL": f"{http.url}/slack/{SLACK_TOKEN}",
        "HOOK_URL": f"{http.url}/hook",
        "PD_URL": f"{http.url}/pd",
        "PD_KEY": PD_KEY,
        "SMTP_PASSWORD": SMTP_PASSWORD,
        "TWILIO_AUTH_TOKEN": TOKEN,
    }
    return parse_config(raw, env=env)


class Forwarding:
    """A queue, its forwarder and the alert watch, as ``events serve`` builds them."""

    def __init__(self, config: AppConfig, clock: Clock) -> None:
        self.config = config
        self.clock = clock
        self.path = Path(config.state_dir) / "events.sqlite"
        self.queue = EventQueue(self.path)
        self.delivery = build_delivery(config, self.queue)
        self.forwarder = Forwarder(
            self.queue, self.delivery, DEFAULT_MAPPINGS, config.events.retry, clock=clock
        )
        watch = alert_watch(config, self.queue, clock)
        assert watch is not None
        self.watch: AlertWatch = watch
        self.count = 0

    async def send(self, *messages: dict[str, Any]) -> None:
        events = []
        for message in messages:
            self.count += 1
            received = dt.datetime.fromtimestamp(self.clock(), dt.UTC)
            events.append(
                normalize({"messageId": f"m{self.count}", **message}, received_at=received)
            )
        writer = GroupCommitWriter(self.path)
        try:
            await writer.append(events)
        finally:
            writer.close()

    async def minutes(self, count: int) -> list[Any]:
        """``count`` watch intervals: a delivery round and a look each; deliveries made."""
        made = []
        for _ in range(count):
            self.clock.advance(WATCH_INTERVAL_S)
            await self.forwarder.run_once()
            made.extend(await self.watch.look_if_due() or [])
        return made

    async def aclose(self) -> None:
        await self.delivery.aclose()
        self.queue.close()


@pytest.fixture
def http() -> Iterator[HttpReceiver]:
    with HttpReceiver() as receiver:
        yield receiver


@pytest.fixture
def smtp() -> Iterator[SmtpReceiver]:
    with SmtpReceiver() as receiver:
        yield receiver


@pytest.fixture
def twilio() -> Iterator[TwilioReceiver]:
    with TwilioReceiver() as receiver:
        yield receiver


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def default_rule(
    tmp_path: Path,
    emulator_server: EmulatorServer,
    http: HttpReceiver,
    smtp: SmtpReceiver,
    twilio: TwilioReceiver,
    clock: Clock,
) -> AsyncIterator[Forwarding]:
    """No ``rules:``: the default rule, which watches the forwarder (SMS included)."""
    config = project(tmp_path, emulator_server, http, smtp, twilio=twilio)
    forwarding = Forwarding(config, clock)
    yield forwarding
    await forwarding.aclose()


def bodies(http: HttpReceiver, prefix: str) -> list[Any]:
    return [body for path, body in http.posts if path.startswith(prefix)]


def pd_actions(http: HttpReceiver) -> list[tuple[str, str]]:
    return [(body["event_action"], body["dedup_key"]) for body in bodies(http, "/pd")]


def everything_sent(http: HttpReceiver, smtp: SmtpReceiver) -> str:
    mails = [f"{message['Subject']}\n{mail_text(message)}" for message in smtp.messages]
    # the bodies only (a Slack URL's path is its token), without PagerDuty's routing key
    sent = [{k: v for k, v in body.items() if k != "routing_key"} for _path, body in http.posts]
    return repr(sent) + "".join(mails)


def mail_text(message: Message) -> str:
    payload = message.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode()


async def test_dead_letters_alert_once_per_episode_and_recover_once_on_every_channel(
    default_rule: Forwarding, http: HttpReceiver, smtp: SmtpReceiver, twilio: TwilioReceiver
) -> None:
    """A refused event alerts every channel once; more refusals in the same episode stay
    quiet; an hour without dead letters sends one recovery (PagerDuty: resolve)."""
    f = default_rule
    assert await f.minutes(1) == []  # the first look: nothing dead-lettered yet
    await f.send(REFUSED)
    await f.minutes(1)
    assert f.queue.count("dead") == 1
    assert [body["event"] for body in bodies(http, "/hook")] == ["dead_letters"]
    [slack] = bodies(http, "/slack")
    assert "1 event dead-lettered in the last 1h" in slack["text"]
    blocks = repr(slack["blocks"])
    assert "Country must be an ISO 3166-1" in blocks  # the most common reason
    assert "mogulsync events dead-letter list" in blocks
    assert pd_actions(http) == [("trigger", "mogulsync/events")]
    [mail] = smtp.messages
    assert "dead-letter replay" in mail_text(mail)
    assert [m["To"] for m in twilio.messages] == TO
    assert "dead-lettered" in twilio.messages[0]["Body"]

    # the episode goes on: more refusals, many looks, no storm
    for _ in range(3):
        await f.send(REFUSED)
        await f.minutes(5)
    assert f.queue.count("dead") == 4
    assert len(http.posts) == 3
    assert len(smtp.messages) == 1
    assert len(twilio.messages) == len(TO)

    # an hour after the last refusal: one recovery, then quiet
    await f.minutes(60)
    assert [body["event"] for body in bodies(http, "/hook")] == ["dead_letters", "recovered"]
    assert pd_actions(http) == [("trigger", "mogulsync/events"), ("resolve", "mogulsync/events")]
    assert len(smtp.messages) == 2
    assert "recovered" in str(smtp.messages[1]["Subject"])
    assert ["recovered" in m["Body"] for m in twilio.messages] == [False, False, True, True]
    assert twilio.refused == []
    await f.minutes(30)
    assert len(http.posts) == 6

    # recorded in the run history under job `events`
    store = RunStore(f.config.state_dir)
    try:
        recorded = store.deliveries(["events"])
    finally:
        store.close()
    assert sorted((d.trigger, d.channel, d.delivered) for d in recorded) == sorted(
        (trigger, channel, True)
        for trigger in ("dead_letters", "recovered")
        for channel in ("team-slack", "hook", "oncall", "mail", "phones")
    )


async def test_a_stuck_backlog_alerts_reminds_at_most_every_repeat_then_resolves(
    tmp_path: Path,
    emulator_server: EmulatorServer,
    http: HttpReceiver,
    smtp: SmtpReceiver,
    clock: Clock,
    admin: httpx.Client,
) -> None:
    """ChartMogul failing: events stay pending; once the oldest is older than backlog_age
    one alert, a reminder per ``repeat`` while it lasts, one recovery once delivered."""
    rules = [{"syncs": [], "channels": ["hook", "oncall"],
              "events": {"backlog_age": "30m", "repeat": "2h", "dead_letters": None}}]  # fmt: skip
    config = project(
        tmp_path, emulator_server, http, smtp, rules=rules, retry={"max_attempts": 1000}
    )
    f = Forwarding(config, clock)
    try:
        await f.minutes(1)
        call(admin, "PUT", "/faults", json={"error_rate": 1.0})
        await f.send(GOOD)
        await f.minutes(29)
        assert http.posts == []  # 29 minutes old: not yet
        await f.minutes(2)
        [alert] = bodies(http, "/hook")
        assert alert["event"] == "backlog"
        assert "stuck" in alert["title"]
        assert "Last failure of the oldest pending event" in alert["message"]
        # three more hours stuck: a reminder every two hours, not every look
        await f.minutes(180)
        assert [body["state"] for body in bodies(http, "/hook")] == ["problem", "reminder"]
        call(admin, "DELETE", "/faults")
        await f.minutes(6)  # the next retry is at most retry_max_s (5 minutes) away
        assert f.queue.count("pending") == 0
        assert [body["state"] for body in bodies(http, "/hook")] == [
            "problem",
            "reminder",
            "recovered",
        ]
        assert [action for action, _key in pd_actions(http)] == ["trigger", "trigger", "resolve"]
    finally:
        call(admin, "DELETE", "/faults")
        await f.aclose()


async def test_a_restart_continues_the_episode(
    default_rule: Forwarding, http: HttpReceiver, clock: Clock
) -> None:
    """The episode state lives in the queue file: a new process does not alert again."""
    f = default_rule
    await f.minutes(1)
    await f.send(REFUSED)
    await f.minutes(1)
    assert len(bodies(http, "/hook")) == 1
    await f.aclose()
    restarted = Forwarding(f.config, clock)
    try:
        await restarted.minutes(10)
        assert len(bodies(http, "/hook")) == 1
        await restarted.minutes(60)
        assert [body["event"] for body in bodies(http, "/hook")] == ["dead_letters", "recovered"]
    finally:
        await restarted.aclose()


async def test_alerts_and_the_history_never_quote_a_secret(
    default_rule: Forwarding,
    http: HttpReceiver,
    smtp: SmtpReceiver,
    twilio: TwilioReceiver,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A dead letter's reason quoting the API key or a write key is masked everywhere."""
    f = default_rule
    api_key = f.config.chartmogul.api_key.get_secret_value()
    await f.minutes(1)
    await f.send(GOOD)
    [event] = f.queue.pending(1)
    reason = f"refused: key {api_key} and write key {WRITE_KEY} in the answer"
    f.queue.record([Outcome(event.seq, "dead", reason, 1)])
    with caplog.at_level(logging.DEBUG, logger="mogulsync"):
        await f.minutes(1)
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("mogulsync"))
    assert "events alert sent to hook" in ours
    sent = everything_sent(http, smtp) + repr(twilio.messages)
    assert "refused: key *** and write key *** in the answer" in sent
    assert "refused: key ***" in twilio.messages[0]["Body"]
    store = RunStore(f.config.state_dir)
    try:
        recorded = repr(store.deliveries(["events"]))
    finally:
        store.close()
    for secret in (api_key, WRITE_KEY, SLACK_TOKEN, PD_KEY, SMTP_PASSWORD, TOKEN):
        assert secret not in sent
        assert secret not in recorded
        assert secret not in ours


def wait_until(condition: Callable[[], bool], what: str) -> None:
    """Wait for the server's threads to act (a generous bound: this is not a speed test)."""
    deadline = time.monotonic() + PATIENCE_S
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.02)


def looked_at(path: Path) -> float | None:
    queue = EventQueue(path)
    try:
        value = queue.meta(LOOKED_AT_KEY)
    finally:
        queue.close()
    return None if value is None else float(value)


def test_events_serve_alerts_and_a_restarted_server_keeps_the_episode(
    tmp_path: Path, emulator_server: EmulatorServer, http: HttpReceiver, smtp: SmtpReceiver
) -> None:
    """`events serve` end to end: a refused event over HTTP alerts once; after a restart
    in the same episode nothing is sent again, and the recovery comes once."""
    clock = Clock()
    config = project(tmp_path, emulator_server, http, smtp)
    path = Path(config.state_dir) / "events.sqlite"
    with EventsService(config, host="127.0.0.1", port=0, clock=clock) as service:
        wait_until(lambda: looked_at(path) == clock.now, "the first look")
        answer = httpx.post(
            f"{service.base_url}/v1/group", json=REFUSED, auth=(WRITE_KEY, ""), timeout=30
        )
        assert answer.status_code == 200
        wait_until(
            lambda: service.forwarder is not None and dead_letters(path) == 1, "a dead letter"
        )
        clock.advance(WATCH_INTERVAL_S)
        wait_until(lambda: len(bodies(http, "/hook")) == 1, "the alert")
    clock.advance(WATCH_INTERVAL_S)
    with EventsService(config, host="127.0.0.1", port=0, clock=clock):
        wait_until(lambda: looked_at(path) == clock.now, "the first look after the restart")
        assert [body["event"] for body in bodies(http, "/hook")] == ["dead_letters"]
        clock.advance(HOUR + WATCH_INTERVAL_S)
        wait_until(lambda: len(bodies(http, "/hook")) == 2, "the recovery")
    assert [body["event"] for body in bodies(http, "/hook")] == ["dead_letters", "recovered"]
    assert pd_actions(http) == [("trigger", "mogulsync/events"), ("resolve", "mogulsync/events")]


def dead_letters(path: Path) -> int:
    queue = EventQueue(path)
    try:
        return queue.count("dead")
    finally:
        queue.close()


async def test_pagerduty_resolves_only_when_every_condition_has_cleared(
    tmp_path: Path,
    emulator_server: EmulatorServer,
    http: HttpReceiver,
    smtp: SmtpReceiver,
    clock: Clock,
    admin: httpx.Client,
) -> None:
    """Dead letters recover while the backlog is still stuck: the JSON webhook hears that
    recovery, PagerDuty's one incident (`mogulsync/events`) stays open until both clear."""
    rules = [{"syncs": [], "channels": ["hook", "oncall"], "events": {"backlog_age": "30m"}}]
    config = project(
        tmp_path, emulator_server, http, smtp, rules=rules, retry={"max_attempts": 1000}
    )
    f = Forwarding(config, clock)
    try:
        await f.minutes(1)
        call(admin, "PUT", "/faults", json={"error_rate": 1.0})
        await f.send(GOOD, REFUSED)
        refused = f.queue.get("m2")
        assert refused is not None
        f.queue.record([Outcome(refused.seq, "dead", "refused", 1)])  # as a 422 would
        await f.minutes(31)
        assert sorted(body["event"] for body in bodies(http, "/hook")) == [
            "backlog",
            "dead_letters",
        ]
        await f.minutes(31)  # the dead letter is over an hour old: that condition clears
        assert [body["event"] for body in bodies(http, "/hook")][-1] == "recovered"
        assert [action for action, _key in pd_actions(http)] == ["trigger", "trigger"]
        call(admin, "DELETE", "/faults")
        await f.minutes(6)  # the next retry is at most retry_max_s (5 minutes) away
        assert [body["event"] for body in bodies(http, "/hook")][-1] == "recovered"
        assert pd_actions(http)[-1] == ("resolve", "mogulsync/events")
        assert [action for action, _key in pd_actions(http)] == ["trigger", "trigger", "resolve"]
    finally:
        call(admin, "DELETE", "/faults")
        await f.aclose()


async def test_events_dead_lettered_before_the_first_look_still_alert(
    default_rule: Forwarding, http: HttpReceiver
) -> None:
    """First start with a refused event already queued: the forwarder's first round
    dead-letters it before the watch ever looked; primed before that round, it alerts."""
    f = default_rule
    await f.send(REFUSED)
    f.watch.prime()  # what running_events does before starting the forwarder
    await f.forwarder.run_once()
    assert f.queue.count("dead") == 1
    await f.minutes(1)
    assert [body["event"] for body in bodies(http, "/hook")] == ["dead_letters"]


async def test_a_revoked_api_key_alerts_once_its_retries_run_out_without_quoting_the_key(
    tmp_path: Path,
    emulator_server: EmulatorServer,
    http: HttpReceiver,
    smtp: SmtpReceiver,
    clock: Clock,
) -> None:
    """ChartMogul refuses the key (401): events wait with backoff, then (max_attempts 8,
    about 10 minutes) become dead letters; the alert quotes the refusal, the key masked."""
    revoked = "revoked-api-key-0123456789"
    config = project(tmp_path, emulator_server, http, smtp, api_key=revoked)
    f = Forwarding(config, clock)
    try:
        await f.minutes(1)
        await f.send(GOOD)
        await f.minutes(5)
        assert (f.queue.count("pending"), http.posts) == (1, [])  # retrying, quiet
        await f.minutes(15)
        [alert] = bodies(http, "/hook")
        assert alert["event"] == "dead_letters"
        assert "gave up after 8 attempts" in alert["message"]
        assert "The ChartMogul API key was rejected" in alert["message"]
        assert revoked not in everything_sent(http, smtp)
    finally:
        await f.aclose()


async def test_replaying_old_dead_letters_is_not_a_stuck_backlog(
    tmp_path: Path,
    emulator_server: EmulatorServer,
    http: HttpReceiver,
    smtp: SmtpReceiver,
    clock: Clock,
) -> None:
    """The fix the dead-letters alert asks for (replay) puts events received hours ago back
    in the queue: a look while the forwarder drains them is no stuck backlog (their age
    counts from the replay); still pending `backlog_age` after the replay, it is one."""
    rules = [{"syncs": [], "channels": ["hook"],
              "events": {"backlog_age": "1h", "dead_letters": None}}]  # fmt: skip
    config = project(tmp_path, emulator_server, http, smtp, rules=rules)
    f = Forwarding(config, clock)
    try:
        await f.minutes(1)
        await f.send(REFUSED, REFUSED)
        await f.minutes(1)
        assert f.queue.count("dead") == 2
        await f.minutes(180)  # the cause is found and fixed three hours later
        assert f.queue.replay(now=clock()) == 2
        clock.advance(WATCH_INTERVAL_S)  # the forwarder is still busy: a look first
        assert await f.watch.look_if_due() == []
        assert f.queue.count("pending") == 2
        clock.advance(HOUR)  # an hour after the replay and still pending: stuck
        made = await f.watch.look_if_due()
        assert [d.trigger for d in made or []] == ["backlog"]
        [alert] = bodies(http, "/hook")
        assert "the oldest pending event is 1h 01m old" in alert["title"]
    finally:
        await f.aclose()


class _HeldFirstRead:
    """The queue file as a second process's alerts see it, whose read of the episode state
    is held until the test lets it go (two looks at once, deterministically)."""

    def __init__(self, queue: EventQueue) -> None:
        self.queue = queue
        self.reached = threading.Event()
        self.go = threading.Event()

    def meta(self, key: str) -> str | None:
        value = self.queue.meta(key)
        self.reached.set()
        self.go.wait(timeout=60)  # a guard against a hung test: the test releases it
        return value

    def set_meta(self, key: str, value: str) -> None:
        self.queue.set_meta(key, value)

    def replace_meta(self, key: str, expected: str | None, value: str) -> bool:
        return self.queue.replace_meta(key, expected, value)


async def test_two_processes_looking_at_one_queue_file_alert_once(
    tmp_path: Path,
    emulator_server: EmulatorServer,
    http: HttpReceiver,
    smtp: SmtpReceiver,
    clock: Clock,
) -> None:
    """`events serve` and `serve` on one project share the queue file and its episode
    state; both look every minute. When their looks overlap, the one whose state changed
    under it stands down: the dead letters alert once, not once per process."""
    rules = [{"syncs": [], "channels": ["hook"], "events": True}]
    config = project(tmp_path, emulator_server, http, smtp, rules=rules)
    f = Forwarding(config, clock)
    other_queue = EventQueue(f.path)
    try:
        await f.minutes(1)
        await f.send(REFUSED)
        await f.forwarder.run_once()
        assert f.queue.count("dead") == 1
        snap = snapshot(f.queue, clock())
        other = EventsAlerter(config.alerts, redactor_for(config))
        held = _HeldFirstRead(other_queue)
        late = asyncio.create_task(other.look(snap, held))
        assert await asyncio.to_thread(held.reached.wait, 60)
        first = await f.watch.alerter.look(snap, f.queue)
        held.go.set()
        second = await late
        assert ([d.trigger for d in first], second) == (["dead_letters"], [])
        assert [body["event"] for body in bodies(http, "/hook")] == ["dead_letters"]
    finally:
        other_queue.close()
        await f.aclose()


async def test_the_forwarders_webhook_token_is_masked_where_a_reply_quotes_only_its_path(
    tmp_path: Path, emulator_server: EmulatorServer, http: HttpReceiver, clock: Clock
) -> None:
    """With webhook delivery the URL's path is the source's secret; a refusal's body often
    quotes the path alone (not the whole URL): the alert sent to every channel masks it,
    as the channels' own webhook paths are masked."""
    token = "src-7f3a9c2e5b1d4f60-secret"
    raw = {
        "chartmogul": {"api_key": "${CM_KEY}", "base_url": emulator_server.base_url},
        "state_dir": str(tmp_path / "state"),
        "events": {
            "write_keys": ["${WRITE_KEY}"],
            "delivery": "webhook",
            "webhook_url": "${EVENTS_HOOK}",
            "contacts_without_company": "own_customer",
        },
        "alerts": {
            "channels": {"hook": {"type": "webhook", "url": "${HOOK_URL}"}},
            "rules": [{"syncs": [], "events": True}],
        },
    }
    env = {
        "CM_KEY": emulator_server.api_key,
        "WRITE_KEY": WRITE_KEY,
        "EVENTS_HOOK": f"{http.url}/segment/{token}",
        "HOOK_URL": f"{http.url}/hook",
    }
    f = Forwarding(parse_config(raw, env=env), clock)
    try:
        await f.minutes(1)
        await f.send(GOOD)
        [event] = f.queue.pending(1)
        reason = f"WebhookError: webhook answered 404: no source at /segment/{token}"
        f.queue.record([Outcome(event.seq, "dead", reason, 1)])
        await f.minutes(1)
        [alert] = bodies(http, "/hook")
        assert "no source at ***" in alert["message"]
        assert token not in repr(alert)
    finally:
        await f.aclose()


async def test_pagerduty_stays_open_while_another_rule_paging_it_is_still_in_an_episode(
    tmp_path: Path,
    emulator_server: EmulatorServer,
    http: HttpReceiver,
    smtp: SmtpReceiver,
    clock: Clock,
) -> None:
    """Two rules page the same PagerDuty service (one `dedup_key`, `mogulsync/events`): a
    fast one (15-minute window) and the default one (1 hour). The fast one's recovery is
    no resolve while the default one's episode goes on; its recovery resolves."""
    rules = [
        {"syncs": [], "channels": ["hook", "oncall"], "events": {"window": "15m"}},
        {"syncs": [], "channels": ["hook", "oncall"], "events": True},
    ]
    config = project(tmp_path, emulator_server, http, smtp, rules=rules)
    f = Forwarding(config, clock)
    try:
        await f.minutes(1)
        await f.send(REFUSED)
        await f.minutes(1)
        assert [action for action, _key in pd_actions(http)] == ["trigger", "trigger"]
        await f.minutes(16)  # the fast rule recovers; the default one still counts it
        assert [body["event"] for body in bodies(http, "/hook")][-1] == "recovered"
        assert [action for action, _key in pd_actions(http)] == ["trigger", "trigger"]
        await f.minutes(45)  # an hour after the dead letter: the default rule recovers
        assert pd_actions(http)[-1] == ("resolve", "mogulsync/events")
        assert [action for action, _key in pd_actions(http)] == ["trigger", "trigger", "resolve"]
    finally:
        await f.aclose()


async def test_a_channel_two_rules_watch_the_forwarder_for_hears_each_alert_once(
    tmp_path: Path,
    emulator_server: EmulatorServer,
    http: HttpReceiver,
    smtp: SmtpReceiver,
    clock: Clock,
) -> None:
    """operations.md's on_success recipe: `{}` plus `{channels: [team], on_success: true}`.
    Both rules are `syncs: all`, so both watch the forwarder with the default thresholds:
    the team channel would hear every events alert twice (one per rule)."""
    rules = [{}, {"channels": ["hook"], "on_success": True}]
    config = project(tmp_path, emulator_server, http, smtp, rules=rules)
    f = Forwarding(config, clock)
    try:
        await f.minutes(1)
        await f.send(REFUSED)
        await f.minutes(1)
        assert [body["event"] for body in bodies(http, "/hook")] == ["dead_letters"]
        await f.minutes(61)
        assert [body["event"] for body in bodies(http, "/hook")] == ["dead_letters", "recovered"]
        assert len(smtp.messages) == 2  # the other channels heard once too
    finally:
        await f.aclose()

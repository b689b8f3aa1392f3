"""Events-forwarder alert rules: the ``events`` key, episodes, windows and messages."""

from __future__ import annotations

import pytest

from mogulsync._redact import Redactor
from mogulsync.alerts.events_message import build_events_message
from mogulsync.alerts.events_rules import Condition, Snapshot, WatchState, step
from mogulsync.alerts.slack import slack_body
from mogulsync.alerts.sms import sms_body
from mogulsync.alerts.webhook import pagerduty_events
from mogulsync.config import ConfigValidationError, parse_config
from mogulsync.config.alerts_events import EventsAlertRule

MINUTE = 60.0
HOUR = 3600.0
T0 = 1_800_000_000.0
BASE = {"chartmogul": {"api_key": "${K}"}}


def _rules(*rules: dict) -> dict:
    return {**BASE, "alerts": {"rules": list(rules)}}


def _problems(raw: dict) -> list[str]:
    with pytest.raises(ConfigValidationError) as caught:
        parse_config(raw, env={"K": "k"})
    return caught.value.problems


def test_a_rule_of_all_syncs_watches_the_forwarder_a_rule_of_listed_syncs_only_if_told() -> None:
    """As for the extract: no `rules:`, or a rule of `syncs: all`, alerts on dead letters and
    a backlog older than 1h; a rule listing syncs leaves the forwarder alone unless it says
    `events: true` or gives thresholds; `events: false` turns it off."""

    def watches(rule: dict) -> list[EventsAlertRule | None]:
        return [r.events_watch for r in parse_config(_rules(rule), env={"K": "k"}).alerts.rules]

    default = parse_config(BASE, env={"K": "k"}).alerts.rules
    assert [rule.events_watch for rule in default] == [EventsAlertRule()]
    assert (EventsAlertRule().dead_letters, EventsAlertRule().backlog_age) == (1, "1h")
    assert watches({"failed_rows": {"count": 1}}) == [EventsAlertRule()]
    assert watches({"syncs": [], "events": False}) == [None]
    assert watches({"syncs": "all", "events": False}) == [None]
    assert watches({"syncs": []}) == [None]
    assert watches({"syncs": [], "events": True}) == [EventsAlertRule()]
    [custom] = watches(
        {"syncs": [], "events": {"dead_letters": 5, "window": "15m", "backlog_age": None}}
    )
    assert custom is not None
    assert (custom.dead_letters, custom.window_s, custom.backlog_age_s) == (5, 900.0, None)


@pytest.mark.parametrize(
    ("events", "expected"),
    [
        ({"dead_leters": 3}, "alerts.rules.0.events.dead_leters: unknown key; did you mean `dead_letters`?"),
        ("maybe", "alerts.rules.0.events: Input should be a valid boolean"),
        ({"backlog_age": "1 hour"}, "alerts.rules.0.events.backlog_age: `1 hour` is not a duration: write e.g. 30s, 15m, 1h or 1d"),
        ({"repeat": "2x"}, "alerts.rules.0.events.repeat: `2x` is not a duration"),
        ({"repeat": "1s"}, "alerts.rules.0.events.repeat: `1s` is shorter than 5m: the alerts look at the queue every minute, so this would send a reminder at every look; write 5m or more"),
        ({"repeat": "299s"}, "alerts.rules.0.events.repeat: `299s` is shorter than 5m"),
        ({"dead_letters": 0}, "alerts.rules.0.events.dead_letters: Input should be greater than or equal to 1"),
        ({"dead_letters": None, "backlog_age": None}, "give `dead_letters`, `backlog_age` or both (or drop `events`)"),
    ],
)  # fmt: skip
def test_bad_events_rules_name_the_key_and_the_fix(events: dict, expected: str) -> None:
    [problem] = _problems(_rules({"events": events}))
    assert expected in problem


def test_a_repeat_of_five_minutes_is_the_shortest_taken() -> None:
    raw = _rules({"events": {"repeat": "5m"}})
    [rule] = parse_config(raw, env={"K": "k"}).alerts.rules
    assert rule.events_watch is not None
    assert rule.events_watch.repeat_s == 300.0


def test_a_misspelt_events_key_gets_a_suggestion() -> None:
    assert _problems(_rules({"event": {}})) == [
        "alerts.rules.0.event: unknown key; did you mean `events`?"
    ]


def _snap(now: float, dead: int = 0, **kw: object) -> Snapshot:
    return Snapshot(now=now, dead_total=dead, **kw)  # type: ignore[arg-type]


def test_dead_letters_count_within_the_window_and_an_episode_alerts_once() -> None:
    """At least N dead letters in the window open an episode; it stays quiet while it
    lasts (until `repeat`), and closes with one recovery once the window has none."""
    rule = EventsAlertRule(dead_letters=2, window="1h", backlog_age=None, repeat="6h")
    state = WatchState()
    kinds = []
    # (minute, total dead-lettered so far)
    looks = [
        (0, 10),
        (1, 11),
        (30, 11),
        (70, 12),
        (71, 13),
        (72, 20),
        (100, 20),
        (131, 20),
        (133, 20),
    ]
    for minute, total in looks:
        notices = step(rule, state, _snap(T0 + minute * MINUTE, total))
        kinds.append([(n.kind, int(n.amount)) for n in notices])
    # 10 before the first look do not count; 11 alone is one (under 2); 12 and 13 are two
    # within the hour (the one at minute 1 fell out): the episode opens; 20 keeps it open
    assert kinds == [[], [], [], [], [("problem", 2)], [], [], [], [("recovered", 0)]]
    assert state.open_conditions() == []


def test_reminders_come_at_most_every_repeat_and_a_clock_stepped_back_does_not_storm() -> None:
    rule = EventsAlertRule(dead_letters=None, backlog_age="30m", repeat="2h")
    state = WatchState()
    stuck_since = T0
    sent = []
    for minute in range(0, 300, 1):
        now = T0 + minute * MINUTE
        notices = step(rule, state, _snap(now, oldest_pending_at=stuck_since, pending=3))
        sent += [(minute, n.kind) for n in notices]
    assert sent == [(30, "problem"), (150, "reminder"), (270, "reminder")]
    # the clock steps back an hour: still stuck, nothing new to say
    back = T0 + 200 * MINUTE
    assert step(rule, state, _snap(back, oldest_pending_at=stuck_since)) == []
    [recovered] = step(rule, state, _snap(back + MINUTE))
    assert (recovered.condition, recovered.kind) == (Condition.BACKLOG, "recovered")


def test_the_state_round_trips_through_json_and_survives_garbage() -> None:
    rule = EventsAlertRule(dead_letters=1)
    state = WatchState()
    step(rule, state, _snap(T0, 0))
    step(rule, state, _snap(T0 + MINUTE, 1))
    again = WatchState.from_json(state.to_json())
    assert again == state
    assert again.open_conditions() == ["dead_letters"]
    assert WatchState.from_json("{not json") == WatchState()
    assert WatchState.from_json('{"episodes": {"x": 1}}') == WatchState()


def test_a_recovery_while_another_condition_is_open_says_so() -> None:
    rule = EventsAlertRule(dead_letters=1, window="1h", backlog_age="30m")
    state = WatchState()
    step(rule, state, _snap(T0, 0))
    opened = step(rule, state, _snap(T0 + HOUR, 1, oldest_pending_at=T0))
    assert sorted(n.condition.value for n in opened) == ["backlog", "dead_letters"]
    [recovered] = step(rule, state, _snap(T0 + 2.1 * HOUR, 1, oldest_pending_at=T0))
    assert (recovered.condition, recovered.kind, recovered.others_open) == (
        Condition.DEAD_LETTERS,
        "recovered",
        True,
    )


def test_messages_quote_redacted_reasons_and_the_fix_on_every_channel_format() -> None:
    secret = "sk_live_abcdef123456"
    rule = EventsAlertRule(dead_letters=1)
    state = WatchState()
    step(rule, state, _snap(T0, 0))
    snap = _snap(
        T0 + MINUTE,
        3,
        dead_waiting=3,
        dead_reasons=((f"ChartMogul said no to {secret}", 2), ("gave up after 8 attempts", 1)),
    )
    [notice] = step(rule, state, snap)
    message = build_events_message(notice, rule, snap, Redactor([secret]))
    text = message.text()
    assert message.title == (
        "mogulsync: events: 3 events dead-lettered in the last 1h (not delivered to ChartMogul)"
    )
    assert "[2] ChartMogul said no to ***" in text
    assert "mogulsync events dead-letter replay" in text
    for rendered in (text, repr(slack_body(message)), sms_body(message), repr(message.as_dict())):
        assert secret not in rendered
    [trigger] = pagerduty_events(message, "rk", "error")
    assert (trigger["event_action"], trigger["dedup_key"]) == ("trigger", "mogulsync/events")


def test_an_episode_is_kept_under_the_rules_events_watch_and_channels_only() -> None:
    """The episode state's key changes when the rule's forwarder thresholds or channels do
    (docs/operations.md: "starts its episodes afresh"), not when its sync triggers do, nor
    when a later version adds a rule key (every open episode, PagerDuty's incident among
    them, would be left open forever and announced again under a new key)."""
    from mogulsync.alerts.events_dispatch import state_key

    def key(rule: dict) -> str:
        [parsed] = parse_config(_rules(rule), env={"K": "k"}).alerts.rules
        return state_key(parsed)

    base = key({"syncs": [], "events": True})
    assert key({"syncs": [], "on_failure": False, "events": {}}) == base
    assert key({"syncs": [], "events": True, "failed_rows": {"count": 5}}) == base
    assert key({"syncs": "all"}) == base  # the default thresholds, every channel
    assert key({"syncs": [], "events": {"dead_letters": 5}}) != base
    assert key({"syncs": [], "events": True, "channels": []}) != base
    # pinned: what the key is made of stays put across versions
    assert base == "alerts.events.ab1fdf391307"

"""Undelivered events alerts: which are kept, when they are due, when they are dropped."""

from __future__ import annotations

import json

from mogulsync.alerts.events_retry import (
    GIVE_UP_S,
    RETRY_MAX_S,
    Outbox,
    Undelivered,
    backoff_s,
    failed,
)
from mogulsync.alerts.events_rules import WatchState

MINUTE = 60.0
T0 = 1_800_000_000.0


def alert(
    kind: str, at: float = T0, channel: str = "hook", condition: str = "dead_letters"
) -> Undelivered:
    return Undelivered(
        channel,
        condition,
        kind,
        {"headline": f"{kind} at {at}"},
        found_at=at,
        opens=kind == "problem",
        next_at=at,
    )


def kinds(outbox: Outbox) -> list[tuple[str, str, str]]:
    return [(item.channel, item.condition, item.kind) for item in outbox.items]


def test_back_off_doubles_from_a_minute_to_half_an_hour() -> None:
    assert [backoff_s(n) / MINUTE for n in range(1, 9)] == [1, 2, 4, 8, 16, 30, 30, 30]


def test_newer_news_replaces_what_waits_but_a_recovery_waits_behind_an_unheard_opening() -> None:
    box = Outbox()
    box.add(alert("problem"))
    box.add(alert("problem", channel="slack"))
    box.add(alert("problem", condition="backlog"))
    box.add(alert("reminder", T0 + 60 * MINUTE))  # replaces the problem, and stands in for it
    assert kinds(box) == [
        ("slack", "dead_letters", "problem"),
        ("hook", "backlog", "problem"),
        ("hook", "dead_letters", "reminder"),
    ]
    box.add(alert("recovered", T0 + 90 * MINUTE))  # the channel never heard the episode
    assert kinds(box)[-2:] == [
        ("hook", "dead_letters", "reminder"),
        ("hook", "dead_letters", "recovered"),
    ]
    heard = Outbox([alert("reminder")])  # the problem was delivered: the reminder is stale
    heard.add(alert("recovered", T0 + MINUTE))
    assert kinds(heard) == [("hook", "dead_letters", "recovered")]
    box.add(alert("problem", T0 + 120 * MINUTE))  # a new episode: only it is news
    assert kinds(box)[-1:] == [("hook", "dead_letters", "problem")]
    assert len(box.items) == 3


def test_a_line_is_due_as_a_whole_when_its_first_is_and_news_makes_it_due_at_once() -> None:
    box = Outbox()
    head = failed(alert("problem"), T0)
    assert head is not None
    box.add(head)
    assert box.take_due(T0 + 30) == []
    box.add(alert("recovered", T0 + 30))  # news: the line is tried now, in order
    assert [item.kind for item in box.take_due(T0 + 30)] == ["problem", "recovered"]
    assert box.items == []


def test_put_back_returns_older_alerts_ahead_of_those_found_meanwhile() -> None:
    box = Outbox([alert("problem", channel="slack")])
    box.put_back([alert("problem"), alert("recovered", T0 + MINUTE)])
    assert kinds(box) == [
        ("hook", "dead_letters", "problem"),
        ("hook", "dead_letters", "recovered"),
        ("slack", "dead_letters", "problem"),
    ]
    newer = Outbox([alert("problem", T0 + 9 * MINUTE)])  # another look found a new episode
    newer.put_back([alert("reminder")])
    assert [item.found_at for item in newer.items] == [T0 + 9 * MINUTE]


def test_a_channel_down_for_two_days_is_tried_a_bounded_number_of_times_then_given_up() -> None:
    """One look a minute, every attempt failing: a few attempts an hour, none after a day."""
    box = Outbox([alert("problem")])
    tried: list[float] = []
    now = T0
    while now < T0 + 2 * GIVE_UP_S:
        for item in box.take_due(now):
            tried.append(now)
            kept = failed(item, now)
            if kept is not None:
                box.put_back([kept])
        now += MINUTE
    first_hour = [at for at in tried if at < T0 + 3600]
    assert [(at - T0) / MINUTE for at in first_hour] == [0, 1, 3, 7, 15, 31]
    assert max(tried) - T0 <= GIVE_UP_S
    assert len(tried) <= 6 + GIVE_UP_S / RETRY_MAX_S
    assert box.items == []


def test_the_outbox_round_trips_through_the_state_and_a_garbled_item_is_dropped_alone() -> None:
    state = WatchState(samples=[[T0, 1.0]])
    state.outbox.add(alert("problem"))
    text = state.to_json()
    assert WatchState.from_json(text) == state
    raw = json.loads(text)
    raw["outbox"]["items"].append({"channel": "hook"})
    again = WatchState.from_json(json.dumps(raw))
    assert (again.samples, again.outbox) == (state.samples, state.outbox)
    assert WatchState.from_json('{"samples": []}').outbox == Outbox()

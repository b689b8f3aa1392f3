"""Segment's Integrations object decides whether an event goes to ChartMogul."""

from __future__ import annotations

from typing import Any

import pytest

from mogulsync.events.filtering import integrations_block
from mogulsync.events.mappings import DEFAULT_MAPPINGS, plan_event

IDENTIFY = {
    "messageId": "m-1",
    "timestamp": "2021-02-01T00:00:00.000Z",
    "sentAt": "2021-02-01T00:00:00.000Z",
    "type": "identify",
    "userId": "u-1",
    "traits": {"email": "ada@acme.io"},
}


@pytest.mark.parametrize(
    ("integrations", "delivered"),
    [
        (None, True),
        ({}, True),
        ({"All": True}, True),
        ({"Mixpanel": False}, True),
        ({"ChartMogul": False}, False),
        ({"Chart Mogul": False}, False),
        ({"All": True, "ChartMogul": False}, False),
        ({"All": False}, False),
        ({"All": False, "Mixpanel": True}, False),
        ({"All": False, "ChartMogul": True}, True),
        ({"All": False, "Chart Mogul": True}, True),
        ({"All": False, "ChartMogul": {"some_option": 1}}, True),  # options mean "on"
        ({"ChartMogul": True, "Chart Mogul": False}, False),  # disagreeing: off wins
        ({"chartmogul": False}, True),  # flags are case-sensitive, as Segment's
        ({"ChartMogul": None}, True),  # decides nothing
        ({"All": False, "ChartMogul": "yes"}, False),  # a string decides nothing either
        ("not an object", True),
    ],
)
def test_flags_follow_segments_rules(integrations: Any, *, delivered: bool) -> None:
    """A flag under ChartMogul's names decides, else `All`; only booleans and objects count."""
    message = {**IDENTIFY, "integrations": integrations}
    assert (integrations_block(message) is None) is delivered


def test_a_turned_off_event_is_skipped_with_the_flag_named() -> None:
    """The plan skips the event before any mapping runs, naming the flag that did it."""
    plan = plan_event({**IDENTIFY, "integrations": {"ChartMogul": False}}, DEFAULT_MAPPINGS)
    assert plan.actions == ()
    assert plan.rejection is None
    assert plan.skipped == "The integrations object turns ChartMogul off ('ChartMogul': false)."


def test_all_false_names_how_to_turn_chartmogul_back_on() -> None:
    """`All: false` alone skips, and the reason says which flag would let the event through."""
    plan = plan_event({**IDENTIFY, "integrations": {"All": False}}, DEFAULT_MAPPINGS)
    assert plan.skipped is not None
    assert "'ChartMogul': true" in plan.skipped


def test_a_skipped_event_is_not_checked_against_the_destination_rules() -> None:
    """A turned-off event missing required ids is skipped, not rejected: it was never ours."""
    message = {"type": "group", "integrations": {"All": False}}
    plan = plan_event(message, DEFAULT_MAPPINGS)
    assert plan.rejection is None
    assert plan.skipped is not None

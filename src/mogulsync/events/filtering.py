"""Segment's Integrations object: whether a sender kept an event away from ChartMogul.

A Segment message may carry ``integrations`` (``{"All": false, "ChartMogul": true}``) to
choose its destinations. Segment's ChartMogul destination answers to the names
``ChartMogul`` and ``Chart Mogul`` (case-sensitive, as Segment's flags are), so an app
moving from Segment to this endpoint keeps its filtering. The rules, Segment's:

- a flag under one of our names decides: ``false`` turns the event off, ``true`` or an
  object (destination options) turns it on; if the two names disagree, ``false`` wins,
  the reading that never sends what a sender tried to hold back;
- without such a flag, ``"All": false`` turns it off; anything else leaves it on.

Other values (``null``, strings) decide nothing, so a malformed object never drops events.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: the names Segment's documentation gives the ChartMogul destination
DESTINATION_NAMES = ("ChartMogul", "Chart Mogul")
ALL = "All"


def integrations_block(message: Mapping[str, Any]) -> str | None:
    """Why the message's ``integrations`` keep it from ChartMogul, or None to deliver it."""
    integrations = message.get("integrations")
    if not isinstance(integrations, Mapping):
        return None
    flags = {
        name: integrations[name]
        for name in DESTINATION_NAMES
        if name in integrations and _decides(integrations[name])
    }
    for name, value in flags.items():
        if value is False:
            return f"The integrations object turns ChartMogul off ({name!r}: false)."
    if flags:
        return None
    if integrations.get(ALL) is False:
        return (
            "The integrations object turns every destination off ('All': false) and does not"
            " turn ChartMogul on ('ChartMogul': true)."
        )
    return None


def _decides(value: Any) -> bool:
    """A flag that says on or off: a boolean, or an object of destination options."""
    return isinstance(value, bool | Mapping)

"""``alerts.rules[].events`` — when the events forwarder alerts: dead letters, a stuck backlog.

Durations are written like schedules (``30s``, ``15m``, ``1h``, ``1d``). A rule without
an ``events`` key does not watch the forwarder, except the default rule (no ``rules:``),
which watches it with these defaults.
"""

from __future__ import annotations

import datetime as dt
from typing import Self

from pydantic import Field, field_validator, model_validator

from mogulsync.config._base import ConfigModel
from mogulsync.config.serve import parse_duration

DEFAULT_WINDOW = "1h"
DEFAULT_BACKLOG_AGE = "1h"
DEFAULT_REPEAT = "6h"
#: the shortest ``repeat``: the alerts look every minute, so a shorter one (``1s``, ``1m``)
#: would be a reminder at every look, which drowns the channel rather than reminds it; five
#: looks between reminders is still a page every few minutes for those who want one
MIN_REPEAT = "5m"


def _duration(value: str | None) -> str | None:
    if value is not None:
        parse_duration(value)
    return value


class EventsAlertRule(ConfigModel):
    """Alert on new dead letters and on pending events older than a threshold."""

    dead_letters: int | None = Field(
        default=1,
        ge=1,
        description="alert when at least this many events dead-letter within `window`",
    )
    window: str = Field(default=DEFAULT_WINDOW, description="how far back dead letters are counted")
    backlog_age: str | None = Field(
        default=DEFAULT_BACKLOG_AGE, description="alert when the oldest pending event is this old"
    )
    repeat: str = Field(
        default=DEFAULT_REPEAT, description="while a condition lasts, remind at most this often"
    )

    _window_parses = field_validator("window", "backlog_age", "repeat")(_duration)

    @field_validator("repeat")
    @classmethod
    def _repeat_not_too_short(cls, value: str) -> str:
        if parse_duration(value) < parse_duration(MIN_REPEAT):
            raise ValueError(
                f"`{value}` is shorter than {MIN_REPEAT}: the alerts look at the queue every"
                f" minute, so this would send a reminder at every look; write {MIN_REPEAT} or"
                " more (the default is 6h)"
            )
        return value

    @model_validator(mode="after")
    def _watches_something(self) -> Self:
        if self.dead_letters is None and self.backlog_age is None:
            raise ValueError("give `dead_letters`, `backlog_age` or both (or drop `events`)")
        return self

    @property
    def window_s(self) -> float:
        """``window`` in seconds."""
        return _seconds(self.window)

    @property
    def backlog_age_s(self) -> float | None:
        """``backlog_age`` in seconds (None: not watched)."""
        return None if self.backlog_age is None else _seconds(self.backlog_age)

    @property
    def repeat_s(self) -> float:
        """``repeat`` in seconds."""
        return _seconds(self.repeat)


def _seconds(text: str) -> float:
    return parse_duration(text) / dt.timedelta(seconds=1)

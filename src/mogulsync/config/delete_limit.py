"""``max_deletes``: how many records one run of an ``on_delete: delete`` sync may delete.

An emptied or broken model reads like every record left it; the limit turns that into a
refused run instead of a mass delete (docs/sync.md, "Mass-delete safeguard").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Annotated, Any

from pydantic import PlainSerializer, PlainValidator

_PERCENT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*%\s*$")
#: spellings that turn the safeguard off
_OFF = frozenset({"none", "null"})
#: the default's own spelling: what a dumped project file holds, so it loads back the same
DEFAULT_SPELLING = "default"
_FIX = (
    'give a number of records (e.g. 100), a percentage (e.g. "20%"), null to turn it off or default'
)


@dataclass(frozen=True, slots=True)
class DeleteLimit:
    """At most ``count`` records, or ``percent`` % of the managed ones (and ``floor``)."""

    count: int | None = None
    percent: Fraction | None = None
    #: a percentage limit never refuses this many deletes or fewer
    floor: int = 0

    def allowed(self, managed: int) -> Fraction:
        """The most deletes one run may make when the sync manages ``managed`` records."""
        if self.count is not None:
            return Fraction(self.count)
        assert self.percent is not None
        return max(Fraction(self.floor), self.percent * managed / 100)

    def exceeded(self, deletes: int, managed: int) -> bool:
        """Whether ``deletes`` is more than this limit allows."""
        return deletes > self.allowed(managed)

    def within_whatever_managed(self, deletes: int) -> bool:
        """Whether ``deletes`` is allowed however many records are managed (no need to
        count them): none, at most ``count``, or at most the percentage's ``floor``."""
        if self.count is not None:
            return deletes <= self.count
        return deletes <= self.floor

    def describe(self) -> str:
        """The limit as the project file spells it (the default says what it means)."""
        if self.count is not None:
            return f"max_deletes {self.count}"
        if self.floor:
            share = _percent_text(self.percent)
            return (
                f"the default max_deletes (refused: more than {self.floor} and more than {share})"
            )
        return f'max_deletes "{_percent_text(self.percent)}"'

    def __str__(self) -> str:
        if self.count is not None:
            return str(self.count)
        return _percent_text(self.percent)


#: the default: refuse a run deleting more than half of the sync's records, unless it deletes
#: 10 or fewer (ordinary churn of a small project; a real mass delete is both)
DEFAULT_DELETE_LIMIT = DeleteLimit(percent=Fraction(50), floor=10)


def parse_delete_limit(value: Any) -> DeleteLimit | None:
    """A ``max_deletes`` value from the project file; ValueError says how to write it."""
    if isinstance(value, DeleteLimit) or value is None:
        return value
    # YAML reads `off`/`no` as false: a bool is no limit (though Python counts it an int)
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0:
            raise ValueError(f"{value} is negative: {_FIX}")
        return DeleteLimit(count=value)
    if isinstance(value, str):
        text = value.strip()
        if text.lower() in _OFF:
            return None
        if text.lower() == DEFAULT_SPELLING:
            return DEFAULT_DELETE_LIMIT
        if text.isdigit():
            return DeleteLimit(count=int(text))
        found = _PERCENT.match(text)
        if found is not None:
            percent = Fraction(found.group(1))
            if percent > 100:
                raise ValueError(f"{text!r} is more than 100%: {_FIX}")
            return DeleteLimit(percent=percent)
    shown = str(value).lower() if isinstance(value, bool) else repr(value)
    raise ValueError(f"{shown} is not a limit: {_FIX}")


def _percent_text(percent: Fraction | None) -> str:
    assert percent is not None
    number = int(percent) if percent.denominator == 1 else float(percent)
    return f"{number}%"


def _spelled(limit: DeleteLimit | None) -> str | None:
    """The dumped form, which :func:`parse_delete_limit` reads back as the same limit."""
    if limit is None:
        return None
    return DEFAULT_SPELLING if limit == DEFAULT_DELETE_LIMIT else str(limit)


#: the field type: parsed from an int, "20%", default or null; dumped as it is spelled, so
#: that a dumped project loads back the same
MaxDeletes = Annotated[
    DeleteLimit | None,
    PlainValidator(parse_delete_limit),
    PlainSerializer(_spelled),
]

"""What of a desired update ChartMogul does not have yet (for in-flight events).

After a crash, an event still marked in flight may or may not have reached ChartMogul.
Its delivery reads the record and writes only the values that differ. The comparison errs
towards "different": a value we cannot prove equal is written again, which is harmless
(every write is an upsert of absolute values), while a value wrongly judged equal would
be lost.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from mogulsync.events.schema import parse_time


def same(current: Any, desired: Any) -> bool:
    """Whether ChartMogul's ``current`` value already is ``desired``."""
    if current is None or desired is None:
        return current is desired
    if isinstance(desired, bool) or isinstance(current, bool):
        return current is desired
    if isinstance(desired, int | float) and isinstance(current, int | float):
        return float(current) == float(desired)
    current_time = _as_time(current)
    desired_time = _as_time(desired)
    if current_time is not None and desired_time is not None:
        return current_time == desired_time
    return isinstance(current, str) and isinstance(desired, str) and current == desired


def _as_time(value: Any) -> dt.datetime | None:
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    return parse_time(value) if isinstance(value, str) and len(value) > len("2000-01-01") else None


def changes(current: Mapping[str, Any], desired: Mapping[str, Any]) -> dict[str, Any]:
    """The desired values that ``current`` does not hold yet."""
    return {key: value for key, value in desired.items() if not same(current.get(key), value)}

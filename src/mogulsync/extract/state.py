"""What the fetch side and the load side of a run share: a stream's stored state, how a
cursor value reads as a moment, and the column that marks a deleted record.

Kept free of the client and of dlt: the load side imports it in the loader process
(``loader_process.py``), where neither is wanted.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

#: marks a record that is a deletion (the destination drops the row of that key)
DELETED_COLUMN = "_mogulsync_deleted"


@dataclass(frozen=True, slots=True)
class StreamState:
    """Where an incremental stream stopped: its cursor and the ids read at that cursor.

    The next run asks the API from ``cursor`` on (inclusive, so nothing dated at the
    boundary is missed) and drops the records in ``seen`` that it already has.
    """

    cursor: str
    seen: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """The JSON form kept in dlt's state and in Airbyte STATE messages."""
        return {"cursor": self.cursor, "seen": list(self.seen)}

    @classmethod
    def from_dict(cls, raw: object) -> StreamState | None:
        """Read a stored state; anything unreadable means "no state"."""
        if not isinstance(raw, Mapping):
            return None
        cursor = raw.get("cursor")
        seen = raw.get("seen") or []
        if not isinstance(cursor, str) or not isinstance(seen, list):
            return None
        return cls(cursor, tuple(str(item) for item in seen))


def as_datetime(value: object) -> dt.datetime | None:
    """A record's cursor value (a ``datetime`` or an ISO 8601 string) as aware UTC."""
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            return None
    if not isinstance(value, dt.datetime):
        return None
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)

"""Cursor bookkeeping for incremental streams (activities by date, events by update time).

A stream asks the API from the stored cursor on, inclusive, so records dated exactly at
the boundary are never skipped; the ids already read at that cursor are dropped here.
The new state is the highest cursor value read and the ids read at it. The caller stores
it only once the destination has committed the records (see ``runner.py``).
"""

from __future__ import annotations

import datetime as dt

from mogulsync.extract.context import StreamState
from mogulsync.extract.records import Record


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


class CursorFilter:
    """Drops records already read and tracks the state to store after this run."""

    def __init__(self, state: StreamState | None, cursor_field: str, id_field: str) -> None:
        self.cursor_field = cursor_field
        self.id_field = id_field
        self._start = as_datetime(state.cursor) if state else None
        self._seen = set(state.seen) if state else set()
        self._emitted: set[str] = set()
        self._max: dt.datetime | None = self._start
        self._at_max: set[str] = set(self._seen)

    @property
    def start(self) -> dt.datetime | None:
        """Where the API should start reading (inclusive), or None for everything."""
        return self._start

    def keep(self, record: Record) -> Record | None:
        """The record if it is new in this run and after the stored state, else None."""
        ident = str(record.get(self.id_field))
        if ident in self._emitted:
            return None  # overlapping partitions (e.g. inclusive window ends)
        moment = as_datetime(record.get(self.cursor_field))
        if self._already_read(moment, ident):
            return None
        self._emitted.add(ident)
        self._track(moment, ident)
        return record

    def _already_read(self, moment: dt.datetime | None, ident: str) -> bool:
        if moment is None or self._start is None:
            return False
        return moment < self._start or (moment == self._start and ident in self._seen)

    def _track(self, moment: dt.datetime | None, ident: str) -> None:
        if moment is None:
            return
        if self._max is None or moment > self._max:
            self._max = moment
            self._at_max = {ident}
        elif moment == self._max:
            self._at_max.add(ident)

    def next_state(self) -> StreamState | None:
        """The state after every kept record (the old one when nothing new came)."""
        if self._max is None:
            return None
        return StreamState(self._max.isoformat(), tuple(sorted(self._at_max)))

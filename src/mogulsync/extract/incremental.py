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


class Newest:
    """The newest cursor value seen and the ids read at it."""

    def __init__(self, state: StreamState | None = None) -> None:
        self.moment: dt.datetime | None = as_datetime(state.cursor) if state else None
        self.ids: set[str] = set(state.seen) if state else set()

    def track(self, moment: dt.datetime | None, ident: str) -> None:
        """Note one record's cursor value and id."""
        if moment is None:
            return
        if self.moment is None or moment > self.moment:
            self.moment = moment
            self.ids = {ident}
        elif moment == self.moment:
            self.ids.add(ident)

    def state(self) -> StreamState | None:
        """The state to continue after every record tracked (None: nothing tracked)."""
        if self.moment is None:
            return None
        return StreamState(self.moment.isoformat(), tuple(sorted(self.ids)))


class CursorFilter:
    """Drops records already read and tracks the state to store after this run."""

    def __init__(self, state: StreamState | None, cursor_field: str, id_field: str) -> None:
        self.cursor_field = cursor_field
        self.id_field = id_field
        self._start = as_datetime(state.cursor) if state else None
        self._seen = set(state.seen) if state else set()
        self._emitted: set[str] = set()
        self._newest = Newest(state)

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
        self._newest.track(moment, ident)
        return record

    def _already_read(self, moment: dt.datetime | None, ident: str) -> bool:
        if moment is None or self._start is None:
            return False
        return moment < self._start or (moment == self._start and ident in self._seen)

    def next_state(self) -> StreamState | None:
        """The state after every kept record (the old one when nothing new came)."""
        return self._newest.state()

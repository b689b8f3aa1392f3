"""Cursor bookkeeping for incremental streams (activities by date, events by update time).

The state is the newest cursor value read and, for every record of the cursor's *bucket*,
its id and a digest of its content (``id=digest``). The bucket is what ChartMogul may
still change without moving the record past the cursor:

- activities: the cursor's whole UTC day. ChartMogul computes MRR movements per day, so a
  later change the same day (a second subscription, a cancellation) rewrites or removes
  an activity already read, at the same date;
- subscription events: the cursor's second (``updated_at`` has no finer resolution), so
  an edit in the same second as the read keeps the same ``updated_at``.

A run asks the API from the bucket's start on and drops a record of the bucket only when
its digest is unchanged; a record of the bucket that is no longer listed was deleted
(:meth:`CursorFilter.vanished`). When records changed while the listing ran, the state
starts where it began instead (:meth:`CursorFilter.next_state`). States written before
digests existed (bare ids, read at the cursor itself) are still honoured: their records
are dropped as before.
The caller stores the new state only once the destination has committed the records
(see ``runner.py``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from collections.abc import Callable, Mapping
from typing import Any

from mogulsync.extract.records import Record
from mogulsync.extract.state import StreamState, as_datetime

logger = logging.getLogger(__name__)

#: a moment -> the start of the bucket it falls in
Bucket = Callable[[dt.datetime], dt.datetime]
_DIGEST_CHARS = 16
#: a bucket holding more records than this keeps their digests instead: a day of 100k
#: activities held ~110 MB per activity window (16 by default); digests cost CPU, so
#: the many small buckets of a read are never digested
HELD_RECORDS = 2_000
#: the most records changed during a listing whose digests a state keeps; past it the state
#: keeps the listing's start alone, and the next run loads again (never misses) every
#: record changed since (a bulk change in ChartMogul while a run read, or a listing start
#: that stays in the past, would otherwise grow the state on every run)
HELD_DURING = 10_000
#: how far ahead of this machine's clock ChartMogul's may be, for a listing's start
CLOCK_SKEW = dt.timedelta(days=1)


def same_moment(moment: dt.datetime) -> dt.datetime:
    """The bucket of subscription events: the moment itself (second resolution)."""
    return moment


def same_day(moment: dt.datetime) -> dt.datetime:
    """The bucket of activities: the moment's UTC day."""
    return dt.datetime.combine(moment.date(), dt.time(), tzinfo=dt.UTC)


def digest(record: Record) -> str:
    """A short fingerprint of a record's content (a changed field changes it)."""
    text = json.dumps(record, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:_DIGEST_CHARS]


def _split(token: str) -> tuple[str, str | None]:
    """``id=digest`` → (id, digest); a bare id (an older state) → (id, None)."""
    ident, sep, fingerprint = token.rpartition("=")
    return (ident, fingerprint) if sep else (token, None)


class Newest:
    """The newest cursor value seen and the records of its bucket (their ``id=digest``)."""

    def __init__(self, bucket: Bucket = same_moment) -> None:
        self._bucket = bucket
        self.moment: dt.datetime | None = None
        self._start: dt.datetime | None = None
        # digests are taken when a state is: most records read end up in older buckets;
        # a large bucket is digested as it is read (memory)
        self._records: dict[str, Record] = {}
        self._digests: dict[str, str] = {}

    def track(self, moment: dt.datetime | None, ident: str, record: Record) -> None:
        """Note one record's cursor value, id and content."""
        if moment is None:
            return
        start = self._bucket(moment)
        if self._start is None or start > self._start:
            self._start, self._records, self._digests = start, {}, {}
        if start == self._start:
            if self._digests or len(self._records) >= HELD_RECORDS:
                self._digests.update((key, digest(held)) for key, held in self._records.items())
                self._records = {}
                self._digests[ident] = digest(record)
            else:
                self._records[ident] = record
            if self.moment is None or moment > self.moment:
                self.moment = moment

    def state(self) -> StreamState | None:
        """The state to continue after every record tracked (None: nothing tracked)."""
        if self.moment is None:
            return None
        digests = {**self._digests, **{key: digest(held) for key, held in self._records.items()}}
        tokens = sorted(f"{ident}={fingerprint}" for ident, fingerprint in digests.items())
        return StreamState(self.moment.isoformat(), tuple(tokens))


class CursorFilter:
    """Drops records already read, unchanged, and tracks the state to store after this run."""

    def __init__(
        self,
        state: StreamState | None,
        cursor_field: str,
        id_field: str,
        bucket: Bucket = same_moment,
    ) -> None:
        self.cursor_field = cursor_field
        self.id_field = id_field
        self._bucket = bucket
        self._state = state
        self._cursor = as_datetime(state.cursor) if state else None
        self._start = bucket(self._cursor) if self._cursor else None
        self._seen: dict[str, str | None] = dict(_split(t) for t in state.seen) if state else {}
        # an older state names the ids read at the cursor itself, without digests
        self._legacy = any(fingerprint is None for fingerprint in self._seen.values())
        if self._legacy:
            self._start = self._cursor
        self._handled: set[str] = set()
        self._newest = Newest(bucket)
        #: when the earliest listing began, on ChartMogul's clock (None: unknown)
        self._since: dt.datetime | None = None
        #: id -> (cursor, digest) of the records whose cursor is at or after their
        #: listing's start: changed while it ran (digested at once: a bulk change during
        #: a run could be large)
        self._during: dict[str, tuple[dt.datetime, str]] = {}

    @property
    def start(self) -> dt.datetime | None:
        """Where the API should start reading (inclusive), or None for everything."""
        return self._start

    def listing_start(self, meta: Mapping[str, Any] | None, now: dt.datetime) -> dt.datetime | None:
        """When a listing began, from its first page's ``meta.before_key`` (ChartMogul's
        time of the request); None when the page has none, or (with a warning) when it
        cannot be that time: not a time, older than the stored cursor (a run cannot begin
        before the previous one read), or later than ``now`` (after the page came) plus
        :data:`CLOCK_SKEW`. Without it the state is the newest record's, as before
        ``before_key`` was used."""
        value = (meta or {}).get("before_key")
        if value is None:
            return None
        moment = as_datetime(value)
        if moment is None:
            why = "is not a time"
        elif self._cursor is not None and moment.replace(microsecond=0) < self._cursor:
            why = f"is older than the stored cursor {self._cursor.isoformat()}"
        elif moment > now + CLOCK_SKEW:
            why = f"is later than this machine's time ({now.isoformat()}) by over {CLOCK_SKEW}"
        else:
            return moment
        logger.warning(
            "the listing's before_key %.40r %s: ignored (the cursor is the newest updated_at"
            " read, so an event edited while this run read it may be missed until edited"
            " again)",
            value,
            why,
        )
        return None

    def listing_began(self, moment: dt.datetime) -> None:
        """A listing began at ``moment`` (ChartMogul's clock, e.g. the ``before_key`` of
        its first page): a record changed while it runs gets a cursor value from then on."""
        since = moment.replace(microsecond=0)  # cursor values have whole seconds
        self._since = since if self._since is None else min(self._since, since)

    def keep(
        self, record: Record, also: Newest | None = None, since: dt.datetime | None = None
    ) -> Record | None:
        """The record if it is new or changed since the stored state, else None.

        Every record read (kept or not, duplicates aside) is tracked for the next state,
        and in ``also`` (a window's own checkpoint); one whose cursor is at or after
        ``since`` (when its listing began) is also held, for :meth:`next_state`.
        """
        ident = str(record.get(self.id_field))
        if ident in self._handled:
            return None  # overlapping partitions (e.g. inclusive window ends)
        self._handled.add(ident)
        moment = as_datetime(record.get(self.cursor_field))
        if moment is not None and self._start is not None and moment < self._start:
            return None  # before the stored bucket (events are all read): old news
        for newest in (self._newest, also):
            if newest is not None:
                newest.track(moment, ident, record)
        if moment is not None and since is not None and moment >= since.replace(microsecond=0):
            self._during[ident] = (moment, digest(record))
        return None if self._already_read(moment, ident, record) else record

    def _already_read(self, moment: dt.datetime | None, ident: str, record: Record) -> bool:
        if moment is None or self._cursor is None or self._start is None:
            return False
        if self._legacy:
            return moment == self._cursor and ident in self._seen
        if ident not in self._seen:
            return False  # new since the stored state (earlier ones were dropped in keep)
        return digest(record) == self._seen[ident]

    @property
    def read_ids(self) -> set[str]:
        """The id of every record read so far (as text)."""
        return self._handled

    def vanished(self) -> list[str]:
        """Ids of the stored bucket that this read no longer found: deleted since.

        Only meaningful once the whole range from :attr:`start` was read.
        """
        return sorted(
            ident
            for ident, fingerprint in self._seen.items()
            if fingerprint is not None and ident not in self._handled
        )

    def next_state(self) -> StreamState | None:
        """The state after this read: its newest bucket; the stored cursor, with nothing
        left in its bucket, when nothing was read; None before any state.

        When records changed while the listing ran (their cursor is at or after its
        start), a record read before its own change may hold an older cursor value than
        the newest read: the state then starts where the listing began, with every record
        read since then, so the next run loads such a change instead of skipping it.
        """
        state = self._newest.state()
        newest, since = self._newest.moment, self._since
        if newest is not None and since is not None and newest >= since:
            tokens = sorted(
                f"{ident}={fingerprint}"
                for ident, (moment, fingerprint) in self._during.items()
                if moment >= since
            )
            if len(tokens) > HELD_DURING:
                logger.warning(
                    "%d records changed while the listing ran (over %d): the state keeps"
                    " where it began alone; the next run loads them again",
                    len(tokens),
                    HELD_DURING,
                )
                tokens = []
            return StreamState(since.isoformat(), tuple(tokens))
        if state is not None or self._state is None:
            return state
        if self._legacy:
            return self._state
        return StreamState(self._state.cursor, ())

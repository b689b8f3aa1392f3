"""The extract's first moment: a day starts at midnight UTC; an instant without a zone
(Airbyte's ``start_date`` may lack one) is read as UTC, so the same text means the same
moment on every machine."""

from __future__ import annotations

import datetime as dt


def start_moment(value: dt.date | dt.datetime) -> dt.datetime:
    """The first moment extracted, as an aware UTC datetime."""
    if isinstance(value, dt.datetime):
        aware = value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
        return aware.astimezone(dt.UTC)
    return dt.datetime.combine(value, dt.time(), tzinfo=dt.UTC)

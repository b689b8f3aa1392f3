"""PostgreSQL dates and timestamps that Python cannot hold are read as their text.

``infinity``, ``-infinity``, BC dates and years past 9999 are valid PostgreSQL values, but
psycopg raises ``DataError`` for them, which ended the whole read ("timestamp too large")
without naming the row or the column. Read as text (``'infinity'``, ``'0044-03-15 BC'``),
they reach the mapper, which refuses them as a row error on their field
(:func:`mogulsync.sync.values.timestamp`). Every other value is read by psycopg's own
loader, unchanged.
"""

from __future__ import annotations

import functools
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

_MOMENT_TYPES = ("date", "timestamp", "timestamptz")


def read_unrepresentable_moments_as_text(engine: Engine) -> None:
    """Make every psycopg connection of ``engine`` read such moments as text."""
    if engine.dialect.name == "postgresql" and engine.dialect.driver == "psycopg":
        sa.event.listen(engine, "connect", _register)


def _register(dbapi_connection: Any, _record: Any) -> None:
    from psycopg.pq import Format

    adapters = dbapi_connection.adapters
    for name in _MOMENT_TYPES:
        oid = adapters.types[name].oid
        # SQLAlchemy reads results in text format; the binary loaders stay as they are
        base = adapters.get_loader(oid, Format.TEXT)
        if base is not None:
            adapters.register_loader(oid, _tolerant(base))


@functools.cache
def _tolerant(base: type[Any]) -> type[Any]:
    """A loader wrapping ``base`` (psycopg's C loader, which cannot be subclassed usefully:
    its fast path never calls a Python ``load``) that returns the text it cannot read."""
    from psycopg import DataError
    from psycopg.adapt import Loader

    class TolerantLoader(Loader):
        def __init__(self, oid: int, context: Any = None) -> None:
            super().__init__(oid, context)
            self._load = base(oid, context).load

        def load(self, data: Any) -> Any:
            try:
                return self._load(data)
            except DataError:
                return bytes(data).decode("ascii", "replace")

    TolerantLoader.__name__ = TolerantLoader.__qualname__ = f"Tolerant{base.__name__}"
    return TolerantLoader

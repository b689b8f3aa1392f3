"""The snapshot tables and their portable statements, shared by the SQLAlchemy stores.

The team-shared PostgreSQL store (:mod:`mogulsync.sync.state_postgres`) and the snapshot
of a ``state: warehouse`` sync (:mod:`mogulsync.sync.warehouse_diff.store`) keep the same
columns and the row transitions of the embedded store (:mod:`mogulsync.sync.state`).
What both run as the same portable SQL lives here once; what differs stays in each store:
PostgreSQL upserts and ``= ANY`` arrays there, chunked ``IN`` lists and
delete-then-insert in the warehouse. Every function runs inside the caller's transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from mogulsync.sync.diff import Prior, RowStatus
from mogulsync.sync.state import RowResult

#: column lengths of a ``bounded`` table (some warehouses cannot key unbounded text)
_SYNC_LENGTH = 200
_KEY_LENGTH = 1000
_DIGEST_LENGTH = 64
_STATUS_LENGTH = 16


def _text(length: int, *, bounded: bool) -> sa.types.TypeEngine[str]:
    return sa.String(length) if bounded else sa.Text()


def snapshot_table(name: str, metadata: sa.MetaData, *, bounded: bool) -> sa.Table:
    """One row per sync and primary key; ``bounded`` gives keys and hashes a length."""
    return sa.Table(
        name,
        metadata,
        sa.Column("sync", _text(_SYNC_LENGTH, bounded=bounded), primary_key=True),
        sa.Column("pk", _text(_KEY_LENGTH, bounded=bounded), primary_key=True),
        sa.Column("digest", _text(_DIGEST_LENGTH, bounded=bounded)),
        sa.Column("status", _text(_STATUS_LENGTH, bounded=bounded), nullable=False),
        sa.Column("uuid", sa.Text),
        sa.Column("ref", sa.Text),
        sa.Column("attempt_digest", _text(_DIGEST_LENGTH, bounded=bounded)),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def definition_table(name: str, metadata: sa.MetaData, *, bounded: bool) -> sa.Table:
    """The definition each sync's snapshot was built with."""
    return sa.Table(
        name,
        metadata,
        sa.Column("sync", _text(_SYNC_LENGTH, bounded=bounded), primary_key=True),
        sa.Column("definition", sa.Text, nullable=False),
    )


def utc_now() -> dt.datetime:
    """The time stamped on a snapshot row."""
    return dt.datetime.now(dt.UTC)


def driver_message(exc: BaseException) -> str:
    """The first line of the driver's message (never the SQL or its parameters), unredacted."""
    return (str(getattr(exc, "orig", None) or exc).strip().splitlines() or ["?"])[0]


def create_schema_and_tables(db: Connection, schema: str, metadata: sa.MetaData) -> None:
    """Create the schema when missing, then any missing table of ``metadata``."""
    # PostgreSQL checks the database-level CREATE privilege even for CREATE SCHEMA
    # IF NOT EXISTS: a user given only a pre-made schema must never issue it.
    if not sa.inspect(db).has_schema(schema):
        db.execute(sa.schema.CreateSchema(schema, if_not_exists=True))
    metadata.create_all(db, checkfirst=True)


def definition_changed(db: Connection, table: sa.Table, sync: str, definition: str) -> bool:
    """Whether a definition is stored for the sync and differs from ``definition``."""
    found = db.execute(sa.select(table.c.definition).where(table.c.sync == sync)).scalar()
    return found is not None and found != definition


def select_priors(snapshot: sa.Table) -> sa.Select[Any]:
    """The columns :func:`as_priors` reads, to be narrowed by the caller."""
    s = snapshot.c
    return sa.select(s.pk, s.digest, s.status, s.uuid, s.ref)


def as_priors(rows: Iterable[Sequence[Any]]) -> Iterator[tuple[str, Prior]]:
    """Rows of :func:`select_priors` as (key, prior)."""
    for pk, digest, status, uuid, ref in rows:
        yield pk, Prior(digest, RowStatus(status), uuid, ref)


#: values per ``IN`` list (PostgreSQL takes at most 65535 parameters per statement)
_SHARING_CHUNK = 5000


def sharing(
    db: Connection, snapshot: sa.Table, sync: str, refs: Sequence[str], uuids: Sequence[str]
) -> dict[str, Prior]:
    """Snapshot rows whose ref is one of ``refs`` or whose uuid is one of ``uuids``; rows
    holding several uuids (email matches) are all returned: the caller checks them."""
    s = snapshot.c
    found: dict[str, Prior] = {}
    conditions: list[sa.ColumnElement[bool]] = [s.uuid.like("%,%")]
    for column, values in ((s.ref, list(refs)), (s.uuid, list(uuids))):
        conditions.extend(
            column.in_(values[start : start + _SHARING_CHUNK])
            for start in range(0, len(values), _SHARING_CHUNK)
        )
    for condition in conditions:
        rows = db.execute(select_priors(snapshot).where(s.sync == sync, condition)).all()
        found.update(as_priors(rows))
    return found


def inflight_row(
    sync: str, key: str, digest: str, ref: str | None, now: dt.datetime
) -> dict[str, Any]:
    """A new snapshot row about to be sent: no accepted digest yet, the attempt's one."""
    return {
        "sync": sync,
        "pk": key,
        "status": RowStatus.INFLIGHT.value,
        "ref": ref,
        "attempt_digest": digest,
        "updated_at": now,
    }


def record_results(
    db: Connection, snapshot: sa.Table, sync: str, results: Sequence[RowResult]
) -> None:
    """Accepted rows become synced with the attempt's digest, the rest failed (or in flight)."""
    s = snapshot
    now = utc_now()
    accepted = [{"k": r.key, "u": r.uuid, "r": r.ref} for r in results if r.ok]
    refused = [
        {"k": r.key, "st": (RowStatus.INFLIGHT if r.unknown else RowStatus.FAILED).value}
        for r in results
        if not r.ok
    ]
    where = (s.c.sync == sync, s.c.pk == sa.bindparam("k"))
    if accepted:
        db.execute(
            sa.update(s)
            .where(*where)
            .values(
                status=RowStatus.SYNCED.value,
                digest=s.c.attempt_digest,
                uuid=sa.func.coalesce(sa.bindparam("u", type_=sa.Text), s.c.uuid),
                ref=sa.func.coalesce(sa.bindparam("r", type_=sa.Text), s.c.ref),
                updated_at=now,
            ),
            accepted,
        )
    if refused:
        # An unknown outcome keeps (or makes) the row in flight: resolved by lookup.
        db.execute(
            sa.update(s).where(*where).values(status=sa.bindparam("st"), updated_at=now),
            refused,
        )


def delete_sync(db: Connection, snapshot: sa.Table, definition: sa.Table, sync: str) -> None:
    """Forget a sync's whole snapshot and definition."""
    db.execute(sa.delete(snapshot).where(snapshot.c.sync == sync))
    db.execute(sa.delete(definition).where(definition.c.sync == sync))


def status_counts(db: Connection, snapshot: sa.Table, sync: str) -> dict[str, int]:
    """Rows per status in a sync's snapshot."""
    s = snapshot
    query = sa.select(s.c.status, sa.func.count()).where(s.c.sync == sync).group_by(s.c.status)
    return {status: int(count) for status, count in db.execute(query).all()}

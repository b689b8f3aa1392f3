"""Team-shared sync state in PostgreSQL: snapshots, registry, definitions and the run lock.

The same semantics as the embedded :mod:`mogulsync.sync.state` (read it first): rows are
written ``inflight`` before their request can leave and ``synced`` only after ChartMogul
accepted them; every write is its own committed transaction. The keys a run has seen go to
a temporary table of the store's own session. One run per sync is a PostgreSQL advisory
lock held by the run's session: a worker that dies loses its connection and, with it, the
lock. Run history stays local (``state_dir/runs.sqlite``).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import psycopg
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg
from sqlalchemy.engine import Connection, Engine, make_url

from mogulsync._redact import display_url, redact_url
from mogulsync.config.state import DEFAULT_CONNECT_TIMEOUT_S
from mogulsync.errors import ConfigError, FatalError
from mogulsync.sync import snapshot_sql
from mogulsync.sync.diff import Prior, RowStatus
from mogulsync.sync.state import RowResult, SyncLockedError

SCHEMA_VERSION = 1
#: rows per multi-row INSERT (5 parameters each; PostgreSQL allows 65535 per statement)
_INSERT_CHUNK = 5000
#: a fixed advisory-lock key serialising schema creation by concurrent workers
_DDL_LOCK_KEY = 0x6D6F67756C
_KEY_BYTES = 8
_DRIVER = "postgresql+psycopg"
_TIMEOUT_PARAM = "connect_timeout"
_DEFAULT_PORT = 5432


def postgres_engine(
    url: str,
    *,
    application: str | None = None,
    connect_timeout_s: int = DEFAULT_CONNECT_TIMEOUT_S,
) -> Engine:
    """An engine on psycopg for a ``postgresql://`` URL (any postgres driver name accepted).

    A connection gives up after ``connect_timeout_s`` (a ``connect_timeout`` in the URL
    wins): psycopg's own default, 130 s per address, held a run that long on a dead host.
    """
    parsed = make_url(url)
    if parsed.drivername == "postgres" or parsed.get_backend_name() == "postgresql":
        parsed = parsed.set(drivername=_DRIVER)
    connect_args: dict[str, Any] = {"application_name": application} if application else {}
    if _TIMEOUT_PARAM not in parsed.query:
        connect_args[_TIMEOUT_PARAM] = connect_timeout_s
    return sa.create_engine(parsed, connect_args=connect_args, poolclass=sa.NullPool)


def connect(engine: Engine, url: str, connect_timeout_s: int) -> Connection:
    """A connection, or a FatalError naming the host (never the password) and the fix."""
    try:
        return engine.connect()
    except sa.exc.SQLAlchemyError as exc:
        engine.dispose()
        if isinstance(getattr(exc, "orig", None), psycopg.errors.ConnectionTimeout):
            given = make_url(url).query.get(_TIMEOUT_PARAM)
            raise _timed_out(url, str(given or connect_timeout_s)) from None
        raise _unreachable(url, exc) from None


def _tables(schema: str) -> tuple[sa.MetaData, dict[str, sa.Table]]:
    metadata = sa.MetaData(schema=schema)
    tables = {
        "meta": sa.Table(
            "meta",
            metadata,
            sa.Column("key", sa.Text, primary_key=True),
            sa.Column("value", sa.Text, nullable=False),
        ),
        "snapshot": snapshot_sql.snapshot_table("snapshot", metadata, bounded=False),
        "registry": sa.Table(
            "registry",
            metadata,
            sa.Column("kind", sa.Text, primary_key=True),
            sa.Column("data_source_uuid", sa.Text, primary_key=True),
            sa.Column("external_id", sa.Text, primary_key=True),
            sa.Column("uuid", sa.Text, nullable=False),
        ),
        "definition": snapshot_sql.definition_table("sync_definition", metadata, bounded=False),
    }
    return metadata, tables


_SEEN = sa.Table(
    "mogulsync_seen",
    sa.MetaData(),
    sa.Column("pk", sa.Text, primary_key=True),
    sa.Column("ordinal", sa.BigInteger),  # the model row the key was first seen at
    prefixes=["TEMPORARY"],
)


def _first_line(exc: BaseException) -> str:
    """The driver's message (never the SQL or its parameters), with URLs redacted."""
    return redact_url(snapshot_sql.driver_message(exc))


def _unreachable(url: str, exc: BaseException) -> FatalError:
    return FatalError(
        f"state store {display_url(url)} is not reachable: {_first_line(exc)}",
        hint="Check state_store.url (or, for a `state: warehouse` sync's lock, the warehouse"
        " URL) and that PostgreSQL is up.",
    )


def _timed_out(url: str, seconds: str) -> FatalError:
    """No answer in time: a host that is down, or a firewall that drops the packets."""
    where = make_url(url)
    host = f"{where.host or 'localhost'}:{where.port or _DEFAULT_PORT}"
    return FatalError(
        f"PostgreSQL at {host} did not answer within {seconds} s (state store"
        f" {display_url(url)}): the host is down, or a firewall drops the connection",
        hint="Check that PostgreSQL runs on that host and port and that this machine may reach"
        " it (firewall, VPN); on a slow link raise state_store.connect_timeout_s, or add"
        " ?connect_timeout=N to the URL (for a sync with `state: warehouse`, its"
        " warehouse's URL).",
    )


def _unusable(url: str, schema: str, exc: BaseException) -> FatalError:
    return FatalError(
        f"state store {display_url(url)} cannot hold schema `{schema}`: {_first_line(exc)}",
        hint="Give the state_store user the CREATE privilege, or create the schema for it.",
    )


def check_url(url: str) -> str:
    """The URL, or a ConfigError when the ``${ENV}`` behind it was empty."""
    if not url.strip():
        raise ConfigError(
            "state_store.url is empty",
            hint="Export the variable it references (e.g. MOGULSYNC_STATE_URL).",
        )
    return url


class PostgresStateStore:
    """Snapshots of every sync of a team in one PostgreSQL schema."""

    def __init__(
        self, url: str, schema: str, *, connect_timeout_s: int = DEFAULT_CONNECT_TIMEOUT_S
    ) -> None:
        self._url = check_url(url)
        self._engine = postgres_engine(url, application=_who(), connect_timeout_s=connect_timeout_s)
        self._db: Connection = connect(self._engine, url, connect_timeout_s)
        self._metadata, self._t = _tables(schema)
        self._schema = schema
        try:
            self._migrate()
            with self._tx() as db:
                # IF NOT EXISTS looks in this session's temporary schema only (a checkfirst
                # would be fooled by a permanent table of that name on the search path).
                db.execute(sa.schema.CreateTable(_SEEN, if_not_exists=True))
        except BaseException as exc:
            self.close()
            if isinstance(exc, sa.exc.SQLAlchemyError):
                raise _unusable(url, schema, exc) from None
            raise

    @contextlib.contextmanager
    def _tx(self) -> Iterator[Connection]:
        with self._db.begin():
            yield self._db

    def _migrate(self) -> None:
        with self._tx() as db:
            # Two workers starting together must not both create the schema.
            db.execute(sa.select(sa.func.pg_advisory_xact_lock(_DDL_LOCK_KEY)))
            snapshot_sql.create_schema_and_tables(db, self._schema, self._metadata)
            meta = self._t["meta"]
            found = db.execute(
                sa.select(meta.c.value).where(meta.c.key == "schema_version")
            ).scalar()
            if found is not None and int(found) > SCHEMA_VERSION:
                raise FatalError(
                    f"state schema `{self._schema}` was written by a newer mogulsync"
                    f" (schema {found})",
                    hint="Upgrade mogulsync on this worker.",
                )
            if found is None:
                db.execute(meta.insert().values(key="schema_version", value=str(SCHEMA_VERSION)))

    def close(self) -> None:
        """Close the session (its temporary table goes with it)."""
        self._db.close()
        self._engine.dispose()

    # ------------------------------------------------------------------ definition
    def definition_changed(self, sync: str, definition: str) -> bool:
        """Whether the definition differs from the last completed run's."""
        with self._tx() as db:
            return snapshot_sql.definition_changed(db, self._t["definition"], sync, definition)

    def save_definition(self, sync: str, definition: str) -> None:
        """Remember the definition the snapshot was built with."""
        table = self._t["definition"]
        statement = pg.insert(table).values(sync=sync, definition=definition)
        statement = statement.on_conflict_do_update(
            index_elements=[table.c.sync], set_={"definition": statement.excluded.definition}
        )
        with self._tx() as db:
            db.execute(statement)

    # ------------------------------------------------------------------ snapshot
    def priors(self, sync: str, keys: Sequence[str]) -> dict[str, Prior]:
        """What the snapshot knows about each key (absent keys are new)."""
        if not keys:
            return {}
        s = self._t["snapshot"]
        query = snapshot_sql.select_priors(s).where(
            s.c.sync == sync, s.c.pk == sa.any_(sa.bindparam("keys", type_=pg.ARRAY(sa.Text)))
        )
        with self._tx() as db:
            rows = db.execute(query, {"keys": list(keys)}).all()
        return dict(snapshot_sql.as_priors(rows))

    def mark_inflight(self, sync: str, rows: Iterable[tuple[str, str, str | None]]) -> None:
        """Before sending: these (key, digest, ref) rows may reach ChartMogul from now on."""
        now = snapshot_sql.utc_now()
        values = [
            snapshot_sql.inflight_row(sync, key, digest, ref, now) for key, digest, ref in rows
        ]
        s = self._t["snapshot"]
        with self._tx() as db:
            for start in range(0, len(values), _INSERT_CHUNK):
                statement = pg.insert(s).values(values[start : start + _INSERT_CHUNK])
                db.execute(
                    statement.on_conflict_do_update(
                        index_elements=[s.c.sync, s.c.pk],
                        set_={
                            "status": RowStatus.INFLIGHT.value,
                            "ref": sa.func.coalesce(statement.excluded.ref, s.c.ref),
                            "attempt_digest": statement.excluded.attempt_digest,
                            "updated_at": statement.excluded.updated_at,
                        },
                    )
                )

    def record(self, sync: str, results: Sequence[RowResult]) -> None:
        """After answers: accepted rows become synced, the rest failed (or stay in flight)."""
        with self._tx() as db:
            snapshot_sql.record_results(db, self._t["snapshot"], sync, results)

    def forget(self, sync: str, keys: Sequence[str]) -> None:
        """Drop keys from the snapshot."""
        if not keys:
            return
        s = self._t["snapshot"]
        keys_param = sa.bindparam("keys", type_=pg.ARRAY(sa.Text))
        with self._tx() as db:
            db.execute(
                sa.delete(s).where(s.c.sync == sync, s.c.pk == sa.any_(keys_param)),
                {"keys": list(keys)},
            )

    def reset(self, sync: str) -> None:
        """Forget a sync's whole snapshot and definition."""
        with self._tx() as db:
            snapshot_sql.delete_sync(db, self._t["snapshot"], self._t["definition"], sync)

    # ------------------------------------------------------------------ seen keys
    def start_seen(self) -> None:
        """Begin collecting the keys the model has in this run."""
        with self._tx() as db:
            db.execute(sa.delete(_SEEN))

    def see(self, keys: Sequence[str | None], first_row: int = 1) -> list[bool]:
        """Note keys as present; per key, whether it is new (False: a duplicate or None)."""
        inserted: set[str] = set()
        rows = [
            {"pk": key, "ordinal": first_row + index}
            for index, key in enumerate(keys)
            if key is not None
        ]
        with self._tx() as db:
            for start in range(0, len(rows), _INSERT_CHUNK):
                chunk = rows[start : start + _INSERT_CHUNK]
                statement = pg.insert(_SEEN).values(chunk).on_conflict_do_nothing()
                inserted.update(db.execute(statement.returning(_SEEN.c.pk)).scalars())
        fresh: list[bool] = []
        for key in keys:
            if key is not None and key in inserted:
                inserted.discard(key)  # a second occurrence in the same batch is a duplicate
                fresh.append(True)
            else:
                fresh.append(False)
        return fresh

    def seen_rows(self, keys: Sequence[str]) -> dict[str, int]:
        """The row number at which each key was first seen in this run (the kept row)."""
        found: dict[str, int] = {}
        with self._tx() as db:
            for start in range(0, len(keys), _INSERT_CHUNK):
                chunk = list(keys[start : start + _INSERT_CHUNK])
                query = sa.select(_SEEN.c.pk, _SEEN.c.ordinal).where(_SEEN.c.pk.in_(chunk))
                found.update((str(pk), int(row)) for pk, row in db.execute(query))
        return found

    def unseen(self, sync: str) -> Iterator[tuple[str, Prior]]:
        """Snapshot rows whose key the model no longer has."""
        s = self._t["snapshot"]
        query = (
            snapshot_sql.select_priors(s)
            .where(s.c.sync == sync, ~sa.exists().where(_SEEN.c.pk == s.c.pk))
            .order_by(s.c.pk)
        )
        with self._tx() as db:
            rows = db.execute(query).all()
        yield from snapshot_sql.as_priors(rows)

    def sharing(
        self, sync: str, refs: Sequence[str], uuids: Sequence[str]
    ) -> Iterator[tuple[str, Prior]]:
        """Snapshot rows that may name one of these records: ref in ``refs``, or uuid in
        ``uuids`` (rows holding several uuids are all returned; the caller checks)."""
        with self._tx() as db:
            found = snapshot_sql.sharing(db, self._t["snapshot"], sync, refs, uuids)
        yield from found.items()

    def counts(self, sync: str) -> dict[str, int]:
        """Rows per status in a sync's snapshot."""
        with self._tx() as db:
            return snapshot_sql.status_counts(db, self._t["snapshot"], sync)

    # ------------------------------------------------------------------ registry
    def known_uuid(self, kind: str, data_source_uuid: str, external_id: str) -> str | None:
        """A uuid learnt earlier for (kind, data source, external id)."""
        r = self._t["registry"]
        query = sa.select(r.c.uuid).where(
            r.c.kind == kind,
            r.c.data_source_uuid == data_source_uuid,
            r.c.external_id == external_id,
        )
        with self._tx() as db:
            found = db.execute(query).scalar()
        return str(found) if found is not None else None

    def remember_uuids(self, entries: Sequence[tuple[str, str, str, str]]) -> None:
        """Store (kind, data source, external id, uuid) facts learnt from ChartMogul."""
        if not entries:
            return
        r = self._t["registry"]
        latest = {(kind, ds, ext): uuid for kind, ds, ext, uuid in entries}
        values = [
            {"kind": kind, "data_source_uuid": ds, "external_id": ext, "uuid": uuid}
            for (kind, ds, ext), uuid in latest.items()
        ]
        statement = pg.insert(r).values(values)
        statement = statement.on_conflict_do_update(
            index_elements=[r.c.kind, r.c.data_source_uuid, r.c.external_id],
            set_={"uuid": statement.excluded.uuid},
        )
        with self._tx() as db:
            db.execute(statement)

    def forget_uuid(self, kind: str, data_source_uuid: str, external_id: str) -> None:
        """Drop a stale uuid (the record was deleted in ChartMogul)."""
        r = self._t["registry"]
        with self._tx() as db:
            db.execute(
                sa.delete(r).where(
                    r.c.kind == kind,
                    r.c.data_source_uuid == data_source_uuid,
                    r.c.external_id == external_id,
                )
            )


def lock_key(schema: str, sync: str) -> int:
    """The advisory-lock key of a sync: 64 bits of a hash of its schema and name."""
    material = hashlib.sha256(f"mogulsync:{schema}:{sync}".encode()).digest()
    return int.from_bytes(material[:_KEY_BYTES], "big", signed=True)


class PostgresSyncLock:
    """One run per sync across workers: ``pg_try_advisory_lock`` on a dedicated session.

    The lock lives as long as the session: a worker killed mid-run drops its connection
    and PostgreSQL releases the lock, so nothing is left to clean up.
    """

    def __init__(
        self,
        url: str,
        schema: str,
        sync: str,
        *,
        connect_timeout_s: int = DEFAULT_CONNECT_TIMEOUT_S,
    ) -> None:
        self.sync = sync
        self._url = check_url(url)
        self._key = lock_key(schema, sync)
        self._timeout_s = connect_timeout_s
        self._engine: Engine | None = None
        self._db: Connection | None = None

    def acquire(self) -> None:
        """Take the lock or raise :class:`SyncLockedError` at once (FatalError: PostgreSQL
        unreachable, or silent for ``connect_timeout_s``)."""
        engine = postgres_engine(self._url, application=_who(), connect_timeout_s=self._timeout_s)
        db = connect(engine, self._url, self._timeout_s)
        db.execution_options(isolation_level="AUTOCOMMIT")
        taken = db.execute(sa.select(sa.func.pg_try_advisory_lock(self._key))).scalar()
        if not taken:
            holder = self._holder(db)
            db.close()
            engine.dispose()
            raise SyncLockedError(
                f"sync `{self.sync}` is already running ({holder}); concurrent runs of one"
                " sync are refused",
                hint="Wait for that run to finish, or stop it, then run again.",
            )
        self._engine, self._db = engine, db

    def _holder(self, db: Connection) -> str:
        """Who holds the lock, as PostgreSQL knows it (the holder's application name)."""
        high, low = (self._key >> 32) & 0xFFFFFFFF, self._key & 0xFFFFFFFF
        query = sa.text(
            "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
            " WHERE l.locktype = 'advisory' AND l.granted AND l.classid = :high"
            " AND l.objid = :low AND l.objsubid = 1"
        )
        found: Any = db.execute(query, {"high": high, "low": low}).scalar()
        return str(found) if found else "another worker"

    def release(self) -> None:
        """Give the lock back (closing the session would too)."""
        if self._db is not None:
            with contextlib.suppress(sa.exc.SQLAlchemyError):
                self._db.execute(sa.select(sa.func.pg_advisory_unlock(self._key)))
            self._db.close()
            self._db = None
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None


def _who() -> str:
    """How this worker names itself to PostgreSQL (shown when it holds a lock)."""
    return f"mogulsync {socket.gethostname()} pid {os.getpid()}"

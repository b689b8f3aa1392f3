"""The snapshot of a ``state: warehouse`` sync, kept in its own source warehouse.

Tables ``<state_schema>.warehouse_snapshot`` (one row per sync and primary key: SQL row
hash, status, uuid, external id, attempt hash, time) and ``<state_schema>.warehouse_definition``
are created on first use. Row transitions are those of the embedded store: ``inflight``
(with the attempt's hash) committed before a request can leave, ``synced`` only after
ChartMogul accepted it, in batched statements. Known uuids (the registry) stay in the
project's main store (``registry``), which every sync shares.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from mogulsync._redact import display_url, redact_url
from mogulsync.config.warehouse import WarehouseConfig
from mogulsync.errors import FatalError
from mogulsync.sync import snapshot_sql
from mogulsync.sync.diff import Prior, RowStatus
from mogulsync.sync.state import RowResult
from mogulsync.sync.state_protocol import SyncState
from mogulsync.sync.warehouse_diff.query import DiffQuery
from mogulsync.warehouse.pg_moments import read_unrepresentable_moments_as_text

#: keys per ``IN (...)`` list (drivers cap bound parameters)
_CHUNK = 1000


def snapshot_tables(schema: str) -> tuple[sa.MetaData, sa.Table, sa.Table]:
    """The snapshot and definition tables in ``schema``."""
    metadata = sa.MetaData(schema=schema)
    snapshot = snapshot_sql.snapshot_table("warehouse_snapshot", metadata, bounded=True)
    definition = snapshot_sql.definition_table("warehouse_definition", metadata, bounded=True)
    return metadata, snapshot, definition


def _has_tables(db: Connection, metadata: sa.MetaData) -> bool:
    inspector = sa.inspect(db)
    return all(inspector.has_table(t.name, schema=t.schema) for t in metadata.tables.values())


class WarehouseState:
    """A :class:`~mogulsync.sync.state_protocol.SyncState` whose snapshot is in a warehouse.

    ``create=False`` (``sync plan``) never writes: a missing snapshot table reads as empty.
    """

    def __init__(
        self,
        name: str,
        warehouse: WarehouseConfig,
        schema: str,
        registry: SyncState,
        *,
        create: bool = True,
    ) -> None:
        self.warehouse_name = name
        self.warehouse = warehouse
        self.schema = schema
        self.registry = registry
        self._create = create
        self._url = warehouse.url.get_secret_value()
        self._engine_: Engine | None = None
        self._ready: bool | None = None
        self._metadata, self.snapshot, self.definition = snapshot_tables(schema)
        #: bound by :meth:`bind` for the run: the model the diff and ``unseen`` read
        self.query: DiffQuery | None = None
        #: keys several model rows share (from the diff), and those seen once already
        #: repeated keys of this run, each with the row number of its first (kept) row
        self._duplicates: dict[str, int] = {}
        self._seen_duplicates: set[str] = set()

    # ------------------------------------------------------------------ plumbing
    @property
    def engine(self) -> Engine:
        """The warehouse engine (created on first use, so a bad URL fails inside the run)."""
        if self._engine_ is None:
            try:
                self._engine_ = sa.create_engine(self._url)
            except Exception as exc:
                raise self._error("cannot be opened", exc) from None
            # the diff streams the model's changed rows through this engine
            read_unrepresentable_moments_as_text(self._engine_)
        return self._engine_

    def _error(self, what: str, exc: BaseException) -> FatalError:
        first = snapshot_sql.driver_message(exc)
        text = redact_url(first.replace(self._url, display_url(self._url)))
        return FatalError(
            f"warehouse `{self.warehouse_name}` (sync state in schema `{self.schema}`) {what}:"
            f" {text}",
            hint="Check the warehouse and that its user may create the schema and tables.",
        )

    @property
    def ready(self) -> bool:
        """Whether the snapshot tables exist (created first when allowed)."""
        if self._ready is None:
            self._ready = self._prepare_tables()
        return self._ready

    def _prepare_tables(self) -> bool:
        try:
            if not self._create:
                with self.engine.connect() as db:
                    return sa.inspect(db).has_table(self.snapshot.name, schema=self.schema)
            try:
                self._create_tables()
            except sa.exc.SQLAlchemyError:
                # Another worker may have created them between our check and CREATE:
                # look again, and fail only if they are still missing.
                with self.engine.connect() as db:
                    if not _has_tables(db, self._metadata):
                        raise
        except sa.exc.SQLAlchemyError as exc:
            raise self._error("cannot hold the snapshot", exc) from None
        return True

    def _create_tables(self) -> None:
        with self.engine.begin() as db:
            snapshot_sql.create_schema_and_tables(db, self.schema, self._metadata)

    @contextlib.contextmanager
    def _tx(self) -> Iterator[Connection]:
        try:
            with self.engine.begin() as db:
                yield db
        except sa.exc.SQLAlchemyError as exc:
            raise self._error("refused a snapshot statement", exc) from None

    def diff_error(self, exc: BaseException) -> FatalError:
        """The diff query failed in the warehouse."""
        return self._error("could not run the diff query", exc)

    def bind(self, query: DiffQuery) -> None:
        """The model this run diffs (``unseen`` reads it)."""
        self.query = query

    def note_duplicates(self, rows: Iterable[tuple[str, int]]) -> None:
        """(key, row number) of rows whose key the diff found on several rows, in the order
        they are streamed: the first row of a key is kept (``see`` reports the others)."""
        for key, row in rows:
            self._duplicates.setdefault(key, row)

    def close(self) -> None:
        """Release the warehouse connections and the registry's store."""
        if self._engine_ is not None:
            self._engine_.dispose()
        self.registry.close()

    # ------------------------------------------------------------------ definition
    def definition_changed(self, sync: str, definition: str) -> bool:
        """Whether the definition differs from the last completed run's."""
        if not self.ready:
            return False
        with self._tx() as db:
            return snapshot_sql.definition_changed(db, self.definition, sync, definition)

    def save_definition(self, sync: str, definition: str) -> None:
        """Remember the definition the snapshot was built with."""
        table = self.definition
        with self._tx() as db:
            db.execute(sa.delete(table).where(table.c.sync == sync))
            db.execute(sa.insert(table).values(sync=sync, definition=definition))

    # ------------------------------------------------------------------ snapshot
    def priors(self, sync: str, keys: Sequence[str]) -> dict[str, Prior]:
        """What the snapshot knows about each key (absent keys are new)."""
        if not keys or not self.ready:
            return {}
        s = self.snapshot
        found: dict[str, Prior] = {}
        with self._tx() as db:
            for start in range(0, len(keys), _CHUNK):
                chunk = list(keys[start : start + _CHUNK])
                query = snapshot_sql.select_priors(s).where(s.c.sync == sync, s.c.pk.in_(chunk))
                found.update(snapshot_sql.as_priors(db.execute(query)))
        return found

    def mark_inflight(self, sync: str, rows: Iterable[tuple[str, str, str | None]]) -> None:
        """Before sending: these (key, row hash, ref) rows may reach ChartMogul from now on."""
        wanted: dict[str, str] = {}
        refs: dict[str, str | None] = {}
        for key, digest, ref in rows:
            wanted[key] = digest
            refs[key] = ref
        if not wanted:
            return
        s = self.snapshot
        now = snapshot_sql.utc_now()
        with self._tx() as db:
            existing: set[str] = set()
            keys = list(wanted)
            for start in range(0, len(keys), _CHUNK):
                chunk = keys[start : start + _CHUNK]
                existing.update(
                    db.execute(
                        sa.select(s.c.pk).where(s.c.sync == sync, s.c.pk.in_(chunk))
                    ).scalars()
                )
            updates = [
                {"k": key, "h": wanted[key], "r": refs[key]} for key in keys if key in existing
            ]
            if updates:
                db.execute(
                    sa.update(s)
                    .where(s.c.sync == sync, s.c.pk == sa.bindparam("k"))
                    .values(
                        status=RowStatus.INFLIGHT.value,
                        ref=sa.func.coalesce(sa.bindparam("r", type_=sa.Text), s.c.ref),
                        attempt_digest=sa.bindparam("h"),
                        updated_at=now,
                    ),
                    updates,
                )
            inserts = [
                snapshot_sql.inflight_row(sync, key, wanted[key], refs[key], now)
                for key in keys
                if key not in existing
            ]
            if inserts:
                db.execute(sa.insert(s), inserts)

    def record(self, sync: str, results: Sequence[RowResult]) -> None:
        """After answers: accepted rows become synced, the rest failed (or stay in flight)."""
        with self._tx() as db:
            snapshot_sql.record_results(db, self.snapshot, sync, results)

    def forget(self, sync: str, keys: Sequence[str]) -> None:
        """Drop keys from the snapshot."""
        if not keys:
            return
        s = self.snapshot
        with self._tx() as db:
            for start in range(0, len(keys), _CHUNK):
                chunk = list(keys[start : start + _CHUNK])
                db.execute(sa.delete(s).where(s.c.sync == sync, s.c.pk.in_(chunk)))

    def reset(self, sync: str) -> None:
        """Forget a sync's whole snapshot and definition."""
        if not self.ready:
            return
        with self._tx() as db:
            snapshot_sql.delete_sync(db, self.snapshot, self.definition, sync)

    # ------------------------------------------------------------------ seen keys
    def start_seen(self) -> None:
        """Begin a run: forget the duplicate keys of the last one."""
        self._duplicates.clear()
        self._seen_duplicates.clear()

    def see(self, keys: Sequence[str | None], first_row: int = 1) -> list[bool]:  # noqa: ARG002
        """Per key, whether it is new: the diff streams each key once, except duplicates.

        Rows streamed by the diff carry their own row numbers (``first_row`` is unused).
        """
        fresh: list[bool] = []
        for key in keys:
            if key is None:
                fresh.append(False)
            elif key not in self._duplicates:
                fresh.append(True)
            elif key in self._seen_duplicates:
                fresh.append(False)
            else:
                self._seen_duplicates.add(key)
                fresh.append(True)
        return fresh

    def seen_rows(self, keys: Sequence[str]) -> dict[str, int]:
        """The row number of each repeated key's kept row (noted when streamed)."""
        return {key: self._duplicates[key] for key in keys if key in self._duplicates}

    def unseen(self, sync: str) -> Iterator[tuple[str, Prior]]:
        """Snapshot rows whose key the model no longer has (an anti-join in the warehouse)."""
        if self.query is None or self.query.sync != sync:
            msg = f"WarehouseState.unseen({sync!r}) needs that sync's model: call bind() first"
            raise RuntimeError(msg)
        if not self.ready:
            return
        with self._tx() as db:
            rows = db.execute(self.query.removed(self.snapshot)).all()
        yield from snapshot_sql.as_priors(rows)

    def sharing(
        self, sync: str, refs: Sequence[str], uuids: Sequence[str]
    ) -> Iterator[tuple[str, Prior]]:
        """Snapshot rows that may name one of these records: ref in ``refs``, or uuid in
        ``uuids`` (rows holding several uuids are all returned; the caller checks)."""
        if not self.ready:
            return
        with self._tx() as db:
            found = snapshot_sql.sharing(db, self.snapshot, sync, refs, uuids)
        yield from found.items()

    def counts(self, sync: str) -> dict[str, int]:
        """Rows per status in a sync's snapshot."""
        if not self.ready:
            return {}
        with self._tx() as db:
            return snapshot_sql.status_counts(db, self.snapshot, sync)

    # ------------------------------------------------------------------ registry
    def known_uuid(self, kind: str, data_source_uuid: str, external_id: str) -> str | None:
        """A uuid learnt earlier (kept in the project's main store)."""
        return self.registry.known_uuid(kind, data_source_uuid, external_id)

    def remember_uuids(self, entries: Sequence[tuple[str, str, str, str]]) -> None:
        """Store facts learnt from ChartMogul in the project's main store."""
        self.registry.remember_uuids(entries)

    def forget_uuid(self, kind: str, data_source_uuid: str, external_id: str) -> None:
        """Drop a stale uuid from the project's main store."""
        self.registry.forget_uuid(kind, data_source_uuid, external_id)

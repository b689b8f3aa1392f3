"""The emulator's data store: one SQLite table of JSON documents with a few indexed columns.

Without a path the database lives in memory; with one, data survives a restart. Every
resource module stores its objects here, so persistence, reset and cursor pagination work
the same for all of them.

Kinds and what their indexed columns hold (the contract between route modules and the
MRR engine)::

    kind                 data_source_uuid  external_id                 email  parent_uuid
    data_source          -                 -                           -      -
    customer             its data source   customer external_id        email  -
    contact              its data source   contact external_id         email  customer uuid
    plan                 its data source   plan external_id            -      -
    plan_group           -                 -                           -      -
    invoice              its data source   invoice external_id         -      customer uuid
    line_item            its data source   line item external_id       -      invoice uuid
    transaction          its data source   transaction external_id     -      invoice uuid
    subscription         its data source   subscription_external_id    -      customer uuid
    subscription_event   its data source   event external_id           -      -
    json_import          its data source   batch external_id           -      -
    activities_export    -                 -                           -      -

``seq`` (insertion order) is the integer ``id`` where the API shows one and the key behind
every opaque cursor. ``revision`` counts writes that can change MRR, so derived data
(activities, metrics) is recomputed only when something changed; :meth:`Store.changed_customers`
tells which customers those writes touched, so only their figures are recomputed.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

JSONDict = dict[str, Any]

#: Kinds whose writes can change MRR, activities or metrics.
MRR_KINDS = frozenset({"customer", "invoice", "line_item", "subscription", "plan", "transaction"})
#: MRR kinds whose ``parent_uuid`` is their customer's uuid
_CUSTOMER_CHILDREN = frozenset({"invoice", "subscription"})
#: MRR kinds whose ``parent_uuid`` is an invoice's uuid
_INVOICE_CHILDREN = frozenset({"line_item", "transaction"})

_SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    uuid TEXT NOT NULL UNIQUE,
    data_source_uuid TEXT,
    external_id TEXT,
    email TEXT COLLATE NOCASE,
    parent_uuid TEXT,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_objects_kind_seq ON objects(kind, seq);
CREATE INDEX IF NOT EXISTS ix_objects_ext ON objects(kind, external_id, data_source_uuid);
CREATE INDEX IF NOT EXISTS ix_objects_ext_seq ON objects(kind, external_id, seq);
CREATE INDEX IF NOT EXISTS ix_objects_source_seq ON objects(kind, data_source_uuid, seq);
CREATE INDEX IF NOT EXISTS ix_objects_email ON objects(kind, email);
CREATE INDEX IF NOT EXISTS ix_objects_email_seq ON objects(kind, email, seq);
CREATE INDEX IF NOT EXISTS ix_objects_parent ON objects(kind, parent_uuid, seq);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

_INDEXED = ("data_source_uuid", "external_id", "email", "parent_uuid")

#: A filter value: one value, or any of several (``IN``); None means "not filtered".
Filter = str | frozenset[str] | None


class UnstorableValueError(ValueError):
    """A lookup or indexed value that is not text (a list, an object, a lone surrogate).

    Raised before SQLite sees it; the app answers 400 naming ``field``, the request
    parameter the value came from.
    """

    def __init__(self, field: str) -> None:
        super().__init__(field)
        self.field = field


def _bindable(field: str, value: Any) -> Any:
    """``value`` if SQLite can bind it as a lookup key, else UnstorableValueError."""
    if value is None or isinstance(value, int | float):
        return value
    if not isinstance(value, str):
        raise UnstorableValueError(field)
    try:
        value.encode()
    except UnicodeEncodeError as exc:
        raise UnstorableValueError(field) from exc
    return value


@dataclass(frozen=True, slots=True)
class Row:
    """One stored object: its insertion sequence number and its JSON body."""

    seq: int
    uuid: str
    body: JSONDict


class Store:
    """A small document store over SQLite (in memory unless given a path)."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = str(path) if path else ":memory:"
        # One event loop serves every request, so one connection is enough; background
        # tasks (bulk imports) run on the same loop.
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        if self.path != ":memory:":
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self.revision = 0
        # revision of each customer's latest MRR-relevant write, and of the latest write
        # whose customers are unknown (plans, reset): everything changed then. Kept in
        # revision order (a touched customer moves to the end), so the customers changed
        # since a revision are read from the end without walking every customer.
        self._customer_changed_at: dict[str, int] = {}
        self._everything_changed_at = 0

    # ------------------------------------------------------------------ writes
    def insert(
        self,
        kind: str,
        uuid: str,
        body: JSONDict,
        *,
        data_source_uuid: str | None = None,
        external_id: str | None = None,
        email: str | None = None,
        parent_uuid: str | None = None,
    ) -> Row:
        """Store a new object and return it with its sequence number."""
        cur = self._db.execute(
            "INSERT INTO objects (kind, uuid, data_source_uuid, external_id, email, parent_uuid,"
            " body) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                kind,
                _bindable("uuid", uuid),
                _bindable("data_source_uuid", data_source_uuid),
                _bindable("external_id", external_id),
                _bindable("email", email),
                _bindable("parent_uuid", parent_uuid),
                json.dumps(body),
            ),
        )
        self._touch(kind, [(uuid, parent_uuid)])
        assert cur.lastrowid is not None
        return Row(cur.lastrowid, uuid, body)

    def update(self, kind: str, uuid: str, body: JSONDict, **indexed: str | None) -> None:
        """Replace an object's body (and any indexed columns given)."""
        unknown = set(indexed) - set(_INDEXED)
        if unknown:
            raise ValueError(f"not indexed: {sorted(unknown)}")
        sets = ["body = ?", *(f"{column} = ?" for column in indexed)]
        before = self._parents(kind, "uuid = ?", [_bindable("uuid", uuid)])
        self._db.execute(
            f"UPDATE objects SET {', '.join(sets)} WHERE kind = ? AND uuid = ?",  # noqa: S608 - columns are whitelisted
            (
                json.dumps(body),
                *(_bindable(column, value) for column, value in indexed.items()),
                kind,
                _bindable("uuid", uuid),
            ),
        )
        # a merge moves a row to another customer: both customers change
        self._touch(kind, [*before, *self._parents(kind, "uuid = ?", [_bindable("uuid", uuid)])])

    def delete(self, kind: str, uuid: str) -> bool:
        """Delete one object; return whether it existed."""
        before = self._parents(kind, "uuid = ?", [_bindable("uuid", uuid)])
        cur = self._db.execute(
            "DELETE FROM objects WHERE kind = ? AND uuid = ?", (kind, _bindable("uuid", uuid))
        )
        self._touch(kind, before)
        return cur.rowcount > 0

    def delete_where(self, kind: str, **filters: Filter) -> int:
        """Delete every object of a kind matching the indexed filters."""
        where, params = _where(kind, filters)
        before = self._parents(kind, where, params)
        cur = self._db.execute(f"DELETE FROM objects WHERE {where}", params)  # noqa: S608
        self._touch(kind, before)
        return cur.rowcount

    def reset(self) -> None:
        """Forget every object."""
        self._db.execute("DELETE FROM objects")
        self._db.execute("DELETE FROM meta")
        self.revision += 1
        self._everything_changed_at = self.revision

    # ------------------------------------------------------------------ reads
    def get(self, kind: str, uuid: str) -> Row | None:
        """Return one object by uuid, or None."""
        found = self._db.execute(
            "SELECT seq, uuid, body FROM objects WHERE kind = ? AND uuid = ?",
            (kind, _bindable("uuid", uuid)),
        ).fetchone()
        return _row(found) if found else None

    def find(
        self,
        kind: str,
        *,
        after_seq: int = 0,
        limit: int | None = None,
        offset: int = 0,
        descending: bool = False,
        **filters: Filter,
    ) -> list[Row]:
        """Objects of a kind matching exact indexed filters, in insertion order.

        Every filter combination is served by an index that is also in ``seq`` order, so a
        page costs the same at 20 rows or 200,000 (without the ``..._seq`` indexes SQLite
        walked every row of the kind to avoid a sort).
        """
        where, params = _where(kind, filters)
        if after_seq:
            where += " AND seq < ?" if descending else " AND seq > ?"
            params.append(after_seq)
        sql = f"SELECT seq, uuid, body FROM objects WHERE {where} ORDER BY seq"  # noqa: S608
        sql += " DESC" if descending else ""
        if limit is not None or offset:
            sql += " LIMIT ? OFFSET ?"
            params.extend([-1 if limit is None else limit, offset])
        return [_row(found) for found in self._db.execute(sql, params)]

    def find_one(self, kind: str, **filters: Filter) -> Row | None:
        """The first object matching the filters, or None."""
        where, params = _where(kind, filters)
        found = self._db.execute(
            f"SELECT seq, uuid, body FROM objects WHERE {where} ORDER BY seq LIMIT 1",  # noqa: S608
            params,
        ).fetchone()
        return _row(found) if found else None

    def iter_kind(self, kind: str) -> Iterator[Row]:
        """Every object of a kind, in insertion order."""
        for found in self._db.execute(
            "SELECT seq, uuid, body FROM objects WHERE kind = ? ORDER BY seq", (kind,)
        ):
            yield _row(found)

    def count(self, kind: str, **filters: Filter) -> int:
        """How many objects of a kind match the filters."""
        where, params = _where(kind, filters)
        (total,) = self._db.execute(
            f"SELECT COUNT(*) FROM objects WHERE {where}",  # noqa: S608
            params,
        ).fetchone()
        return int(total)

    # ------------------------------------------------------------------ meta
    def count_holding(self, kind: str, field: str, value: str, **filters: Filter) -> int:
        """How many objects of a kind hold ``value`` in the top-level body ``field`` (not
        indexed: a scan of the kind, for rare checks such as a plan's deletion)."""
        where, params = _where(kind, filters)
        (total,) = self._db.execute(
            f"SELECT COUNT(*) FROM objects WHERE {where} AND json_extract(body, ?) = ?",  # noqa: S608
            [*params, f'$."{field}"', _bindable(field, value)],
        ).fetchone()
        return int(total)

    def get_meta(self, key: str) -> str | None:
        """A small persisted setting (for example the account uuid)."""
        found = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return str(found[0]) if found else None

    def set_meta(self, key: str, value: str) -> None:
        """Persist a small setting."""
        self._db.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?)"
            " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    # ------------------------------------------------------------------ change tracking
    def changed_customers(self, since: int) -> frozenset[str] | None:
        """Customers whose MRR inputs changed after revision ``since``; None means all may have.

        Plans are shared by customers (and rarely edited), so a plan write changes everything.
        """
        if since < self._everything_changed_at or since > self.revision:
            return None
        changed_at = self._customer_changed_at
        recent: list[str] = []
        for uuid in reversed(changed_at):
            if changed_at[uuid] <= since:
                break
            recent.append(uuid)
        return frozenset(recent)

    def _parents(
        self, kind: str, where: str, params: Iterable[Any]
    ) -> list[tuple[str, str | None]]:
        """(uuid, parent_uuid) of the rows of ``kind`` a write is about to touch."""
        if kind not in MRR_KINDS:
            return []
        sql = f"SELECT uuid, parent_uuid FROM objects WHERE kind = ? AND {where}"  # noqa: S608
        return list(self._db.execute(sql, [kind, *params]))

    def _customer_of(self, kind: str, uuid: str, parent_uuid: str | None) -> str | None:
        if kind == "customer":
            return uuid
        if kind in _CUSTOMER_CHILDREN:
            return parent_uuid
        if kind in _INVOICE_CHILDREN and parent_uuid:
            found = self._db.execute(
                "SELECT parent_uuid FROM objects WHERE kind = 'invoice' AND uuid = ?",
                (parent_uuid,),
            ).fetchone()
            return str(found[0]) if found and found[0] else None
        return None

    def _touch(self, kind: str, rows: Iterable[tuple[str, str | None]]) -> None:
        if kind not in MRR_KINDS:
            return
        self.revision += 1
        for uuid, parent_uuid in rows:
            customer = self._customer_of(kind, uuid, parent_uuid)
            if customer is None:  # a plan, or a row whose customer cannot be told
                self._everything_changed_at = self.revision
                return
            self._customer_changed_at.pop(customer, None)  # re-insert at the end
            self._customer_changed_at[customer] = self.revision


def _row(found: tuple[int, str, str]) -> Row:
    return Row(found[0], found[1], json.loads(found[2]))


def _where(kind: str, filters: dict[str, Filter]) -> tuple[str, list[Any]]:
    clauses = ["kind = ?"]
    params: list[Any] = [kind]
    for column, value in filters.items():
        if column not in _INDEXED:
            raise ValueError(f"not an indexed column: {column}")
        if value is None:
            continue
        if isinstance(value, frozenset):
            ordered = sorted(value)  # an empty set matches nothing: ``IN ()`` is false
            clauses.append(f"{column} IN ({', '.join('?' * len(ordered))})")
            params.extend(_bindable(column, item) for item in ordered)
        else:
            clauses.append(f"{column} = ?")
            params.append(_bindable(column, value))
    return " AND ".join(clauses), params

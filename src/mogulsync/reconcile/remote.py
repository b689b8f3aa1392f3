"""ChartMogul's side of a reconcile: every record in the sync's scope, in an embedded table.

The listings are read page by page (200 records a page) and written to a temporary SQLite
file, indexed by the sync's match key, so a reconcile of 100,000 customers holds one page
and one batch of model rows in memory at a time, never the whole account. The file is
deleted when the reconcile ends; one left by a killed process (its owner's file lock
gone) is deleted by the next reconcile, so a server's drift watches never pile them up.

Scopes: customers, plans and contacts of the sync's data source; invoices of the data
source (each with its line items and transactions); for a transaction sync, the
transactions of the data source's invoices. A sync that finds its records account-wide
(customers matched by email or uuid, contacts by uuid: a run updates them in whatever data
source they are) lists the account's customers or contacts; only those of its own data
source can be extra.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import sqlite3
import tempfile
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mogulsync.chartmogul import ChartMogulClient
from mogulsync.reconcile.compare import Comparable, actual

#: keys looked up in one SQL statement (below SQLite's bound-variable limit)
_LOOKUP_CHUNK = 500
#: a customer sync's fields of the customer's primary contact start with this
PRIMARY_CONTACT = "primary_contact."
#: the position of a contact that shows none (after every numbered one)
_LAST = 2**31
#: between a contact's customer and its own key (in neither: a control character)
_KEY_SEPARATOR = "\x1f"
_PREFIX = "mogulsync-reconcile-"
_SUFFIX = ".sqlite"


def sweep_stale(directory: Path) -> int:
    """Delete index files no live reconcile holds (left by killed ones); how many."""
    deleted = 0
    for path in directory.glob(f"{_PREFIX}*{_SUFFIX}"):
        with contextlib.suppress(OSError), path.open("rb") as handle:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # a reconcile is using it
            path.unlink(missing_ok=True)
            deleted += 1
    return deleted


@dataclass(frozen=True, slots=True)
class RemoteRecord:
    """One record of ChartMogul: its match key, uuid, external id and comparable fields."""

    #: None when the record has no value to be paired by (it can only be extra)
    key: str | None
    uuid: str
    external_id: str | None
    fields: Comparable
    #: in the sync's data source (an account-wide scope also holds records of others)
    inside: bool = True
    #: its row in the index (set by :meth:`RemoteIndex.find`, for :meth:`RemoteIndex.mark`)
    rowid: int = 0


class RemoteIndex:
    """The records of one scope, looked up by match key; tracks which ones the model has."""

    def __init__(self, directory: Path | None = None) -> None:
        if directory is not None:
            sweep_stale(directory)
        handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 - lives as long as the index
            prefix=_PREFIX, suffix=_SUFFIX, dir=directory, delete=False
        )
        # held until close: another reconcile's sweep sees the file is in use
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        self._lock = handle
        self.path = Path(handle.name)
        self._db = sqlite3.connect(self.path)
        self._db.execute("PRAGMA journal_mode = OFF")
        self._db.execute("PRAGMA synchronous = OFF")
        self._db.execute(
            "CREATE TABLE remote (key TEXT, uuid TEXT, external_id TEXT, fields TEXT,"
            " inside INTEGER NOT NULL, seen INTEGER NOT NULL DEFAULT 0)"
        )
        self._db.execute("CREATE INDEX remote_key ON remote (key)")
        self._db.execute(
            "CREATE TABLE primary_contact (customer_uuid TEXT PRIMARY KEY, position INTEGER,"
            " fields TEXT)"
        )
        # contact rows not found under the customer they name, compared again once merged
        # customers are known (see :meth:`defer`); and those customers' other external ids
        self._db.execute(
            "CREATE TABLE deferred (row_key TEXT, key TEXT, expected TEXT, digest TEXT)"
        )
        self._db.execute("CREATE TABLE merged (external_id TEXT PRIMARY KEY, owner TEXT)")
        self.size = 0

    def close(self) -> None:
        """Drop the table and its file."""
        self._db.close()
        self.path.unlink(missing_ok=True)
        self._lock.close()

    def add(self, records: Sequence[RemoteRecord]) -> None:
        """Store one page of records."""
        self._db.executemany(
            "INSERT INTO remote (key, uuid, external_id, fields, inside) VALUES (?, ?, ?, ?, ?)",
            [(r.key, r.uuid, r.external_id, json.dumps(r.fields), r.inside) for r in records],
        )
        self.size += len(records)

    def add_contacts(self, contacts: Sequence[Mapping[str, Any]]) -> None:
        """Keep each customer's first contact (lowest position): its primary contact, the
        one a customer sync's ``primary_contact.*`` fields create and update."""
        self._db.executemany(
            "INSERT INTO primary_contact VALUES (?, ?, ?) ON CONFLICT (customer_uuid) DO UPDATE"
            " SET position = excluded.position, fields = excluded.fields"
            " WHERE excluded.position < primary_contact.position",
            [
                (c["customer_uuid"], c.get("position") or _LAST, json.dumps(c))
                for c in contacts
                if c.get("customer_uuid")
            ],
        )

    def with_primary_contacts(self, customers: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """``customers`` with their primary contact's fields as ``primary_contact.<field>``."""
        uuids = [str(customer["uuid"]) for customer in customers]
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(uuids), _LOOKUP_CHUNK):
            chunk = uuids[start : start + _LOOKUP_CHUNK]
            marks = ", ".join("?" * len(chunk))
            found.update(
                (uuid, json.loads(fields))
                for uuid, fields in self._db.execute(
                    "SELECT customer_uuid, fields FROM primary_contact"  # noqa: S608 - placeholders only
                    f" WHERE customer_uuid IN ({marks})",
                    chunk,
                )
            )
        return [
            {
                **customer,
                **{
                    f"{PRIMARY_CONTACT}{name}": value
                    for name, value in found.get(str(customer["uuid"]), {}).items()
                },
            }
            for customer in customers
        ]

    def find(self, keys: Sequence[str]) -> dict[str, list[RemoteRecord]]:
        """The records of each key, in listing order (several may share one: ChartMogul
        keeps contacts unique on nothing, and customers may share an email)."""
        found: dict[str, list[RemoteRecord]] = {}
        for start in range(0, len(keys), _LOOKUP_CHUNK):
            chunk = list(keys[start : start + _LOOKUP_CHUNK])
            marks = ", ".join("?" * len(chunk))
            rows = self._db.execute(
                "SELECT rowid, key, uuid, external_id, fields, inside FROM remote"  # noqa: S608 - placeholders only
                f" WHERE key IN ({marks}) ORDER BY rowid",
                chunk,
            ).fetchall()
            for rowid, key, uuid, external_id, fields, inside in rows:
                record = RemoteRecord(
                    key, uuid, external_id, json.loads(fields), bool(inside), rowid
                )
                found.setdefault(key, []).append(record)
        return found

    def mark(self, records: Iterable[RemoteRecord]) -> None:
        """Note ``records`` as produced by a model row (not extra)."""
        ids = [record.rowid for record in records]
        for start in range(0, len(ids), _LOOKUP_CHUNK):
            chunk = ids[start : start + _LOOKUP_CHUNK]
            marks = ", ".join("?" * len(chunk))
            self._db.execute(f"UPDATE remote SET seen = 1 WHERE rowid IN ({marks})", chunk)  # noqa: S608

    def defer(self, rows: Sequence[tuple[str, str, Comparable, str]]) -> None:
        """Keep rows (their key, pairing key, expected values and digest) found nowhere
        yet: their customer may have been merged into another (:meth:`deferred`)."""
        self._db.executemany(
            "INSERT INTO deferred VALUES (?, ?, ?, ?)",
            [(row_key, key, json.dumps(want), digest) for row_key, key, want, digest in rows],
        )

    def deferred(
        self, size: int = _LOOKUP_CHUNK
    ) -> Iterator[list[tuple[str, str, Comparable, str]]]:
        """The deferred rows, ``size`` at a time, in the order they were kept."""
        cursor = self._db.execute("SELECT row_key, key, expected, digest FROM deferred")
        while chunk := cursor.fetchmany(size):
            yield [(row_key, key, json.loads(want), digest) for row_key, key, want, digest in chunk]

    @property
    def any_deferred(self) -> bool:
        """Whether any row was deferred."""
        return self._db.execute("SELECT 1 FROM deferred LIMIT 1").fetchone() is not None

    @property
    def any_unseen(self) -> bool:
        """Whether any record of the scope is, so far, produced by no row."""
        return next(self.unseen(), None) is not None

    def add_merged(self, customers: Sequence[Mapping[str, Any]]) -> None:
        """Note each merged customer's other external ids (they name it in a run)."""
        self._db.executemany(
            "INSERT OR IGNORE INTO merged VALUES (?, ?)",
            [
                (other, customer["external_id"])
                for customer in customers
                for other in customer.get("external_ids") or []
                if customer.get("external_id") and other != customer["external_id"]
            ],
        )

    def merged_owner(self, external_id: str) -> str | None:
        """The external id of the customer ``external_id`` was merged into (None: none)."""
        found = self._db.execute(
            "SELECT owner FROM merged WHERE external_id = ?", (external_id,)
        ).fetchone()
        return None if found is None else str(found[0])

    def unseen(self) -> Iterator[RemoteRecord]:
        """Records no model row matched (the scope's extras), in listing order."""
        # a merged customer is held once per external id: extra when none of them is seen
        # (indexed only now: kept up to date while records were added and marked, it
        # cost more than this one build)
        self._db.execute("CREATE INDEX IF NOT EXISTS remote_uuid ON remote (uuid, seen)")
        cursor = self._db.execute(
            "SELECT key, uuid, external_id, fields FROM remote AS r"
            " WHERE seen = 0 AND inside = 1"
            " AND NOT EXISTS (SELECT 1 FROM remote WHERE uuid = r.uuid AND seen = 1)"
            " AND rowid = (SELECT min(rowid) FROM remote WHERE uuid = r.uuid)"
            " ORDER BY rowid"
        )
        for key, uuid, external_id, fields in cursor:
            yield RemoteRecord(key, uuid, external_id, json.loads(fields))

    def count_unseen(self) -> int:
        """How many records no model row matched."""
        return sum(1 for _ in self.unseen())


def match_key(match: str, value: Any) -> str | None:
    """The text a record and a row are paired by (emails compared without case)."""
    if value is None:
        return None
    text = str(value).strip()
    if not text:
        return None
    return text.casefold() if match == "email" else text


@dataclass(frozen=True, slots=True)
class Pairing:
    """How a sync's rows and ChartMogul's records are paired, and where records are listed.

    As a run finds them: contacts among their customer's contacts (external id exactly,
    email without case), customers by email or uuid and contacts by uuid anywhere in the account,
    the rest by external id in the sync's data source.
    """

    object_type: str
    match: str
    #: a contact's key starts with its customer's (``customer_uuid`` when mapped)
    parent: str | None = None

    @classmethod
    def of(cls, object_type: str, match: str, mapped: Iterable[str]) -> Pairing:
        """The pairing of a sync of ``object_type`` matched by ``match``, mapping ``mapped``."""
        if object_type != "contact" or match == "uuid":
            return cls(object_type, match)
        parent = "customer_uuid" if "customer_uuid" in set(mapped) else "customer_external_id"
        return cls(object_type, match, parent)

    @property
    def account_wide(self) -> bool:
        """Whether a run finds the records in any data source (not only the sync's)."""
        return self.match == "uuid" or (self.object_type == "customer" and self.match == "email")

    @property
    def every(self) -> bool:
        """Whether a run updates every record of a key (customers sharing an email)."""
        return self.object_type == "customer" and self.match == "email"

    def merged_keys(self, record: Mapping[str, Any]) -> list[str]:
        """A merged customer's other external ids: a run finds the record by each of them
        (in the data source listed, which the record belongs to)."""
        if self.object_type != "customer" or self.match != "external_id":
            return []
        own = record.get("external_id")
        merged = (match_key(self.match, other) for other in record.get("external_ids") or [])
        return [key for key in merged if key is not None and key != own]

    @property
    def by_customer_external_id(self) -> bool:
        """Whether contacts name their customer by external id (a merge may rename it)."""
        return self.parent == "customer_external_id"

    def rekeyed(self, key: str, owner_of: Callable[[str], str | None]) -> str | None:
        """A contact's ``key`` under the customer its named one was merged into (None: the
        named customer was not merged)."""
        parent, _, own = key.partition(_KEY_SEPARATOR)
        owner = owner_of(parent)
        return None if owner is None else f"{owner}{_KEY_SEPARATOR}{own}"

    def key(self, values: Mapping[str, Any]) -> str | None:
        """The pairing key of a row's payload or a record (None: it cannot be paired)."""
        key = match_key(self.match, values.get(self.match))
        if key is None or self.parent is None:
            return key
        owner = match_key(self.parent, values.get(self.parent))
        # the key as a run compares it: an email without case, an external id exactly
        return None if owner is None else f"{owner}{_KEY_SEPARATOR}{key}"


async def list_merged(index: RemoteIndex, client: ChartMogulClient, data_source_uuid: str) -> None:
    """Note the data source's merged customers' other external ids in ``index``."""
    async for page in _pages(client, "customer", data_source_uuid):
        index.add_merged(page)


async def fill(
    index: RemoteIndex,
    client: ChartMogulClient,
    pairing: Pairing,
    data_source_uuid: str | None,
    *,
    primary_contacts: bool = False,
    plans: bool = False,
) -> int:
    """List the scope's records into ``index``, one page at a time; how many were listed.

    With ``primary_contacts`` (a customer sync mapping ``primary_contact.*``), the contacts
    of the same scope are listed first, and each customer gets its primary contact's fields.
    With ``plans`` (an invoice sync with line items), the data source's plans are listed
    first, and each line item gets its plan's external id (ChartMogul shows the uuid only).
    """
    listed = 0
    object_type = pairing.object_type
    scope = None if pairing.account_wide else data_source_uuid
    if primary_contacts:
        async for page in _pages(client, "contact", scope):
            index.add_contacts(page)
    # a data source has few plans (one page of 200 for most): held in memory
    plan_ids: dict[str, str] = {}
    if plans and scope is not None:
        async for page in _pages(client, "plan", scope):
            plan_ids.update((plan["uuid"], plan["external_id"]) for plan in page)
    async for page in _pages(client, object_type, scope):
        listed += len(page)
        if primary_contacts:
            page = index.with_primary_contacts(page)  # noqa: PLW2901 - the page, completed
        if plan_ids:
            page = [_with_plan_ids(invoice, plan_ids) for invoice in page]  # noqa: PLW2901
        records: list[RemoteRecord] = []
        for raw in page:
            inside = scope is not None or data_source_uuid in _sources(raw)
            keys = [pairing.key(raw), *pairing.merged_keys(raw)]
            if keys[0] is not None or inside:  # a keyless record of the scope is extra
                fields = actual(object_type, raw)
                uuid, external_id = str(raw["uuid"]), raw.get("external_id")
                records.extend(RemoteRecord(key, uuid, external_id, fields, inside) for key in keys)
        index.add(records)
    return listed


def _with_plan_ids(invoice: dict[str, Any], plan_ids: Mapping[str, str]) -> dict[str, Any]:
    """``invoice`` with each line item's ``plan_external_id`` (None: not a plan of the data
    source, e.g. deleted)."""
    lines = [
        {**line, "plan_external_id": plan_ids.get(line["plan_uuid"])}
        if line.get("plan_uuid")
        else line
        for line in invoice.get("line_items") or []
    ]
    return {**invoice, "line_items": lines}


def _sources(raw: Mapping[str, Any]) -> list[str]:
    """The data sources a record belongs to (a merged customer's are several)."""
    return list(raw.get("data_source_uuids") or [raw.get("data_source_uuid")])


async def _pages(
    client: ChartMogulClient, object_type: str, data_source_uuid: str | None
) -> AsyncIterator[list[dict[str, Any]]]:
    """The scope's records as JSON dicts, page by page (the account's without a data
    source)."""
    if object_type == "customer":
        pager: Any = client.customers.list(data_source_uuid=data_source_uuid)
    elif object_type == "contact":
        pager = client.contacts.list(data_source_uuid=data_source_uuid)
    elif object_type == "plan":
        pager = client.plans.list(data_source_uuid=data_source_uuid)
    else:  # invoices, and transactions (which live inside their invoices)
        # disabled ones too (they are reported as such, not as missing)
        pager = client.invoices.list(data_source_uuid=data_source_uuid, with_disabled=True)
    async for page in pager.pages():
        dumped = [item.model_dump(mode="json") for item in page.items]
        if object_type != "transaction":
            yield dumped
            continue
        yield [
            {
                **transaction,
                "invoice_external_id": invoice.get("external_id"),
                "invoice_uuid": invoice.get("uuid"),
                # a transaction of a disabled invoice counts no more than a disabled one
                "disabled": bool(transaction.get("disabled") or invoice.get("disabled")),
            }
            for invoice in dumped
            for transaction in invoice.get("transactions") or []
        ]

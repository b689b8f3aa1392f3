"""ChartMogul's side of a reconcile: every record in the sync's scope, in an embedded table.

The listings are read page by page (200 records a page) and written to a temporary SQLite
file, indexed by the sync's match key, so a reconcile of 100,000 customers holds one page
and one batch of model rows in memory at a time, never the whole account. The file is
deleted when the reconcile ends; one left by a killed process (its owner's file lock
gone) is deleted by the next reconcile, so a server's drift watches never pile them up.

Scopes: customers, plans and contacts of the sync's data source; invoices of the data
source (each with its line items and transactions); for a transaction sync, the
transactions of the data source's invoices.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import sqlite3
import tempfile
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mogulsync.chartmogul import ChartMogulClient
from mogulsync.reconcile.compare import Comparable, actual

#: keys looked up in one SQL statement (below SQLite's bound-variable limit)
_LOOKUP_CHUNK = 500
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

    key: str
    uuid: str
    external_id: str | None
    fields: Comparable


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
            " seen INTEGER NOT NULL DEFAULT 0)"
        )
        self._db.execute("CREATE INDEX remote_key ON remote (key)")
        self.size = 0

    def close(self) -> None:
        """Drop the table and its file."""
        self._db.close()
        self.path.unlink(missing_ok=True)
        self._lock.close()

    def add(self, records: Sequence[RemoteRecord]) -> None:
        """Store one page of records."""
        self._db.executemany(
            "INSERT INTO remote (key, uuid, external_id, fields) VALUES (?, ?, ?, ?)",
            [(r.key, r.uuid, r.external_id, json.dumps(r.fields)) for r in records],
        )
        self.size += len(records)

    def take(self, keys: Sequence[str]) -> dict[str, RemoteRecord]:
        """The record of each key (the first, when several share it), marked as seen."""
        found: dict[str, RemoteRecord] = {}
        for start in range(0, len(keys), _LOOKUP_CHUNK):
            chunk = list(keys[start : start + _LOOKUP_CHUNK])
            marks = ", ".join("?" * len(chunk))
            rows = self._db.execute(
                f"SELECT key, uuid, external_id, fields FROM remote WHERE key IN ({marks})"  # noqa: S608 - placeholders only
                " ORDER BY rowid",
                chunk,
            ).fetchall()
            for key, uuid, external_id, fields in rows:
                if key not in found:
                    found[key] = RemoteRecord(key, uuid, external_id, json.loads(fields))
            self._db.execute(f"UPDATE remote SET seen = 1 WHERE key IN ({marks})", chunk)  # noqa: S608
        return found

    def unseen(self) -> Iterator[RemoteRecord]:
        """Records no model row matched (the scope's extras), in listing order."""
        cursor = self._db.execute(
            "SELECT key, uuid, external_id, fields FROM remote WHERE seen = 0 ORDER BY rowid"
        )
        for key, uuid, external_id, fields in cursor:
            yield RemoteRecord(key, uuid, external_id, json.loads(fields))

    def count_unseen(self) -> int:
        """How many records no model row matched."""
        return int(self._db.execute("SELECT count(*) FROM remote WHERE seen = 0").fetchone()[0])


def match_key(match: str, value: Any) -> str | None:
    """The text a record and a row are paired by (emails compared without case)."""
    if value is None:
        return None
    text = str(value).strip()
    if not text:
        return None
    return text.casefold() if match == "email" else text


async def fill(
    index: RemoteIndex,
    client: ChartMogulClient,
    object_type: str,
    data_source_uuid: str,
    match: str,
) -> int:
    """List the scope's records into ``index``, one page at a time; how many were listed."""
    listed = 0
    async for page in _pages(client, object_type, data_source_uuid):
        listed += len(page)
        records = []
        for raw in page:
            key = match_key(match, raw.get(match))
            if key is not None:
                fields = actual(object_type, raw)
                records.append(RemoteRecord(key, str(raw["uuid"]), raw.get("external_id"), fields))
        index.add(records)
    return listed


async def _pages(
    client: ChartMogulClient, object_type: str, data_source_uuid: str
) -> AsyncIterator[list[dict[str, Any]]]:
    """The scope's records as JSON dicts, page by page."""
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

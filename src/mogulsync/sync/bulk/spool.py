"""A run's bulk-eligible rows, parked in a temporary SQLite file until the model is read.

The model is not ordered by customer, yet one customer's records must go in one import:
rows are spooled with their group key and read back group by group, so memory stays
bounded by one batch whatever the model's size. The file lives under the state directory
(``bulk/spool-<sync tag>-*.sqlite``) and is deleted when the run ends; a file left behind
by a killed run is deleted by the next run of the same sync, under its lock. Spooled rows
are not marked in flight (nothing was sent), so a run that dies before importing them
simply sends them next time.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mogulsync.sync.batch import Classified
from mogulsync.sync.diff import Change, Prior, RowStatus
from mogulsync.sync.mapping import CustomValue, MappedRow

SPOOL_DIR = "bulk"
#: hex digits of the sync name's hash in a spool file name (fixed length: no prefix clashes)
_TAG_LENGTH = 16
#: rows written per INSERT batch and read per fetch
_CHUNK = 1000


class Spool:
    """Rows grouped by key, written once and read back in key order."""

    def __init__(self, state_dir: Path | str, sync: str) -> None:
        directory = Path(state_dir) / SPOOL_DIR
        directory.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(prefix=_prefix(sync), suffix=".sqlite", dir=directory)
        os.close(handle)  # an empty file is an empty SQLite database
        self.path = Path(name)
        self._db = sqlite3.connect(self.path, isolation_level=None)
        self._db.execute("PRAGMA journal_mode = OFF")
        self._db.execute("PRAGMA synchronous = OFF")
        self._db.execute(
            "CREATE TABLE rows (grp TEXT NOT NULL, seq INTEGER PRIMARY KEY, item TEXT NOT NULL)"
        )
        self._pending: list[tuple[str, str]] = []
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def add(self, group: str, item: Classified) -> None:
        """Park a row under its group key."""
        self._pending.append((group, json.dumps(_encode(item), separators=(",", ":"))))
        self._count += 1
        if len(self._pending) >= _CHUNK:
            self._write()

    def groups(self) -> Iterator[tuple[str, list[Classified]]]:
        """Every group with its rows, in group-key order (rows in the order added)."""
        self._write()
        self._db.execute("CREATE INDEX IF NOT EXISTS by_group ON rows (grp, seq)")
        cursor = self._db.execute("SELECT grp, item FROM rows ORDER BY grp, seq")
        current: str | None = None
        rows: list[Classified] = []
        while chunk := cursor.fetchmany(_CHUNK):
            for group, raw in chunk:
                if group != current and rows:
                    yield str(current), rows
                    rows = []
                current = group
                rows.append(_decode(json.loads(raw)))
        if rows:
            yield str(current), rows

    def close(self) -> None:
        """Drop the file."""
        self._db.close()
        self.path.unlink(missing_ok=True)

    def _write(self) -> None:
        if self._pending:
            self._db.execute("BEGIN")
            self._db.executemany("INSERT INTO rows (grp, item) VALUES (?, ?)", self._pending)
            self._db.execute("COMMIT")
            self._pending = []


def discard_spools(state_dir: Path | str, sync: str) -> int:
    """Delete spool files of ``sync`` left by a killed run (call under the sync's lock)."""
    directory = Path(state_dir) / SPOOL_DIR
    stale = list(directory.glob(f"{_prefix(sync)}*.sqlite")) if directory.is_dir() else []
    for path in stale:
        path.unlink(missing_ok=True)
    return len(stale)


def _prefix(sync: str) -> str:
    tag = hashlib.sha256(sync.encode()).hexdigest()[:_TAG_LENGTH]
    return f"spool-{tag}-"


def _encode(item: Classified) -> dict[str, Any]:
    row, prior = item.row, item.prior
    return {
        "key": row.key,
        "payload": row.payload,
        "custom": [[c.key, c.type, c.value] for c in row.custom],
        "digest": row.digest,
        "change": item.change.value,
        "prior": None
        if prior is None
        else [prior.digest, prior.status.value, prior.uuid, prior.ref],
    }


def _decode(raw: dict[str, Any]) -> Classified:
    custom = tuple(CustomValue(key, kind, value) for key, kind, value in raw["custom"])
    row = MappedRow(raw["key"], raw["payload"], custom, raw["digest"])
    prior_raw = raw["prior"]
    prior = (
        None
        if prior_raw is None
        else Prior(prior_raw[0], RowStatus(prior_raw[1]), prior_raw[2], prior_raw[3])
    )
    return Classified(row, Change(raw["change"]), prior)

"""Alert deliveries in the run history: which alert went where, when, and whether it landed.

One row per message sent to a channel after a run (its retries included), delivered or
not, so an operator can see that an alert *was* sent, not only that one failed. Kept
per history name (a sync, or its drift watch ``reconcile:<sync>``): the latest
KEEP_DELIVERIES, older ones deleted as new ones arrive. Targets and errors are stored
redacted (see :func:`mogulsync.alerts.targets.describe_target`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

#: deliveries kept per sync (and per drift watch)
KEEP_DELIVERIES = 100
SCHEMA = """
CREATE TABLE IF NOT EXISTS alert_deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, sync TEXT NOT NULL,
    run_id TEXT NOT NULL, channel TEXT NOT NULL, target TEXT NOT NULL, trigger TEXT NOT NULL,
    delivered INTEGER NOT NULL, error TEXT
);
CREATE INDEX IF NOT EXISTS alert_deliveries_by_sync ON alert_deliveries (sync, id);
-- pruning a run deletes its deliveries by run_id
CREATE INDEX IF NOT EXISTS alert_deliveries_by_run ON alert_deliveries (run_id);
"""
_COLUMNS = "at, sync, run_id, channel, target, trigger, delivered, error"


@dataclass(frozen=True, slots=True)
class AlertDelivery:
    """One alert sent to one channel."""

    #: when the delivery ended (UTC ISO 8601)
    at: str
    sync: str
    run_id: str
    channel: str
    #: the channel's kind and where it points, without secrets (``webhook https://host``)
    target: str
    trigger: str
    delivered: bool
    #: why it was not delivered (redacted)
    error: str | None = None

    def as_dict(self) -> dict[str, object]:
        """The API's object."""
        return {
            "at": self.at,
            "sync": self.sync,
            "run_id": self.run_id,
            "channel": self.channel,
            "target": self.target,
            "trigger": self.trigger,
            "outcome": "delivered" if self.delivered else "failed",
            "error": self.error,
        }


def add(db: sqlite3.Connection, deliveries: Sequence[AlertDelivery]) -> None:
    """Record deliveries and drop each of their syncs' oldest beyond KEEP_DELIVERIES."""
    if not deliveries:
        return
    db.execute("BEGIN")
    try:
        db.executemany(
            f"INSERT INTO alert_deliveries ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",  # noqa: S608 - constant columns
            [
                (d.at, d.sync, d.run_id, d.channel, d.target, d.trigger, int(d.delivered), d.error)
                for d in deliveries
            ],
        )
        for sync in sorted({d.sync for d in deliveries}):
            db.execute(
                "DELETE FROM alert_deliveries WHERE sync = ? AND id <= (SELECT id FROM"
                " alert_deliveries WHERE sync = ? ORDER BY id DESC LIMIT 1 OFFSET ?)",
                (sync, sync, KEEP_DELIVERIES),
            )
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise


def keep_runs(db: sqlite3.Connection, sync: str, run_ids: Sequence[str]) -> int:
    """Delete ``sync``'s deliveries about runs other than ``run_ids`` (a history kept
    elsewhere, as the extract's, dropped them); how many."""
    marks = ", ".join("?" * len(run_ids))
    kept = f" AND run_id NOT IN ({marks})" if run_ids else ""
    cursor = db.execute(
        f"DELETE FROM alert_deliveries WHERE sync = ?{kept}",  # noqa: S608 - placeholders only
        (sync, *run_ids),
    )
    return cursor.rowcount


def latest(db: sqlite3.Connection, syncs: Sequence[str], limit: int) -> list[AlertDelivery]:
    """The latest deliveries about any of ``syncs``, newest first."""
    if not syncs:
        return []
    marks = ", ".join("?" * len(syncs))
    rows = db.execute(
        f"SELECT {_COLUMNS} FROM alert_deliveries WHERE sync IN ({marks})"  # noqa: S608 - placeholders only
        " ORDER BY id DESC LIMIT ?",
        (*syncs, limit),
    )
    return [
        AlertDelivery(at, sync, run_id, channel, target, trigger, bool(delivered), error)
        for at, sync, run_id, channel, target, trigger, delivered, error in rows
    ]

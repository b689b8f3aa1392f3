"""Alert deliveries in the run history: which alert went where, when, and whether it landed.

One row per message sent to a channel after a run (its retries included), delivered or
not, so an operator can see that an alert *was* sent, not only that one failed. Kept
per history name (a sync, its drift watch ``reconcile:<sync>``, ``extract``, ``events``):
the latest KEEP_DELIVERIES problem and recovery deliveries and, apart from them, the latest
KEEP_DELIVERIES success notices (``on_success``), older ones deleted as new ones arrive. Kept
apart because a sync that runs every few minutes with ``on_success`` would otherwise push
its failures out within hours. Targets and errors are stored redacted (see
:func:`mogulsync.alerts.targets.describe_target`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

#: deliveries kept per history name, of each kind (problems and recoveries; successes)
KEEP_DELIVERIES = 100
#: the trigger of success notices (``on_success``), kept apart from the others
SUCCESS_TRIGGER = "succeeded"
SCHEMA = """
CREATE TABLE IF NOT EXISTS alert_deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, sync TEXT NOT NULL,
    run_id TEXT NOT NULL, channel TEXT NOT NULL, target TEXT NOT NULL, trigger TEXT NOT NULL,
    delivered INTEGER NOT NULL, error TEXT
);
-- listing a sync's latest, and pruning each kind (a walk back over at most the sync's kept rows)
CREATE INDEX IF NOT EXISTS alert_deliveries_by_sync ON alert_deliveries (sync, id);
-- pruning a run deletes its deliveries by run_id
CREATE INDEX IF NOT EXISTS alert_deliveries_by_run ON alert_deliveries (run_id);
"""
_COLUMNS = "at, sync, run_id, channel, target, trigger, delivered, error"
#: a sync's deliveries of one kind beyond its latest KEEP_DELIVERIES of that kind (the
#: kind is given twice: whether ``trigger`` is SUCCESS_TRIGGER, 1 or 0)
PRUNE = (
    "DELETE FROM alert_deliveries WHERE sync = ? AND (trigger = ?) = ? AND id <= ("
    "SELECT id FROM alert_deliveries WHERE sync = ? AND (trigger = ?) = ?"
    " ORDER BY id DESC LIMIT 1 OFFSET ?)"
)


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

    @property
    def is_success(self) -> bool:
        """Whether this is a success notice (kept apart from problems and recoveries)."""
        return self.trigger == SUCCESS_TRIGGER

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
    """Record deliveries and drop each of their syncs' oldest beyond KEEP_DELIVERIES, of
    each kind apart (problems and recoveries; successes)."""
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
        for sync, success in sorted({(d.sync, d.is_success) for d in deliveries}):
            kind = (SUCCESS_TRIGGER, int(success))
            db.execute(PRUNE, (sync, *kind, sync, *kind, KEEP_DELIVERIES))
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


def latest(
    db: sqlite3.Connection, syncs: Sequence[str], limit: int, successes: int | None = None
) -> list[AlertDelivery]:
    """The latest deliveries about any of ``syncs``, newest first. With ``successes``: the
    latest ``limit`` problems and recoveries and, apart, the latest ``successes`` success
    notices, so a frequent ``on_success`` does not hide the failures an operator looks for."""
    if not syncs:
        return []
    marks = ", ".join("?" * len(syncs))
    query = f"SELECT id, {_COLUMNS} FROM alert_deliveries WHERE sync IN ({marks})"  # noqa: S608 - placeholders only
    if successes is None:
        rows = list(db.execute(f"{query} ORDER BY id DESC LIMIT ?", (*syncs, limit)))
    else:
        kind = f"{query} AND (trigger = ?) = ? ORDER BY id DESC LIMIT ?"
        rows = [
            *db.execute(kind, (*syncs, SUCCESS_TRIGGER, 0, limit)),
            *db.execute(kind, (*syncs, SUCCESS_TRIGGER, 1, successes)),
        ]
        rows.sort(key=lambda row: int(row[0]), reverse=True)
    return [
        AlertDelivery(at, sync, run_id, channel, target, trigger, bool(delivered), error)
        for _id, at, sync, run_id, channel, target, trigger, delivered, error in rows
    ]


def of_run(db: sqlite3.Connection, run_id: str) -> list[AlertDelivery]:
    """Every delivery about run ``run_id`` (a late retry's too), oldest first."""
    rows = db.execute(
        f"SELECT {_COLUMNS} FROM alert_deliveries WHERE run_id = ? ORDER BY id",  # noqa: S608 - constant columns
        (run_id,),
    )
    return [
        AlertDelivery(at, sync, run, channel, target, trigger, bool(delivered), error)
        for at, sync, run, channel, target, trigger, delivered, error in rows
    ]

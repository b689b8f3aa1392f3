"""Sync, drift-watch and extract alerts a channel did not take, waiting in runs.sqlite.

Each row is one alert to one channel (``job`` is the history name: a sync,
``reconcile:<sync>``, ``extract``), with its message as stored (already redacted, see
:mod:`mogulsync.alerts.resend`). The rules of what waits are the events forwarder's
(:class:`~mogulsync.alerts.events_retry.Outbox`, the job standing for its condition): per job
and channel at most the newest problem and a recovery behind it, and nothing a day old.

A process takes rows out in one write transaction before sending them (so two processes
sharing the file never both send one) and puts back those a channel refused again.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence

from mogulsync.alerts.events_retry import GIVE_UP_S, Outbox, Undelivered

SCHEMA = """
CREATE TABLE IF NOT EXISTS alert_retries (
    id INTEGER PRIMARY KEY AUTOINCREMENT, job TEXT NOT NULL, channel TEXT NOT NULL,
    kind TEXT NOT NULL, message TEXT NOT NULL, found_at REAL NOT NULL,
    opens INTEGER NOT NULL, failures INTEGER NOT NULL, next_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS alert_retries_by_job ON alert_retries (job, channel, id);
CREATE TABLE IF NOT EXISTS alert_retries_delivered (
    job TEXT NOT NULL, channel TEXT NOT NULL, found_at REAL NOT NULL,
    PRIMARY KEY (job, channel)
);
"""
_COLUMNS = "job, channel, kind, message, found_at, opens, failures, next_at"


def _row(item: Undelivered) -> tuple[object, ...]:
    return (
        item.condition,
        item.channel,
        item.kind,
        json.dumps(item.message, sort_keys=True),
        item.found_at,
        int(item.opens),
        item.failures,
        item.next_at,
    )


def _item(row: Sequence[object]) -> Undelivered | None:
    job, channel, kind, message, found_at, opens, failures, next_at = row
    try:
        stored = json.loads(str(message))
    except ValueError:
        return None  # garbled: dropped
    if not isinstance(stored, dict):
        return None
    return Undelivered(
        channel=str(channel),
        condition=str(job),
        kind=str(kind),
        message=stored,
        found_at=float(str(found_at)),
        opens=bool(opens),
        failures=int(str(failures)),
        next_at=float(str(next_at)),
    )


def _lines(db: sqlite3.Connection, where: str, args: Sequence[object]) -> Outbox:
    rows = db.execute(
        f"SELECT {_COLUMNS} FROM alert_retries WHERE {where} ORDER BY id",  # noqa: S608 - constant text
        tuple(args),
    )
    return Outbox([item for row in rows if (item := _item(row)) is not None])


def take(
    db: sqlite3.Connection,
    now: float,
    *,
    job: str | None = None,
    channels: Sequence[str] = (),
    due_only: bool = True,
) -> list[Undelivered]:
    """Remove and return the waiting alerts to send now, in order: per job and channel the
    whole line when its first is due (``due_only=False``: whatever waits), of ``job`` only
    when given, of ``channels`` only when given. Alerts a day old are dropped unsent."""
    where, args = "1", []
    if job is not None:
        where, args = "job = ?", [job]
    if channels:
        where += f" AND channel IN ({', '.join('?' * len(channels))})"
        args += list(channels)
    # a read first: serve looks every second, and most looks find nothing to send
    if due_only and not _anything_due(db, where, args, now):
        return []
    db.execute("BEGIN IMMEDIATE")  # the claim: another process waits, then finds them gone
    try:
        db.execute("DELETE FROM alert_retries WHERE found_at < ?", (now - GIVE_UP_S,))
        _drop_stale(db)
        outbox = _lines(db, where, args)
        taken = outbox.take_due(now if due_only else float("inf"))
        keys = {(item.condition, item.channel) for item in taken}
        db.executemany("DELETE FROM alert_retries WHERE job = ? AND channel = ?", sorted(keys))
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    return taken


def _drop_stale(db: sqlite3.Connection) -> None:
    """Drop what waits behind news the channel already took: another process (serve's
    round, a run) delivered a newer alert of the job while this one was claimed elsewhere;
    sent now, it would come after (PagerDuty: a trigger after its resolve)."""
    db.execute(
        "DELETE FROM alert_retries WHERE found_at < (SELECT d.found_at FROM"
        " alert_retries_delivered d WHERE d.job = alert_retries.job"
        " AND d.channel = alert_retries.channel)"
    )


def delivered(db: sqlite3.Connection, items: Sequence[Undelivered]) -> None:
    """Note, per job and channel, the newest alert a channel took (see :func:`_drop_stale`)."""
    if not items:
        return
    db.executemany(
        "INSERT INTO alert_retries_delivered (job, channel, found_at) VALUES (?, ?, ?)"
        " ON CONFLICT (job, channel) DO UPDATE SET found_at ="
        " max(found_at, excluded.found_at)",
        [(item.condition, item.channel, item.found_at) for item in items],
    )


def _anything_due(db: sqlite3.Connection, where: str, args: Sequence[object], now: float) -> bool:
    """Whether a row is due or too old (a line's second is due with its first: it never is
    due alone before it)."""
    query = f"SELECT 1 FROM alert_retries WHERE {where} AND (next_at <= ? OR found_at < ?) LIMIT 1"  # noqa: S608 - constant text
    return db.execute(query, (*args, now, now - GIVE_UP_S)).fetchone() is not None


def put_back(db: sqlite3.Connection, items: Sequence[Undelivered]) -> None:
    """Keep ``items`` waiting (older than anything kept meanwhile: a newer problem found by
    another process replaces them, by the Outbox rules)."""
    keys = sorted({(item.condition, item.channel) for item in items})
    if not keys:
        return
    db.execute("BEGIN IMMEDIATE")
    try:
        for job, channel in keys:
            outbox = _lines(db, "job = ? AND channel = ?", [job, channel])
            newest = db.execute(
                "SELECT found_at FROM alert_retries_delivered WHERE job = ? AND channel = ?",
                (job, channel),
            ).fetchone()
            # older than news the channel took meanwhile (from another process): stale
            mine = [
                i
                for i in items
                if (i.condition, i.channel) == (job, channel)
                and (newest is None or i.found_at >= newest[0])
            ]
            outbox.put_back(mine)
            db.execute("DELETE FROM alert_retries WHERE job = ? AND channel = ?", (job, channel))
            db.executemany(
                f"INSERT INTO alert_retries ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",  # noqa: S608 - constant columns
                [_row(item) for item in outbox.items],
            )
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise


def waiting(db: sqlite3.Connection, job: str | None = None) -> list[Undelivered]:
    """What waits (of ``job``), oldest first (tests and diagnostics)."""
    if job is None:
        return _lines(db, "1", []).items
    return _lines(db, "job = ?", [job]).items

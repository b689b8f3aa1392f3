"""Extract runs (``mogulsync serve``'s and ``mogulsync extract run``'s), kept in
``schedule.sqlite`` so they outlive a restart and the alerts can tell a recovery.

A run still ``running`` when the server starts (and holds the state directory's lock),
while no process holds the extract's lock (``extract/lock.py``), belonged to a process
that died: it is marked ``interrupted`` (dlt loads whatever that
run had extracted at the next run's start). Its records read so far are written while it
runs, at most every PROGRESS_EVERY_S, so an interrupted run still says how far it got.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mogulsync._sqlite_file import connect_shared, readable_database

#: the server's schedule file (``mogulsync.serve.scheduler.SCHEDULE_FILE``), which has kept
#: the extract runs since before the command line recorded its own; the engine cannot import
#: the server, so the name is said twice (a test checks they agree)
HISTORY_FILE = "schedule.sqlite"
#: statuses of runs that ended on their own (cancelled and interrupted ones are passed over)
FINISHED = frozenset({"success", "failed"})

#: extract runs kept (and listed by the API and the Extract page)
KEEP_RUNS = 50
#: a running extract's records read are written at most this often
PROGRESS_EVERY_S = 2.0
#: the clock of that wait (tests drive it)
_clock: Callable[[], float] = time.monotonic


@dataclass(slots=True)
class ExtractRun:
    """One extract run (started by the server or by `mogulsync extract run`)."""

    run_id: str
    status: str
    started_at: str
    finished_at: str | None = None
    report: dict[str, Any] | None = None
    message: str | None = None
    #: records read so far, by stream (while it runs; the report has the final counts)
    progress: dict[str, int] = field(default_factory=dict)


_COLUMNS = "run_id, status, started_at, finished_at, report, message, progress"


class ExtractHistory:
    """Extract runs, newest first, in the server's ``schedule.sqlite``."""

    def __init__(self, state_dir: Path | str) -> None:
        path = Path(state_dir) / HISTORY_FILE
        # a file that cannot be opened or read is named, with the fix (not a traceback);
        # WAL: serve and a cron's `extract run` write it at once
        self._db = connect_shared(path, "extract history")
        with readable_database(path, "extract history"):
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS extract_runs (run_id TEXT PRIMARY KEY,"
                " status TEXT NOT NULL, started_at TEXT NOT NULL, finished_at TEXT,"
                " report TEXT, message TEXT, progress TEXT)"
            )
            columns = {row[1] for row in self._db.execute("PRAGMA table_info(extract_runs)")}
            if "progress" not in columns:  # a file from before progress was kept
                self._db.execute("ALTER TABLE extract_runs ADD COLUMN progress TEXT")
        self._progress_at = _clock()

    def mark_interrupted(self) -> int:
        """Runs still ``running`` belonged to a process that died: ``interrupted``; how many.

        Only the server holding the state directory's lock, and the extract's lock, may say
        so (a second server, or `extract run` in progress, must not see its run relabelled).
        """
        with self._db:
            cursor = self._db.execute(
                "UPDATE extract_runs SET status = 'interrupted',"
                " message = 'the process running it stopped while it ran' WHERE status = 'running'"
            )
        return cursor.rowcount

    def save(self, run: ExtractRun) -> None:
        """Record a run as it starts and again as it ends; keep the latest KEEP_RUNS."""
        with self._db:
            self._db.execute("BEGIN")
            # an upsert keeps the run's rowid: the order runs started in, whatever the wall
            # clock said (stepped back, a newer run's start time is older than the last)
            self._db.execute(
                "INSERT INTO extract_runs (run_id, status, started_at, finished_at, report,"
                " message, progress) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (run_id) DO"
                " UPDATE SET status = excluded.status, finished_at = excluded.finished_at,"
                " report = excluded.report, message = excluded.message,"
                " progress = excluded.progress",
                (
                    run.run_id,
                    run.status,
                    run.started_at,
                    run.finished_at,
                    json.dumps(run.report) if run.report is not None else None,
                    run.message,
                    json.dumps(run.progress),
                ),
            )
            self._db.execute(
                "DELETE FROM extract_runs WHERE run_id NOT IN"
                " (SELECT run_id FROM extract_runs ORDER BY rowid DESC LIMIT ?)",
                (KEEP_RUNS,),
            )

    def progress_due(self) -> bool:
        """Whether PROGRESS_EVERY_S passed since the last write was due; True claims this
        one (asked from the extract's thread, written later on the loop's)."""
        now = _clock()
        if now - self._progress_at < PROGRESS_EVERY_S:
            return False
        self._progress_at = now
        return True

    def save_progress(self, run_id: str, progress: dict[str, int]) -> None:
        """A running extract's records read so far, by stream."""
        self._db.execute(
            "UPDATE extract_runs SET progress = ? WHERE run_id = ? AND status = 'running'",
            (json.dumps(progress), run_id),
        )

    def get(self, run_id: str) -> ExtractRun | None:
        """One run, or None."""
        row = self._db.execute(
            f"SELECT {_COLUMNS} FROM extract_runs WHERE run_id = ?",  # noqa: S608 - constant
            (run_id,),
        ).fetchone()
        return None if row is None else _run(row)

    def latest(self, limit: int = KEEP_RUNS) -> list[ExtractRun]:
        """The latest runs, newest first."""
        rows = self._db.execute(
            f"SELECT {_COLUMNS} FROM extract_runs ORDER BY rowid DESC LIMIT ?",  # noqa: S608 - constant
            (limit,),
        )
        return [_run(row) for row in rows]

    def previous_finished(self, run_id: str) -> ExtractRun | None:
        """The latest run other than ``run_id`` that ended on its own (success or failed)."""
        return next(
            (run for run in self.latest() if run.run_id != run_id and run.status in FINISHED),
            None,
        )

    def close(self) -> None:
        """Close the database."""
        self._db.close()


def _run(row: tuple[Any, ...]) -> ExtractRun:
    run_id, status, started_at, finished_at, report, message, progress = row
    return ExtractRun(
        run_id,
        status,
        started_at,
        finished_at,
        json.loads(report) if report else None,
        message,
        json.loads(progress) if progress else {},
    )

"""The run history's retention (``run_history:``), applied at the end of every run.

Run by the run that just finished, so ``sync run`` from cron and ``mogulsync serve`` both
keep ``runs.sqlite`` bounded without a separate job. The pages the deletes free are then
given back to the disk (:mod:`mogulsync._sqlite_space`), so the file's size follows what
it holds.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

from mogulsync._redact import Redactor
from mogulsync.config.run_history import RunHistoryConfig
from mogulsync.runs.store import RunStore

logger = logging.getLogger(__name__)
SECONDS_PER_DAY = 86_400


def prune_history(runs: RunStore, policy: RunHistoryConfig, now: dt.datetime) -> None:
    """Delete what ``policy`` no longer keeps; never raises (a run must not fail on it)."""
    try:
        deleted, logs_deleted = runs.prune(
            runs_before=_cutoff(now, policy.keep_days),
            requests_before=_cutoff(now, policy.keep_requests_days),
            keep_last=policy.keep_last,
            errors_before=_cutoff(now, policy.keep_errors_days),
        )
    except Exception as exc:  # e.g. the history is locked by a long reader: next run tries
        logger.warning("run history retention skipped: %s", exc)
        return
    if deleted or logs_deleted:
        logger.info(
            "run history: deleted %d old run(s) and the request logs of %d more",
            deleted,
            logs_deleted,
        )
    try:
        runs.reclaim_space()
    except Exception as exc:  # the rows are gone either way; the next run gives space back
        logger.warning("run history: freed space not given back yet: %s", exc)


def prune_history_at(
    state_dir: Path | str, redactor: Redactor, policy: RunHistoryConfig, now: dt.datetime
) -> None:
    """:func:`prune_history` on a connection of its own, opened and closed by the calling
    thread; never raises.

    Runs prune off the event loop (``asyncio.to_thread``). On the run's own connection,
    a run cancelled meanwhile (Ctrl-C, a server stopping) closed that connection in the
    loop's thread while the worker thread was still deleting: the prune was lost, and a
    sqlite3 connection must not be closed while another thread runs statements on it.
    """
    try:
        runs = RunStore(state_dir, redactor)
    except Exception as exc:  # e.g. runs.sqlite replaced meanwhile: the next run tries
        logger.warning("run history retention skipped: %s", exc)
        return
    try:
        prune_history(runs, policy, now)
    finally:
        runs.close()


def _cutoff(now: dt.datetime, days: float | None) -> dt.datetime | None:
    if days is None:
        return None
    try:
        return now - dt.timedelta(seconds=days * SECONDS_PER_DAY)
    except OverflowError:  # `.inf` or 1,000,000 days: before year 1, so nothing is older
        return None

"""One extract run taken under the extract lock, recorded in the extract history, alerted on.

The one path of ``mogulsync extract run`` and of Dagster's extract assets, so that a
materialization is refused while a cron or ``serve`` extract runs (and the other way
round), is listed on serve's Extract page, and alerts and recovers as any extract does.
(``mogulsync serve`` runs its extracts on its event loop, cancellable between pages, with
the same lock and the same :mod:`~mogulsync.extract.recording` steps.)
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING

from mogulsync.extract.history import ExtractHistory
from mogulsync.extract.lock import ExtractLock
from mogulsync.extract.recording import (
    ExtractWatch,
    alert_after,
    begin,
    end,
    progress_keeper,
    retry_alerts,
    save_quietly,
)

if TYPE_CHECKING:
    from mogulsync.config import AppConfig
    from mogulsync.extract.runner import ExtractOptions, ExtractReport

#: the message of a run stopped by an interrupt (Ctrl-C) rather than by an error
STOPPED_BY_USER = "stopped by the user (Ctrl-C)"


def recorded_extract(
    project: AppConfig,
    options: ExtractOptions,
    run: Callable[[ExtractWatch], ExtractReport],
    *,
    run_id: str | None = None,
    warn: Callable[[str], None],
    stopped: str = STOPPED_BY_USER,
) -> ExtractReport:
    """``run(watch)`` (which runs the extract, telling ``watch`` what it does) under the
    lock, recorded and alerted on; its report, or its error re-raised once recorded.

    :class:`~mogulsync.extract.lock.ExtractLockedError` when another extract of the
    ``state_dir`` runs (nothing is recorded then). ``warn`` hears of each alert that could
    not be delivered; an interrupt (``BaseException``) ends the run ``cancelled`` with the
    message ``stopped`` and alerts nobody.
    """
    lock = ExtractLock(project.state_dir)
    lock.acquire()  # before the history: a refused run records nothing
    try:
        history = ExtractHistory(project.state_dir)
    except BaseException:  # given back now, not when the process ends (a library caller)
        lock.release()
        raise
    try:
        record = begin(history, run_id)
        watch = ExtractWatch(on_progress=progress_keeper(history, record))
        try:
            # inside: a Ctrl-C while a channel still down is retried ends the run cancelled
            asyncio.run(retry_alerts(project, options.destination))
            report = run(watch)
        except Exception as exc:
            end(record, None, exc)
            save_quietly(history, record)
            alerts = alert_after(project, history, record, watch, exc, options.destination)
            for text in asyncio.run(alerts):
                warn(text)
            raise
        except BaseException:  # an interrupt: no alert, and the run is not left "running"
            record.status, record.message = "cancelled", stopped
            record.finished_at = dt.datetime.now(dt.UTC).isoformat()
            save_quietly(history, record)
            raise
        end(record, report.as_dict(), None)
        save_quietly(history, record)
        for text in asyncio.run(
            alert_after(project, history, record, watch, None, options.destination)
        ):
            warn(text)
        return report
    finally:
        history.close()
        lock.release()

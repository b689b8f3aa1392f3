"""The end of every run: close the row sinks, store the final record, send alerts.

Runs in ``SyncEngine.run``'s ``finally`` once the record's status and counts are final.
Nothing here can change how the run ended: a sink that could not finish (e.g. sync logs
with the warehouse down) or an alert that could not be delivered becomes a ``warning:``
line in the run record's message, stored in the run history and printed by the CLI.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from mogulsync._redact import Redactor
from mogulsync.alerts.dispatch import AlertDispatcher
from mogulsync.errors import MogulsyncError
from mogulsync.runs.models import RunRecord
from mogulsync.runs.store import RunStore
from mogulsync.sync.outcomes import RowSink

logger = logging.getLogger(__name__)
WARNING_PREFIX = "warning: "


async def finish_run(
    record: RunRecord,
    runs: RunStore,
    sinks: Sequence[RowSink],
    alerts: AlertDispatcher,
    redactor: Redactor,
) -> None:
    """Close sinks, store ``record``, then alert; never raises (except cancellation)."""
    for sink in sinks:
        try:
            # a sink may wait for a warehouse: keep the event loop free meanwhile
            await asyncio.to_thread(sink.close, record)
        except Exception as exc:
            add_warning(record, redactor.text(_describe(exc)))
    runs.finish(record)
    try:
        warnings = await alerts.after_run(record, runs)
    except Exception as exc:  # a bug in alerting must not turn into a failed run
        warnings = [redactor.text(f"alerts: {_describe(exc)}")]
    if warnings:
        for warning in warnings:
            add_warning(record, warning)
        runs.finish(record)


def add_warning(record: RunRecord, text: str) -> None:
    """Append a warning line to the run's message."""
    logger.info("run %s of %s: %s", record.run_id, record.sync, text)
    line = f"{WARNING_PREFIX}{text}"
    record.message = f"{record.message}\n{line}" if record.message else line


def _describe(exc: Exception) -> str:
    if isinstance(exc, MogulsyncError):
        return exc.user_message
    return f"{type(exc).__name__}: {exc}"

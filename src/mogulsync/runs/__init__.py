"""Run history: runs, row errors and the per-request log, redacted, in SQLite."""

from __future__ import annotations

from mogulsync.runs.models import RowCounts, RowError, RunRecord, RunStatus
from mogulsync.runs.store import RunNotFoundError, RunStore, new_run_id

__all__ = [
    "RowCounts",
    "RowError",
    "RunNotFoundError",
    "RunRecord",
    "RunStatus",
    "RunStore",
    "new_run_id",
]

"""Run history: runs, row errors and the per-request log, redacted, in SQLite."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mogulsync._lazy import lazy_exports

if TYPE_CHECKING:
    from mogulsync.runs.models import RowCounts, RowError, RunRecord, RunStatus
    from mogulsync.runs.store import RunNotFoundError, RunStore, new_run_id

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "RowCounts": "mogulsync.runs.models",
        "RowError": "mogulsync.runs.models",
        "RunRecord": "mogulsync.runs.models",
        "RunStatus": "mogulsync.runs.models",
        "RunNotFoundError": "mogulsync.runs.store",
        "RunStore": "mogulsync.runs.store",
        "new_run_id": "mogulsync.runs.store",
    },
)

__all__ = [
    "RowCounts",
    "RowError",
    "RunNotFoundError",
    "RunRecord",
    "RunStatus",
    "RunStore",
    "new_run_id",
]

"""Reverse ETL: warehouse models into ChartMogul customers, contacts, plans and invoices."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mogulsync._lazy import lazy_exports

if TYPE_CHECKING:
    from mogulsync.sync.check import CheckResult, check_project
    from mogulsync.sync.engine import SyncEngine
    from mogulsync.sync.mapping import MappedRow, Mapper, MappingConfigError, RowProblem
    from mogulsync.sync.plan import SyncPlan, plan_sync
    from mogulsync.sync.state import StateStore, SyncLock, SyncLockedError

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "CheckResult": "mogulsync.sync.check",
        "check_project": "mogulsync.sync.check",
        "SyncEngine": "mogulsync.sync.engine",
        "MappedRow": "mogulsync.sync.mapping",
        "Mapper": "mogulsync.sync.mapping",
        "MappingConfigError": "mogulsync.sync.mapping",
        "RowProblem": "mogulsync.sync.mapping",
        "SyncPlan": "mogulsync.sync.plan",
        "plan_sync": "mogulsync.sync.plan",
        "StateStore": "mogulsync.sync.state",
        "SyncLock": "mogulsync.sync.state",
        "SyncLockedError": "mogulsync.sync.state",
    },
)

__all__ = [
    "CheckResult",
    "MappedRow",
    "Mapper",
    "MappingConfigError",
    "RowProblem",
    "StateStore",
    "SyncEngine",
    "SyncLock",
    "SyncLockedError",
    "SyncPlan",
    "check_project",
    "plan_sync",
]

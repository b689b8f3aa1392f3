"""Reverse ETL: warehouse models into ChartMogul customers, contacts, plans and invoices."""

from __future__ import annotations

from mogulsync.sync.check import CheckResult, check_project
from mogulsync.sync.engine import SyncEngine
from mogulsync.sync.mapping import MappedRow, Mapper, MappingConfigError, RowProblem
from mogulsync.sync.plan import SyncPlan, plan_sync
from mogulsync.sync.state import StateStore, SyncLock, SyncLockedError

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

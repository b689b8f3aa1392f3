"""Reconcile: compare a sync's model with what ChartMogul holds, and adopt existing records."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mogulsync._lazy import lazy_exports

if TYPE_CHECKING:
    from mogulsync.reconcile.report import ReconcileReport
    from mogulsync.reconcile.runner import reconcile

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "ReconcileReport": "mogulsync.reconcile.report",
        "reconcile": "mogulsync.reconcile.runner",
    },
)

__all__ = ["ReconcileReport", "reconcile"]

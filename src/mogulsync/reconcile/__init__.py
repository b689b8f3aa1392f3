"""Reconcile: compare a sync's model with what ChartMogul holds, and adopt existing records."""

from __future__ import annotations

from mogulsync.reconcile.report import ReconcileReport
from mogulsync.reconcile.runner import reconcile

__all__ = ["ReconcileReport", "reconcile"]

"""The bulk JSON import path: spool new rows, import them in batches, map results back."""

from __future__ import annotations

from mogulsync.sync.bulk.eligibility import BULK_OBJECTS, bulk_group, row_ref, uses_bulk
from mogulsync.sync.bulk.runner import BulkHost, BulkRunner, BulkSettings
from mogulsync.sync.bulk.spool import Spool, discard_spools

__all__ = [
    "BULK_OBJECTS",
    "BulkHost",
    "BulkRunner",
    "BulkSettings",
    "Spool",
    "bulk_group",
    "discard_spools",
    "row_ref",
    "uses_bulk",
]

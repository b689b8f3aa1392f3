"""Warehouse-native diff: a sync's snapshot in its own warehouse, diffed there with SQL.

``state: warehouse`` on a sync keeps its snapshot in ``<state_schema>.warehouse_snapshot``
of the model's warehouse and computes added/changed/removed there (see docs/sync.md, "Where
the state lives"), so only the rows to send ever leave the warehouse.
"""

from __future__ import annotations

from mogulsync.sync.warehouse_diff.query import DiffQuery, hashed_columns
from mogulsync.sync.warehouse_diff.store import WarehouseState, snapshot_tables
from mogulsync.sync.warehouse_diff.stream import DiffStream, SqlDigestMapper, open_diff

__all__ = [
    "DiffQuery",
    "DiffStream",
    "SqlDigestMapper",
    "WarehouseState",
    "hashed_columns",
    "open_diff",
    "snapshot_tables",
]

"""Warehouses: typed, batched rows out of any SQLAlchemy-reachable database."""

from __future__ import annotations

from mogulsync.warehouse.base import (
    AttributeType,
    Column,
    ModelCompileError,
    ModelSchema,
    Row,
    WarehouseConfigError,
    WarehouseError,
    WarehouseSource,
)
from mogulsync.warehouse.sqlalchemy_source import SqlAlchemySource
from mogulsync.warehouse.types import attribute_type_for

__all__ = [
    "AttributeType",
    "Column",
    "ModelCompileError",
    "ModelSchema",
    "Row",
    "SqlAlchemySource",
    "WarehouseConfigError",
    "WarehouseError",
    "WarehouseSource",
    "attribute_type_for",
]

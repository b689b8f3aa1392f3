"""The seam between warehouses and the sync engine: a source of typed rows, in batches."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from mogulsync.config.warehouse import ModelConfig
from mogulsync.errors import ConfigError, FatalError

AttributeType = Literal["String", "Integer", "Decimal", "Timestamp", "Boolean"]
Row = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Column:
    """A model column and the ChartMogul custom-attribute type its warehouse type maps to."""

    name: str
    #: the warehouse's own type name, e.g. ``INTEGER`` or ``numeric``
    warehouse_type: str
    attribute_type: AttributeType


@dataclass(frozen=True, slots=True)
class ModelSchema:
    """What compiling a model told us: its columns, in order."""

    columns: tuple[Column, ...]

    @property
    def names(self) -> tuple[str, ...]:
        """Column names in query order."""
        return tuple(column.name for column in self.columns)

    def attribute_type(self, name: str) -> AttributeType:
        """The custom-attribute type of a column (String when unknown)."""
        for column in self.columns:
            if column.name == name:
                return column.attribute_type
        return "String"


class WarehouseError(FatalError):
    """The warehouse could not be reached or refused a query."""


class WarehouseConfigError(WarehouseError, ConfigError):
    """The warehouse's URL must be fixed (a DuckDB file that does not exist, a dialect that is
    not installed): running again cannot help, so it exits 4 like any configuration problem."""


class ModelCompileError(ConfigError):
    """A model's SQL or table does not compile against its warehouse."""


class WarehouseSource(Protocol):
    """Where a model's rows come from; one implementation per family of warehouses."""

    def compile(self, model: ModelConfig) -> ModelSchema:
        """Validate the model without reading its rows; its columns and their types."""
        ...

    def stream(self, model: ModelConfig) -> Iterator[Sequence[Row]]:
        """Every row of the model, in batches; memory stays flat with the model's size."""
        ...

    def rows_matching(
        self, model: ModelConfig, column: str, values: Sequence[Any]
    ) -> Sequence[Row]:
        """The rows of ``model`` whose ``column`` is one of ``values`` (child models)."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...

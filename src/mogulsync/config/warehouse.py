"""``warehouses:`` and ``models:`` — where rows come from."""

from __future__ import annotations

from typing import Self

from pydantic import Field, SecretStr, model_validator

from mogulsync.config._base import ConfigModel


class WarehouseConfig(ConfigModel):
    """A database reachable through SQLAlchemy (DuckDB, PostgreSQL, Snowflake, ...).

    ``url`` may hold a password only through ``${ENV}``; it is kept secret in logs.
    """

    url: SecretStr
    schema_: str | None = Field(default=None, alias="schema", description="default schema")
    batch_size: int = Field(default=5000, ge=1, description="rows fetched per round trip")


class ModelConfig(ConfigModel):
    """A SQL query, table or dbt model in a warehouse, with the column that identifies a row."""

    warehouse: str
    sql: str | None = None
    table: str | None = None
    #: a dbt model name or ``package.model``; its relation is read from the dbt manifest
    dbt: str | None = None
    #: optional only with ``dbt:``, where a ``unique`` test on one column supplies it
    primary_key: str | list[str] | None = None
    #: Dagster asset keys this model reads (``a/b`` for ``["a", "b"]``), beside its own
    deps: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _sql_or_table(self) -> Self:
        if self.dbt is not None:
            if self.sql is not None or self.table is not None:
                raise ValueError("give exactly one of `sql`, `table` or `dbt`")
            return self
        if (self.sql is None) == (self.table is None):
            raise ValueError("give exactly one of `sql` or `table`")
        if self.primary_key is None:
            raise ValueError("`primary_key` is required (it defaults only for `dbt:` models)")
        if self.sql is not None and not self.sql.strip():
            raise ValueError("`sql` is empty")
        return self

    @property
    def primary_key_columns(self) -> tuple[str, ...]:
        """The primary key as a tuple of column names."""
        if self.primary_key is None:  # a `dbt:` model whose manifest was not read
            return ()
        keys = [self.primary_key] if isinstance(self.primary_key, str) else self.primary_key
        return tuple(keys)

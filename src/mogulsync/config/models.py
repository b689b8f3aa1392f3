"""The whole ``mogulsync.yml`` as one typed tree, with cross-references checked."""

from __future__ import annotations

from typing import Any, Self

from pydantic import Field, field_validator, model_validator

from mogulsync.config._base import ConfigModel
from mogulsync.config.alerts import AlertsConfig
from mogulsync.config.chartmogul import ChartMogulConfig
from mogulsync.config.dbt import DbtConfig
from mogulsync.config.events import EventsConfig
from mogulsync.config.extract import ExtractConfig
from mogulsync.config.state import StateStoreConfig
from mogulsync.config.sync import SyncConfig
from mogulsync.config.sync_logs import SyncLogsConfig
from mogulsync.config.warehouse import ModelConfig, WarehouseConfig

DEFAULT_STATE_DIR = ".mogulsync"


class AppConfig(ConfigModel):
    """Everything a project file configures. Loaded once, passed down explicitly."""

    version: int = Field(1, ge=1, le=1)
    chartmogul: ChartMogulConfig
    state_dir: str = Field(DEFAULT_STATE_DIR, description="embedded state and run history")
    state_store: StateStoreConfig | None = Field(
        None, description="team-shared sync state in PostgreSQL (default: embedded SQLite)"
    )
    dbt: DbtConfig | None = Field(None, description="dbt project whose models are sources")
    warehouses: dict[str, WarehouseConfig] = Field(default_factory=dict)
    models: dict[str, ModelConfig] = Field(default_factory=dict)
    syncs: dict[str, SyncConfig] = Field(default_factory=dict)
    extract: ExtractConfig = Field(default_factory=ExtractConfig)
    events: EventsConfig = Field(default_factory=EventsConfig)
    sync_logs: SyncLogsConfig = Field(default_factory=SyncLogsConfig)
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)

    @field_validator("warehouses", mode="before")
    @classmethod
    def _url_shorthand(cls, value: Any) -> Any:
        """``main: duckdb:///w.duckdb`` is short for ``main: {url: duckdb:///w.duckdb}``."""
        if isinstance(value, dict):
            return {k: {"url": v} if isinstance(v, str) else v for k, v in value.items()}
        return value

    @model_validator(mode="after")
    def _references_resolve(self) -> Self:
        problems: list[str] = []
        for name, model in self.models.items():
            if model.dbt is not None and self.dbt is None:
                problems.append(f"models.{name}.dbt: needs a top-level `dbt:` section")
            if model.warehouse not in self.warehouses:
                problems.append(
                    f"models.{name}.warehouse: no warehouse named `{model.warehouse}`"
                    f" (known: {', '.join(sorted(self.warehouses)) or 'none'})"
                )
        for name, sync in self.syncs.items():
            if sync.model not in self.models:
                problems.append(
                    f"syncs.{name}.model: no model named `{sync.model}`"
                    f" (known: {', '.join(sorted(self.models)) or 'none'})"
                )
            if (
                sync.line_items
                and sync.line_items.model
                and sync.line_items.model not in self.models
            ):
                problems.append(
                    f"syncs.{name}.line_items.model: no model named `{sync.line_items.model}`"
                )
            problems.extend(
                f"syncs.{name}.depends_on: no sync named `{other}`"
                for other in sync.depends_on
                if other not in self.syncs
            )
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @model_validator(mode="after")
    def _alert_syncs_exist(self) -> Self:
        problems = [
            f"alerts.rules.{index}.syncs: no sync named `{name}`"
            f" (known: {', '.join(sorted(self.syncs)) or 'none'})"
            for index, rule in enumerate(self.alerts.rules)
            if rule.syncs != "all"
            for name in rule.syncs
            if name not in self.syncs
        ]
        if problems:
            raise ValueError("; ".join(problems))
        return self

"""The whole ``mogulsync.yml`` as one typed tree, with cross-references checked."""

from __future__ import annotations

import re
from typing import Any

from pydantic import Field, field_validator

from mogulsync.config._base import ConfigModel
from mogulsync.config.alerts import AlertsConfig
from mogulsync.config.chartmogul import ChartMogulConfig
from mogulsync.config.dbt import DbtConfig
from mogulsync.config.events import EventsConfig
from mogulsync.config.extract import ExtractConfig
from mogulsync.config.run_history import RunHistoryConfig
from mogulsync.config.serve import ServeConfig
from mogulsync.config.state import StateStoreConfig
from mogulsync.config.sync import SyncConfig
from mogulsync.config.sync_logs import SyncLogsConfig
from mogulsync.config.warehouse import ModelConfig, WarehouseConfig

DEFAULT_STATE_DIR = ".mogulsync"
#: a sync's name becomes a file name under state_dir (its lock) and a key in run history
SYNC_NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")
SYNC_NAME_RULE = (
    "a sync name is 1-100 letters, digits, `_`, `-` or `.`, starting with a letter or digit"
)
#: names of what else has runs and alerts: the extract (its schedule job, runs, alert
#: deliveries, PagerDuty key) and the events forwarder (alert deliveries, PagerDuty key)
RESERVED_SYNC_NAMES = {
    "extract": "the extract's schedule, runs and alerts",
    "events": "the events forwarder's alerts",
}


class AppConfig(ConfigModel):
    """Everything a project file configures. Loaded once, passed down explicitly.

    References between sections (a model's warehouse, a sync's model) are checked by the
    loader on the raw mapping (``references.py``), together with the schema.
    """

    version: int = Field(default=1, ge=1, le=1)
    chartmogul: ChartMogulConfig
    state_dir: str = Field(default=DEFAULT_STATE_DIR, description="embedded state and run history")
    state_store: StateStoreConfig | None = Field(
        default=None, description="team-shared sync state in PostgreSQL (default: embedded SQLite)"
    )
    dbt: DbtConfig | None = Field(default=None, description="dbt project whose models are sources")
    warehouses: dict[str, WarehouseConfig] = Field(default_factory=dict)
    models: dict[str, ModelConfig] = Field(default_factory=dict)
    syncs: dict[str, SyncConfig] = Field(default_factory=dict)
    extract: ExtractConfig = Field(default_factory=ExtractConfig)
    events: EventsConfig = Field(default_factory=EventsConfig)
    sync_logs: SyncLogsConfig = Field(default_factory=SyncLogsConfig)
    run_history: RunHistoryConfig = Field(default_factory=RunHistoryConfig)
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)
    serve: ServeConfig = Field(default_factory=ServeConfig)

    @field_validator("warehouses", mode="before")
    @classmethod
    def _url_shorthand(cls, value: Any) -> Any:
        """``main: duckdb:///w.duckdb`` is short for ``main: {url: duckdb:///w.duckdb}``."""
        if isinstance(value, dict):
            return {k: {"url": v} if isinstance(v, str) else v for k, v in value.items()}
        return value

    @field_validator("syncs", mode="after")
    @classmethod
    def _safe_sync_names(cls, value: dict[str, SyncConfig]) -> dict[str, SyncConfig]:
        """No name may lead a lock file or state path out of ``state_dir`` (``../x``, ``/x``)."""
        bad = [name for name in value if not SYNC_NAME_PATTERN.fullmatch(name)]
        if bad:
            names = ", ".join(f"`{name}`" for name in bad)
            raise ValueError(f"{names}: {SYNC_NAME_RULE}")
        for reserved, what in RESERVED_SYNC_NAMES.items():
            if reserved in value:
                raise ValueError(
                    f"`{reserved}` is reserved: it names {what}; give the sync another name"
                )
        return value

    def written_warehouses(self) -> frozenset[str]:
        """Warehouses a sync run writes into (sync logs, ``state: warehouse`` snapshots).

        The others are only read, so a DuckDB file among them is opened read-only.
        """
        written = {
            self.models[sync.model].warehouse
            for sync in self.syncs.values()
            if sync.model in self.models
            and (sync.state == "warehouse" or (self.sync_logs.enabled and sync.sync_logs))
        }
        return frozenset(written)

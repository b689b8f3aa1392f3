"""Typed configuration: the ``mogulsync.yml`` project file."""

from __future__ import annotations

from mogulsync.config.chartmogul import ChartMogulConfig
from mogulsync.config.events import EventMapping, EventsConfig, EventTrigger
from mogulsync.config.extract import ExtractConfig
from mogulsync.config.loader import (
    DEFAULT_CONFIG_PATH,
    ConfigValidationError,
    load_config,
    parse_config,
)
from mogulsync.config.models import AppConfig
from mogulsync.config.sync import LineItemsConfig, SyncConfig
from mogulsync.config.warehouse import ModelConfig, WarehouseConfig

__all__ = [
    "DEFAULT_CONFIG_PATH",
    "AppConfig",
    "ChartMogulConfig",
    "ConfigValidationError",
    "EventMapping",
    "EventTrigger",
    "EventsConfig",
    "ExtractConfig",
    "LineItemsConfig",
    "ModelConfig",
    "SyncConfig",
    "WarehouseConfig",
    "load_config",
    "parse_config",
]

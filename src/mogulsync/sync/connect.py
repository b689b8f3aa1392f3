"""Wiring from a project file to live objects: client settings, data sources, warehouses."""

from __future__ import annotations

from pydantic import SecretStr

from mogulsync.chartmogul import (
    ChartMogulClient,
    ClientSettings,
    JsonImportPolling,
    NotFoundError,
    SharedLimit,
)
from mogulsync.config import AppConfig, ModelConfig
from mogulsync.errors import ConfigError
from mogulsync.warehouse import SqlAlchemySource

DATA_SOURCE_PREFIX = "ds_"
#: the data source used when a sync names none
DEFAULT_DATA_SOURCE = "mogulsync"


class DataSourceNotFoundError(ConfigError):
    """A sync names a data source uuid that does not exist."""


def client_settings(config: AppConfig) -> ClientSettings:
    """Client settings from the ``chartmogul:`` section."""
    section = config.chartmogul
    return ClientSettings(
        api_key=SecretStr(section.api_key.get_secret_value()),
        base_url=section.base_url,
        rate_limit=section.rate_limit,
        max_in_flight=section.max_in_flight,
        json_import_polling=JsonImportPolling(timeout_s=section.json_import_timeout_s),
        shared_limit=shared_limit(config),
    )


def shared_limit(config: AppConfig) -> SharedLimit:
    """Machine-wide pacing; across machines through the ``state_store`` when there is one."""
    store = config.state_store
    if store is None or not store.url.get_secret_value():
        return SharedLimit()
    return SharedLimit(postgres_url=store.url, postgres_schema=store.schema_)


async def resolve_data_source(
    client: ChartMogulClient, wanted: str | None, *, create: bool
) -> str | None:
    """The uuid of the data source a sync writes to.

    ``wanted`` is a ``ds_`` uuid (it must exist) or a name (created when missing and
    ``create`` is true; otherwise None is returned for "would be created").
    """
    name = wanted or DEFAULT_DATA_SOURCE
    if name.startswith(DATA_SOURCE_PREFIX):
        try:
            return (await client.data_sources.get(name)).uuid
        except NotFoundError:
            raise DataSourceNotFoundError(
                f"data source {name} not found in this ChartMogul account",
                hint="Check the sync's `data_source` (a ds_ uuid or a name to create).",
            ) from None
    found = await client.data_sources.find_by_name(name)
    if found is not None:
        return found.uuid
    if not create:
        return None
    return (await client.data_sources.create(name)).uuid


def open_source(config: AppConfig, model: ModelConfig) -> SqlAlchemySource:
    """The warehouse a model reads from (read-only unless a sync writes into it)."""
    read_only = model.warehouse not in config.written_warehouses()
    return SqlAlchemySource(
        model.warehouse, config.warehouses[model.warehouse], read_only=read_only
    )


def model_of(config: AppConfig, sync_name: str) -> ModelConfig:
    """The model of a sync, or a ConfigError naming the known syncs."""
    if sync_name not in config.syncs:
        known = ", ".join(sorted(config.syncs)) or "none"
        raise ConfigError(f"no sync named `{sync_name}` (known: {known})")
    return config.models[config.syncs[sync_name].model]

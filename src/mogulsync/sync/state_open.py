"""Which state store and run lock a sync uses, from the project file.

* no ``state_store``: the embedded SQLite store and file lock under ``state_dir``;
* ``state_store: {url: ...}``: the team-shared PostgreSQL store and advisory lock;
* a sync with ``state: warehouse``: its snapshot in its model's warehouse
  (:class:`~mogulsync.sync.warehouse_diff.WarehouseState`), known uuids still in the
  store above (every sync shares them); its lock an advisory lock in the warehouse when
  that is PostgreSQL and no ``state_store`` is set.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import make_url

from mogulsync.config import AppConfig
from mogulsync.sync.state import StateStore, SyncLock
from mogulsync.sync.state_protocol import RunLock, SyncState
from mogulsync.sync.warehouse_diff import WarehouseState

POSTGRES_BACKEND = "postgresql"


def open_lock(config: AppConfig, state_dir: Path | str, sync: str) -> RunLock:
    """The one-run-per-sync lock (not yet taken).

    A ``state: warehouse`` sync on a PostgreSQL warehouse takes its advisory lock there:
    its snapshot is shared by every worker that reaches the warehouse, so a file lock on
    one machine could not stop a second machine from sending the same rows.
    """
    # state_postgres (PostgreSQL's dialect, ~0.1 s of imports) only when PostgreSQL is used
    shared = config.state_store
    if shared is not None:
        from mogulsync.sync import state_postgres

        return state_postgres.PostgresSyncLock(
            shared.url.get_secret_value(),
            shared.schema_,
            sync,
            connect_timeout_s=shared.connect_timeout_s,
        )
    settings = config.syncs.get(sync)
    if settings is not None and settings.state == "warehouse":
        warehouse = config.warehouses[config.models[settings.model].warehouse]
        url = warehouse.url.get_secret_value()
        if make_url(url).get_backend_name() == POSTGRES_BACKEND:
            from mogulsync.sync import state_postgres

            return state_postgres.PostgresSyncLock(url, settings.state_schema, sync)
    return SyncLock(state_dir, sync)


def open_main_state(config: AppConfig, state_dir: Path | str) -> SyncState:
    """The project's own store: shared PostgreSQL when configured, else embedded SQLite."""
    shared = config.state_store
    if shared is not None:
        from mogulsync.sync.state_postgres import PostgresStateStore

        return PostgresStateStore(
            shared.url.get_secret_value(),
            shared.schema_,
            connect_timeout_s=shared.connect_timeout_s,
        )
    return StateStore(state_dir)


def open_state(
    config: AppConfig, state_dir: Path | str, sync: str, *, create: bool = True
) -> SyncState:
    """The state a sync's runs read and write (``create=False``: never create tables)."""
    main = open_main_state(config, state_dir)
    settings = config.syncs[sync]
    if settings.state != "warehouse":
        return main
    warehouse = config.models[settings.model].warehouse
    return WarehouseState(
        warehouse, config.warehouses[warehouse], settings.state_schema, main, create=create
    )

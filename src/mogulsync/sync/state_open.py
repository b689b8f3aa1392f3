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
    one machine could not stop a second machine from sending the same rows. A PostgreSQL
    lock is taken together with the sync's lock file in ``state_dir`` (see
    :class:`SharedAndLocalLock`).
    """
    local = SyncLock(state_dir, sync)
    shared = _shared_lock(config, sync)
    return local if shared is None else SharedAndLocalLock(shared, local)


def _shared_lock(config: AppConfig, sync: str) -> RunLock | None:
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
    return None


class SharedAndLocalLock:
    """A PostgreSQL lock (other machines) and the sync's lock file (this ``state_dir``).

    The run history is local (``state_dir/runs.sqlite``), so whether a run recorded there
    is still going is a question about this machine: the lock file answers it without a
    network call, and a server starting on this ``state_dir`` sweeps a sync's ``running``
    runs only when that file is free. The shared lock is taken first: a run refused
    elsewhere leaves the file alone.
    """

    def __init__(self, shared: RunLock, local: SyncLock) -> None:
        self.shared = shared
        self.local = local

    def acquire(self) -> None:
        """Take both, or neither (SyncLockedError / FatalError as the shared lock says)."""
        self.shared.acquire()
        try:
            self.local.acquire()
        except BaseException:
            self.shared.release()
            raise

    def release(self) -> None:
        """Give both back."""
        try:
            self.local.release()
        finally:
            self.shared.release()


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

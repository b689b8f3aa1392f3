"""What the engine, ``sync plan`` and the appliers need from a sync state, whatever holds it.

Three stores implement it: the embedded SQLite :class:`~mogulsync.sync.state.StateStore`,
the team-shared PostgreSQL :class:`~mogulsync.sync.state_postgres.PostgresStateStore`, and
:class:`~mogulsync.sync.warehouse_diff.WarehouseState` (snapshot in the sync's own warehouse,
diffed there with SQL). All keep the same row transitions: ``inflight`` before a request can
leave, ``synced`` only after ChartMogul accepted it (docs/sync.md, "Exactly once").
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Protocol

from mogulsync.sync.diff import Prior

if TYPE_CHECKING:
    from mogulsync.sync.state import RowResult


class SyncState(Protocol):
    """Snapshots, sync definitions and the registry of known uuids."""

    def close(self) -> None:
        """Release connections."""
        ...

    def definition_changed(self, sync: str, definition: str) -> bool:
        """Whether the definition differs from the one the snapshot was built with."""
        ...

    def save_definition(self, sync: str, definition: str) -> None:
        """Remember the definition the snapshot was built with."""
        ...

    def priors(self, sync: str, keys: Sequence[str]) -> dict[str, Prior]:
        """What the snapshot knows about each key (absent keys are new)."""
        ...

    def mark_inflight(self, sync: str, rows: Iterable[tuple[str, str, str | None]]) -> None:
        """Before sending: these (key, digest, ref) rows may reach ChartMogul from now on.

        ``ref`` is the record's external id (None when the object has none): a row that
        leaves the model while in flight is looked up by it, so its record is not orphaned.
        """
        ...

    def record(self, sync: str, results: Sequence[RowResult]) -> None:
        """After answers: accepted rows become synced, the rest failed (or stay in flight)."""
        ...

    def forget(self, sync: str, keys: Sequence[str]) -> None:
        """Drop keys from the snapshot."""
        ...

    def reset(self, sync: str) -> None:
        """Forget a sync's whole snapshot."""
        ...

    def start_seen(self) -> None:
        """Begin collecting the keys the model has in this run."""
        ...

    def see(self, keys: Sequence[str | None], first_row: int = 1) -> list[bool]:
        """Note keys as present; per key, whether it is new (False: a duplicate or None).

        ``keys`` are one batch's rows in order (None: a null key), the first being row
        ``first_row`` of the model as read in this run; each new key keeps its row number.
        """
        ...

    def seen_rows(self, keys: Sequence[str]) -> dict[str, int]:
        """The row number at which each key was first seen in this run (the kept row)."""
        ...

    def unseen(self, sync: str) -> Iterator[tuple[str, Prior]]:
        """Snapshot rows whose key the model no longer has."""
        ...

    def sharing(
        self, sync: str, refs: Sequence[str], uuids: Sequence[str]
    ) -> Iterator[tuple[str, Prior]]:
        """Snapshot rows that may name one of these records: ref in ``refs``, or uuid in
        ``uuids`` (rows holding several uuids are all returned; the caller checks)."""
        ...

    def counts(self, sync: str) -> dict[str, int]:
        """Rows per status in a sync's snapshot."""
        ...

    def known_uuid(self, kind: str, data_source_uuid: str, external_id: str) -> str | None:
        """A uuid learnt earlier for (kind, data source, external id)."""
        ...

    def remember_uuids(self, entries: Sequence[tuple[str, str, str, str]]) -> None:
        """Store (kind, data source, external id, uuid) facts learnt from ChartMogul."""
        ...

    def forget_uuid(self, kind: str, data_source_uuid: str, external_id: str) -> None:
        """Drop a stale uuid (the record was deleted in ChartMogul)."""
        ...


class RunLock(Protocol):
    """One run per sync: taken before a run starts, given back when it ends."""

    def acquire(self) -> None:
        """Take the lock or raise :class:`~mogulsync.sync.state.SyncLockedError` at once."""
        ...

    def release(self) -> None:
        """Give the lock back."""
        ...

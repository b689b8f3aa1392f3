"""The mass-delete safeguard: a run of an ``on_delete: delete`` sync that would delete more
records than ``max_deletes`` allows deletes none and fails.

An upstream table truncated or a dbt model returning no rows reads exactly like "every
customer left": without this check the next scheduled run would delete them all in
ChartMogul. The rows that left stay in the snapshot, so a later run sees them again.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from mogulsync.config.delete_limit import DeleteLimit
from mogulsync.config.sync import SyncConfig
from mogulsync.errors import FatalError
from mogulsync.sync.diff import Prior
from mogulsync.sync.state_protocol import SyncState


class TooManyDeletesError(FatalError):
    """A run would have deleted more records than ``max_deletes`` allows."""

    def __init__(
        self, sync: str, model: str, deletes: int, managed: int, limit: DeleteLimit
    ) -> None:
        allowed = math.floor(limit.allowed(managed))
        super().__init__(
            f"sync `{sync}` would delete {deletes} of its {managed} records in ChartMogul;"
            f" {limit.describe()} allows {allowed}: nothing was deleted, and the rows that"
            " left the model stay in the snapshot",
            hint=(
                f"Check the model `{model}` (an emptied or broken table reads as every row"
                f" leaving); if the deletes are intended, allow them once with `mogulsync sync"
                f" run {sync} --allow-deletes`, or raise `max_deletes` (null turns the limit"
                " off) in the project file."
            ),
        )
        self.sync = sync
        self.deletes = deletes
        self.managed = managed
        self.allowed = allowed
        self.max_deletes = str(limit)
        self._limit_text = limit.describe()

    @property
    def preview(self) -> str:
        """The refusal as ``sync plan`` announces it (nothing has run yet)."""
        return (
            f"it would delete {self.deletes} of its {self.managed} records in ChartMogul;"
            f" {self._limit_text} allows {self.allowed}, so the run would delete none and"
            f" fail. {self.hint}"
        )


@dataclass(frozen=True, slots=True)
class DeleteGuard:
    """What one run of a sync may delete."""

    sync: str
    model: str
    limit: DeleteLimit

    def needs_count(self, deletes: int) -> bool:
        """Whether ``deletes`` may be refused: only then are the managed records counted
        (a run with no deletes, the usual case, costs no count of its snapshot)."""
        return not self.limit.within_whatever_managed(deletes)

    def refusal(self, deletes: int, managed: int) -> TooManyDeletesError | None:
        """The error refusing ``deletes`` of ``managed`` records, or None when allowed."""
        if not self.limit.exceeded(deletes, managed):
            return None
        return TooManyDeletesError(self.sync, self.model, deletes, managed, self.limit)


def guard_for(name: str, sync: SyncConfig, *, allow: bool = False) -> DeleteGuard | None:
    """The run's guard; None when nothing is limited: deletes allowed for this run,
    ``on_delete: ignore`` or ``max_deletes: null``."""
    if allow or sync.on_delete != "delete" or sync.max_deletes is None:
        return None
    return DeleteGuard(name, sync.model, sync.max_deletes)


def snapshot_rows(state: SyncState, sync: str) -> int:
    """Rows in the sync's snapshot, whatever their status (records or not)."""
    return sum(state.counts(sync).values())


def no_record(prior: Prior | None) -> bool:
    """A snapshot row that is no record in ChartMogul: every attempt was refused. Not one
    of the records a percentage counts from: 30 such rows beside 12 delivered made an
    emptied model's 12 deletes read as 12 of 42, under half, and they all went."""
    return prior is not None and not prior.may_exist

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
    """What one run may delete: the sync's limit and the records it managed when it began."""

    sync: str
    model: str
    limit: DeleteLimit | None
    #: rows in the sync's snapshot before the run (records delivered, failed or in flight)
    managed: int

    def refusal(self, deletes: int) -> TooManyDeletesError | None:
        """The error refusing ``deletes`` deletes, or None when they are within the limit."""
        if self.limit is None or not self.limit.exceeded(deletes, self.managed):
            return None
        return TooManyDeletesError(self.sync, self.model, deletes, self.managed, self.limit)


def guard_for(
    name: str, sync: SyncConfig, state: SyncState, *, allow: bool = False
) -> DeleteGuard | None:
    """The run's guard (read before the run writes its snapshot); None when nothing is
    limited: deletes allowed for this run, ``on_delete: ignore`` or ``max_deletes: null``."""
    if allow or sync.on_delete != "delete" or sync.max_deletes is None:
        return None
    managed = sum(state.counts(name).values())
    return DeleteGuard(name, sync.model, sync.max_deletes, managed)

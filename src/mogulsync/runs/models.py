"""Run history records: one run, its row errors and its HTTP requests."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from mogulsync.errors import MogulsyncError


class RunStatus(enum.Enum):
    """How a run ended (docs/errors.md, "Run statuses"). The one list of run statuses.

    A new status (e.g. a control plane's ``cancelled``) is added here and given an exit
    code in ``mogulsync.sync.exit_codes.BY_STATUS``; a test checks that every status has one.
    """

    #: started, not ended yet
    RUNNING = "running"
    #: every row landed (or there was nothing to do)
    SUCCESS = "success"
    #: the run completed, and some rows failed (invalid, rejected, or not delivered)
    PARTIAL = "partial"
    #: the run could not complete: ChartMogul unreachable, auth, configuration, a crash
    FAILED = "failed"
    #: the process died mid-run (found at the start of a later run)
    INTERRUPTED = "interrupted"
    #: not run, because a sync it ``depends_on`` did not complete (``sync run --all``)
    SKIPPED = "skipped"
    #: stopped on request (``mogulsync serve``: cancel, SIGTERM) at a safe point
    CANCELLED = "cancelled"


@dataclass(slots=True)
class RowCounts:
    """Rows by classification and by outcome."""

    added: int = 0
    changed: int = 0
    removed: int = 0
    unchanged: int = 0
    succeeded: int = 0
    failed: int = 0
    #: rows rejected before any call (also counted in ``failed``)
    invalid: int = 0

    def as_dict(self) -> dict[str, int]:
        """The six counts of the JSON summary (invalid rows are part of failed)."""
        return {
            "added": self.added,
            "changed": self.changed,
            "removed": self.removed,
            "unchanged": self.unchanged,
            "succeeded": self.succeeded,
            "failed": self.failed,
        }


#: every ``RowError.kind``, in the order the docs list them (docs/errors.md, "Row errors")
ROW_ERROR_KINDS = ("invalid", "rejected", "transient", "error")


@dataclass(frozen=True, slots=True)
class RowError:
    """One failed row: its key, the ChartMogul field, what happened and what to do."""

    key: str
    field: str
    message: str
    action: str
    #: ``invalid`` (refused before sending), ``rejected`` (ChartMogul said no),
    #: ``transient`` (not delivered: retried on the next run) or ``error`` (a bug)
    kind: str = "rejected"


@dataclass(slots=True)
class RunRecord:
    """A run as stored in the history."""

    run_id: str
    sync: str
    status: RunStatus
    started_at: str
    finished_at: str | None = None
    duration_s: float = 0.0
    rows: RowCounts = field(default_factory=RowCounts)
    api_calls: int = 0
    full: bool = False
    message: str | None = None
    #: the exception that ended the run early (in memory only, never stored)
    error: MogulsyncError | None = field(default=None, repr=False, compare=False)

    def summary(self) -> dict[str, object]:
        """The machine-readable summary printed by ``sync run --json``."""
        return {
            "run_id": self.run_id,
            "sync": self.sync,
            "status": self.status.value,
            "rows": self.rows.as_dict(),
            "api_calls": self.api_calls,
            "duration_s": round(self.duration_s, 3),
        }

"""Per-row outcomes of a run, for whoever wants them row by row (e.g. sync logs writeback).

The engine reports every row it acted on — sent, deleted, or rejected before sending — once,
as a :class:`RowOutcome`, in batches, to each :class:`RowSink` it was given. Unchanged rows
cost nothing and are not reported.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from mogulsync.runs.models import RunRecord


class OutcomeStatus(enum.Enum):
    """How a row ended in this run."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    #: rejected by validation before any call
    INVALID = "invalid"


@dataclass(frozen=True, slots=True)
class RowOutcome:
    """One row's result in one run."""

    key: str
    #: ``added``, ``changed`` or ``removed`` (None for rows invalid before classification)
    operation: str | None
    status: OutcomeStatus
    uuid: str | None = None
    #: what went wrong and what to do, redacted (None when it succeeded)
    error: str | None = None


class RowSink(Protocol):
    """Receives a run's row outcomes as the run goes."""

    def write(self, record: RunRecord, outcomes: Sequence[RowOutcome]) -> None:
        """Take a batch of outcomes of the run ``record``."""
        ...

    def close(self, record: RunRecord) -> None:
        """The run ended (``record`` is final); flush and release resources."""
        ...

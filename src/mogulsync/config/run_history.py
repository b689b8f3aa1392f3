"""``run_history:`` — how long ``runs.sqlite`` keeps runs and their request logs.

A service left running writes a run every few minutes, and each run logs every HTTP
attempt with its bodies: without a bound the history grows for ever. The latest runs of
each sync are always kept whole, whatever their age (debugging, alert rules that look at
the last runs); running runs are never touched.
"""

from __future__ import annotations

from pydantic import Field

from mogulsync.config._base import ConfigModel

DEFAULT_KEEP_DAYS = 90.0
DEFAULT_KEEP_REQUESTS_DAYS = 14.0
#: a run's row errors are debugging detail like its request log: a sync with rows that
#: stay invalid records them all again on every run (2,000 rows: 300 KB a run)
DEFAULT_KEEP_ERRORS_DAYS = 14.0
#: alert rules look at a sync's latest 20 runs: keep at least that many by default
DEFAULT_KEEP_LAST = 50


class RunHistoryConfig(ConfigModel):
    """Retention of the run history (pruned at the end of every run)."""

    keep_days: float | None = Field(
        default=DEFAULT_KEEP_DAYS,
        ge=0,
        description="runs started longer ago than this are deleted with their row errors"
        " and request log (null: keep forever)",
    )
    keep_requests_days: float | None = Field(
        default=DEFAULT_KEEP_REQUESTS_DAYS,
        ge=0,
        description="the request log (bodies included) of runs started longer ago than"
        " this is deleted; the run and its row errors stay (null: keep for as long as the run)",
    )
    keep_errors_days: float | None = Field(
        default=DEFAULT_KEEP_ERRORS_DAYS,
        ge=0,
        description="the row errors of runs started longer ago than this are deleted; the run"
        " and its counts stay (null: keep for as long as the run)",
    )
    keep_last: int = Field(
        default=DEFAULT_KEEP_LAST,
        ge=1,
        description="each sync's latest runs kept whole whatever their age",
    )

"""Exit codes of every ``mogulsync`` command (documented in docs/errors.md)."""

from __future__ import annotations

from mogulsync.runs.models import RunStatus

SUCCESS = 0
#: the run could not complete (unreachable, auth, crash), or a check failed
FAILED = 1
#: Typer/click's own code for a wrong command line
USAGE = 2
#: the run finished, but some rows failed (see `mogulsync runs show RUN_ID --errors`)
PARTIAL = 3
#: the configuration (project file, API key, data source, mapping) must be fixed
CONFIG = 4
#: another run of the same sync is in progress
LOCKED = 5

#: every run status's exit code (a new RunStatus needs an entry: a test checks)
BY_STATUS = {
    RunStatus.SUCCESS: SUCCESS,
    RunStatus.PARTIAL: PARTIAL,
    RunStatus.FAILED: FAILED,
    RunStatus.INTERRUPTED: FAILED,
    RunStatus.RUNNING: FAILED,
    # not run because a parent failed: that parent's failure is the news
    RunStatus.SKIPPED: FAILED,
    # stopped on request (serve: cancel, SIGTERM): the run did not complete
    RunStatus.CANCELLED: FAILED,
}

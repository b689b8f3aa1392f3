"""The cyclic garbage collector in a process that runs one extract and exits (the CLI).

Starting an extract imports dlt, DuckDB, pydantic and our client: ~125,000 objects that
live as long as the process. While they are created the collector runs every few hundred
allocations and, now and then, walks all of them, finding next to no garbage (~0.1 s of
CPU of an empty run); at exit the interpreter walks them all once more (~0.15 s). So the
collector waits until the set-up is done, then those objects are frozen (left out of every
later collection) and collection resumes for the data, whose memory stays bounded as before.

Only for a short-lived process: a frozen object is never collected, which a long-running
host (``mogulsync serve``, Dagster) running extract after extract must not accumulate.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol


class SetUpDone(Protocol):
    """Called once the run is set up, before its first page is loaded."""

    def __call__(self) -> None: ...


@contextmanager
def collector_after_set_up() -> Iterator[SetUpDone]:
    """Pause collection until the yielded callable is called; then freeze and resume.

    However the block ends, the collector is on again afterwards if it was on before (a
    run that failed during its set-up resumes it without freezing anything, one that
    failed later unfreezes what it froze).
    """
    if not gc.isenabled():  # someone switched it off on purpose: leave it so
        yield _nothing
        return
    gc.disable()
    resumed = False

    def set_up_done() -> None:
        nonlocal resumed
        if not resumed:
            resumed = True
            gc.freeze()
            gc.enable()

    try:
        yield set_up_done
    except BaseException:
        # A failed run may end the process the normal way (a crash's traceback), and that
        # teardown must find nothing frozen: DuckDB's bindings would report leaks.
        gc.unfreeze()
        raise
    finally:
        if not resumed:
            gc.enable()


def _nothing() -> None:
    return None

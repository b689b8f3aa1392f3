"""Pause Python's cyclic garbage collector around short, allocation-heavy, bounded work.

Reading and classifying a batch of model rows allocates ~20 container objects per row that
all stay alive until the batch is done. Each allocation burst promotes them to the oldest
generation, so the collector keeps running full collections over every live object of the
process (libraries included) and finds no cycles: ~30 % of the CPU time of a 1M-row diff.
The objects are freed by reference counting when the batch ends; cycles created meanwhile
are collected by the first collection after the pause.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """No cyclic collection inside the block.

    Only a pause that found the collector on turns it back on, so nested pauses (and a
    program that switched it off itself) keep their setting.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()

"""Threads that start in the context of the code that starts them.

A ``threading.Thread`` runs its target in an empty ``contextvars`` context, so a line it
logs loses the run id that ``mogulsync.logs.bound_run`` set for the run that started it
(``mogulsync serve`` runs several runs at once: the process-wide fallback cannot tell
them apart). Every thread the project starts is a :class:`Thread` from here: its target
runs in a copy of the context of the ``start()`` call, as ``asyncio.to_thread`` does.
"""

from __future__ import annotations

import contextvars
import threading
from typing import Any


class Thread(threading.Thread):
    """``threading.Thread`` whose ``run`` sees the context variables of ``start()``.

    A thread that serves the whole process (not one run) is made with
    ``process_wide=True``: it starts in an empty context, or every line it logs would carry
    the id of whichever run happened to start it.
    """

    _context: contextvars.Context | None = None

    def __init__(self, *args: Any, process_wide: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._process_wide = process_wide

    def start(self) -> None:
        self._context = contextvars.Context() if self._process_wide else contextvars.copy_context()
        super().start()

    def run(self) -> None:
        if self._context is None:  # run() called directly: already in the caller's context
            super().run()
        else:
            self._context.run(super().run)

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


class Thread(threading.Thread):
    """``threading.Thread`` whose ``run`` sees the context variables of ``start()``."""

    _context: contextvars.Context | None = None

    def start(self) -> None:
        self._context = contextvars.copy_context()
        super().start()

    def run(self) -> None:
        if self._context is None:  # run() called directly: already in the caller's context
            super().run()
        else:
            self._context.run(super().run)

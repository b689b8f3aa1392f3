"""On each scheduler tick: send again the sync, drift-watch and extract alerts a channel did
not take and whose back-off is over (:meth:`AlertDispatcher.retry_due`).

The retry runs beside the tick, never inside it: a channel still down costs its timeouts,
and jobs must not start late for it. At most one retry round runs at a time; a tick that
finds one still going starts none.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging

from mogulsync.runs.store import RunStore
from mogulsync.serve.state import ServeState

logger = logging.getLogger(__name__)


class AlertRetrier:
    """Starts a retry round per tick (unless one is still going)."""

    def __init__(self, state: ServeState) -> None:
        self._state = state
        #: the round in progress or last run (tests await it)
        self.task: asyncio.Task[None] | None = None
        self._runs: RunStore | None = None
        #: the engine whose redactor ``_runs`` masks with (a reload brings another one,
        #: knowing the secrets of new channels)
        self._engine: object | None = None

    async def on_tick(self, now: dt.datetime) -> None:
        """Start a round for ``now`` when channels are configured and none is going."""
        if not self._state.manager.engine.alerts.enabled:
            return
        if self.task is not None and not self.task.done():
            return
        self.task = asyncio.create_task(self._round(now))

    async def _round(self, now: dt.datetime) -> None:
        try:
            engine = self._state.manager.engine
            if self._runs is not None and self._engine is not engine:
                self._runs.close()
                self._runs = None
            if self._runs is None:  # kept open: a round starts every second
                self._runs = self._state.run_store()
                self._engine = engine
            await engine.alerts.retry_due(self._runs, now)
        except Exception:  # a bad round must not end the server's retries for good
            logger.exception("alert retries failed")

    async def stop(self) -> None:
        """Let a round in progress end before shutdown (bounded by the channels' timeouts):
        cancelled, the alerts it had claimed but not yet sent would be lost."""
        if self.task is not None:
            with contextlib.suppress(Exception):
                await self.task
        if self._runs is not None:
            self._runs.close()
            self._runs = None

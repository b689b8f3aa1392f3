"""The emulator instance: store, settings, limits, faults and counters in one object.

Route handlers reach it through :func:`emulator_of`, so no module-level globals exist and
several emulators can run in one process (tests run many).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from mogulsync.emulator._http import new_uuid, now
from mogulsync.emulator.faults import FaultInjector
from mogulsync.emulator.limits import TokenBucket
from mogulsync.emulator.mrr import MrrEngine
from mogulsync.emulator.settings import EmulatorSettings
from mogulsync.emulator.stats import Stats
from mogulsync.emulator.store import Store

if TYPE_CHECKING:
    from starlette.requests import Request


class Emulator:
    """One emulated ChartMogul account."""

    def __init__(self, settings: EmulatorSettings | None = None) -> None:
        self.settings = settings or EmulatorSettings()
        self.store = Store(self.settings.db_path)
        self.bucket = TokenBucket(self.settings.limits.rate_limit)
        self.faults = FaultInjector(self.settings.faults)
        self.stats = Stats()
        #: the account's time: what MRR movements are visible, events' updated_at. Tests
        #: set it (``drive_clock``) so runs do not depend on today or on wall-clock speed.
        self.clock: Callable[[], datetime] = now
        self.mrr = MrrEngine(self.store, currency=self.settings.currency, clock=now)
        self.background: set[asyncio.Task[Any]] = set()
        self.account_uuid = self.store.get_meta("account_uuid") or new_uuid("acc")
        self.store.set_meta("account_uuid", self.account_uuid)

    def drive_clock(self, moment: datetime | None) -> None:
        """Stop the account's clock at ``moment`` (aware), or follow real time again (None)."""
        self.clock = now if moment is None else (lambda: moment)
        self.mrr.clock = self.clock

    def key_allowed(self, key: str) -> bool:
        """Whether a Basic-auth username is one of this account's keys."""
        return key in self.settings.api_keys or key in self.settings.read_only_keys

    def key_read_only(self, key: str) -> bool:
        """Whether the key may only read."""
        return key in self.settings.read_only_keys

    def spawn(self, coro: Any) -> None:
        """Run background work (bulk imports) without losing the task reference."""
        task = asyncio.get_running_loop().create_task(coro)
        self.background.add(task)
        task.add_done_callback(self.background.discard)

    def reset(self) -> None:
        """Forget all data and counters; keep settings and faults."""
        for task in list(self.background):
            task.cancel()
        self.store.reset()
        self.store.set_meta("account_uuid", self.account_uuid)
        self.stats.reset()
        self.faults.injected.clear()
        self.bucket.configure(self.settings.limits.rate_limit)


def emulator_of(request: Request) -> Emulator:
    """The emulator serving this request."""
    emulator: Emulator = request.app.state.emulator
    return emulator

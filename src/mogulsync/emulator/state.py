"""The emulator instance: store, settings, limits, faults and counters in one object.

Route handlers reach it through :func:`emulator_of`, so no module-level globals exist and
several emulators can run in one process (tests run many).
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from mogulsync.emulator._http import new_uuid, wall_clock
from mogulsync.emulator.faults import FaultInjector
from mogulsync.emulator.limits import TokenBucket
from mogulsync.emulator.mrr import MrrEngine
from mogulsync.emulator.settings import LATEST_CLOCK, EmulatorSettings, clock_moment
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
        # the moment the account's clock is stopped at; None follows real time
        self._driven: datetime | None = None
        self.mrr = MrrEngine(self.store, currency=self.settings.currency, clock=self.clock)
        if self.settings.clock is not None:
            self.drive_clock(self.settings.clock)
        self.background: set[asyncio.Task[Any]] = set()
        self.account_uuid = self.store.get_meta("account_uuid") or new_uuid("acc")
        self.store.set_meta("account_uuid", self.account_uuid)

    def clock(self) -> datetime:
        """The account's time, the one source of every timestamp the emulator produces
        (``created_at``, ``updated_at``, ``disabled_at``, export expiry, the MRR engine's
        "today"): the driven moment if any, else real time."""
        return wall_clock() if self._driven is None else self._driven

    @property
    def clock_driven(self) -> bool:
        """Whether the clock is stopped at a moment a test chose."""
        return self._driven is not None

    def drive_clock(self, moment: datetime | None) -> None:
        """Stop the account's clock at ``moment`` (aware, up to :data:`LATEST_CLOCK`; else
        ValueError), or follow real time again (None).

        Tests drive it so their results depend neither on today's date nor on how fast
        they run."""
        self._driven = None if moment is None else clock_moment(moment)

    def advance_clock(self, delta: timedelta) -> datetime:
        """Stop the clock ``delta`` after its current time (real time if not driven yet)
        and return the new moment (ValueError past :data:`LATEST_CLOCK`)."""
        try:
            moment = self.clock() + delta
        except OverflowError:
            raise ValueError(
                f"advancing the clock by {delta} would take it past {LATEST_CLOCK.isoformat()}"
            ) from None
        self.drive_clock(moment)
        return moment

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

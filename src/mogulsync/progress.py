"""Progress of a run where no terminal is attached (cron, CI, systemd): a line now and then.

A Rich bar redraws in place, which a log file cannot show; outside a TTY a plain line is
written at a bounded rate instead: every ``every_s`` seconds or every ``every_fraction`` of
the rows to send, whichever comes first. The clock is injected so tests can drive it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

#: a line at least this often (seconds) while a run lasts
EVERY_S = 10.0
#: and whenever this much more of the rows to send is done
EVERY_FRACTION = 0.1


@dataclass(slots=True)
class Snapshot:
    """What is known about a run so far."""

    read: int = 0
    to_send: int = 0
    done: int = 0
    failed: int = 0
    requests: int = 0


@dataclass(slots=True)
class ProgressLines:
    """Writes ``customers: 400/1,000 sent (40%) · 1,200 read · 3 failed · 38.5 req/s · 12 s``.

    ``write`` gets the line and the same figures as fields (for ``--log-format json``).
    """

    name: str
    write: Callable[[str, dict[str, Any]], None]
    clock: Callable[[], float] = time.monotonic
    every_s: float = EVERY_S
    every_fraction: float = EVERY_FRACTION
    _start: float = field(init=False)
    _last_time: float = field(init=False)
    _last_step: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        self._start = self._last_time = self.clock()

    def update(self, now: Snapshot) -> None:
        """Write a line if enough time passed or enough rows were done since the last one."""
        at = self.clock()
        # whole steps of every_fraction (integers: 0.1 + 0.1 + ... drifts in floating point)
        step = int(now.done / now.to_send / self.every_fraction + 1e-9) if now.to_send else 0
        if at - self._last_time < self.every_s and step <= self._last_step:
            return
        self._last_time = at
        self._last_step = max(step, self._last_step)
        elapsed = at - self._start
        fields = {
            "sync": self.name,
            **asdict(now),
            "req_per_s": round(now.requests / elapsed, 1) if elapsed > 0 else 0.0,
            "elapsed_s": round(elapsed, 1),
        }
        self.write(self.line(now, elapsed), fields)

    def line(self, now: Snapshot, elapsed: float) -> str:
        """One self-contained line (greppable by the sync's name)."""
        if now.to_send:
            sent = f"{now.done:,}/{now.to_send:,} sent ({now.done / now.to_send:.0%})"
        else:
            sent = f"{now.done:,} sent"
        rate = now.requests / elapsed if elapsed > 0 else 0.0
        return (
            f"{self.name}: {sent} · {now.read:,} read · {now.failed:,} failed"
            f" · {rate:.1f} req/s · {elapsed:.0f} s"
        )


def bar_text(now: Snapshot) -> str:
    """The Rich bar's text: only what is known (no ``0/None`` before the total is)."""
    if now.to_send:
        return f"{now.done:,}/{now.to_send:,} sent · {now.read:,} read · {now.failed:,} failed"
    return f"{now.read:,} read"

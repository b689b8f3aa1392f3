"""Progress of a run where no terminal is attached (cron, CI, systemd): a line now and then.

A Rich bar redraws in place, which a log file cannot show; outside a TTY a plain line is
written at a bounded rate instead: every ``every_s`` seconds or every ``every_fraction`` of
the rows to send, whichever comes first. The clock is injected so tests can drive it.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from mogulsync import _threads

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


@dataclass(slots=True)
class ExtractLines:
    """``extract run``'s progress where no terminal is attached: a line every ``every_s``
    seconds and at each stage, e.g.
    ``extract: fetching · 12,400 records (activities 6,000, customers 2,000) · 1,033.3
    records/s · 12 s``.

    An extract has no total to count a fraction against (ChartMogul's cursor pages do not
    say how many records are left), so its lines come by time and by stage. ``tick`` (from
    a timer thread, see ``ticking``) keeps them coming while dlt loads and no page arrives.
    """

    write: Callable[[str, dict[str, Any]], None]
    clock: Callable[[], float] = time.monotonic
    every_s: float = EVERY_S
    records: dict[str, int] = field(default_factory=dict)
    stage_name: str = "fetching"
    _start: float = field(init=False)
    _last_time: float = field(init=False)
    _lock: threading.Lock = field(init=False, default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._start = self._last_time = self.clock()

    def on_records(self, stream: str, count: int) -> None:
        """A page of ``count`` records of ``stream`` was taken (``run_extract``'s hook)."""
        with self._lock:
            self.records[stream] = self.records.get(stream, 0) + count
            self._maybe_write()

    def on_stage(self, stage: str) -> None:
        """A stage ended (fetched, extracted, loaded): always a line."""
        with self._lock:
            self.stage_name = stage
            self._write(self.clock())

    def tick(self) -> None:
        """A line if ``every_s`` passed since the last one."""
        with self._lock:
            self._maybe_write()

    def _maybe_write(self) -> None:
        at = self.clock()
        if at - self._last_time >= self.every_s:
            self._write(at)

    def _write(self, at: float) -> None:
        self._last_time = at
        elapsed = at - self._start
        total = sum(self.records.values())
        rate = total / elapsed if elapsed > 0 else 0.0
        fields: dict[str, Any] = {
            "stage": self.stage_name,
            "records": total,
            "streams": dict(self.records),
            "records_per_s": round(rate, 1),
            "elapsed_s": round(elapsed, 1),
        }
        by_stream = ", ".join(f"{name} {count:,}" for name, count in sorted(self.records.items()))
        detail = f" ({by_stream})" if by_stream else ""
        line = (
            f"extract: {self.stage_name} · {total:,} records{detail}"
            f" · {rate:,.1f} records/s · {elapsed:.0f} s"
        )
        self.write(line, fields)


@contextlib.contextmanager
def ticking(tick: Callable[[], None], every_s: float = 1.0) -> Iterator[None]:
    """Call ``tick`` every ``every_s`` seconds on a daemon thread while the block runs."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(every_s):
            tick()

    thread = _threads.Thread(target=loop, name="mogulsync-progress", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()

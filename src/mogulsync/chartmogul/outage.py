"""Notice that ChartMogul is down, across all the calls of one client (a circuit breaker).

Each call retries on its own, so without this a run whose ChartMogul went away would retry
every row for minutes. The breaker watches every attempt of every call of the client: a
streak of attempts that got no answer (connection refused, reset, timeout) or a 5xx,
with no other answer in between, that lasts ``window_s`` (or outlasts a call's whole retry
budget) means ChartMogul is unreachable.
From then on every call fails at once with :class:`ChartMogulUnreachableError` (nothing is
sent), so the caller stops early. Any other answer (2xx, 4xx, 429) ends a streak: the
server is there.

It is opt-in per client: the sync engine uses one per run; a long-running process (events
forwarding) keeps retrying instead.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from mogulsync.chartmogul.errors import ChartMogulError, ServerError, TransportError
from mogulsync.errors import FatalError

logger = logging.getLogger(__name__)

#: how long ChartMogul may give no usable answer before a run gives up
DEFAULT_OUTAGE_WINDOW_S = 30.0
#: failed attempts in a row after which the outage is reported (not yet given up)
WARN_AFTER_FAILURES = 3


class ChartMogulUnreachableError(ChartMogulError, FatalError):
    """ChartMogul gave no usable answer for the whole outage window (nothing more is sent)."""

    hint = (
        "Check that ChartMogul is up (status.chartmogul.com) and that chartmogul.base_url"
        " is right; rows not delivered are retried on the next run."
    )


def counts_as_outage(error: Exception) -> bool:
    """Whether a failed attempt says "no server here" (no answer, or a 5xx)."""
    return isinstance(error, TransportError | ServerError)


@dataclass(slots=True)
class OutageBreaker:
    """Shared by every call of one client; see the module docstring."""

    base_url: str
    window_s: float = DEFAULT_OUTAGE_WINDOW_S
    clock: Callable[[], float] = time.monotonic
    #: attempts answered so far (with anything but a 5xx)
    answers: int = field(default=0, init=False)
    #: when the current streak of failed attempts began (None: the last attempt was answered)
    _since: float | None = field(default=None, init=False)
    _failures: int = field(default=0, init=False)
    _last: str = field(default="", init=False)
    _warned: bool = field(default=False, init=False)
    #: attempts on the wire right now, whose answers are still to come
    _on_the_wire: int = field(default=0, init=False)
    #: set once the window has passed; the breaker never closes again
    _tripped: str | None = field(default=None, init=False)

    @property
    def tripped(self) -> bool:
        """Whether ChartMogul was found unreachable (every later call fails at once)."""
        return self._tripped is not None

    def check(self, method: str, endpoint: str) -> None:
        """Raise before sending when the breaker has tripped."""
        if self._tripped is not None:
            raise ChartMogulUnreachableError(self._tripped, method=method, endpoint=endpoint)

    def sending(self) -> None:
        """An attempt goes on the wire (pair with :meth:`returned`)."""
        self._on_the_wire += 1

    def returned(self) -> None:
        """That attempt came back, with whatever outcome (noted next, at once)."""
        self._on_the_wire -= 1

    def answered(self) -> None:
        """An attempt got an answer that is not a 5xx: the server is there."""
        self.answers += 1
        self._since = None
        self._failures = 0
        self._warned = False

    def failed(self, error: Exception, *, method: str, endpoint: str) -> None:
        """Note a failed attempt; raise once the streak has lasted the whole window."""
        if not counts_as_outage(error):
            self.answered()
            return
        now = self.clock()
        if self._since is None:
            self._since = now
        self._failures += 1
        # which request: one endpoint failing alone reads differently from all of them
        self._last = f"{_describe(error)} from {method} {endpoint}"
        if self._failures >= WARN_AFTER_FAILURES and not self._warned:
            self._warned = True
            logger.warning(
                "ChartMogul is not answering at %s (%d attempts in a row failed, last: %s);"
                " still trying, the run stops if it stays unreachable for %gs",
                self.base_url,
                self._failures,
                self._last,
                self.window_s,
            )
        if now - self._since >= self.window_s:
            self._trip(now)
        self.check(method, endpoint)

    def gave_up(self, error: Exception, *, answers: int, method: str, endpoint: str) -> None:
        """A call ran out of retries: when nothing answered since it began, that is an outage.

        ``answers`` is :attr:`answers` when the call began. (With a short retry budget a
        lone call, e.g. the first of a run, would otherwise fail on its own before the
        window has passed.) While other attempts are still on the wire their answers are
        awaited first: one endpoint failing fast (its retries spent before another
        stream's first answer came back) is not ChartMogul down.
        """
        if (
            counts_as_outage(error)
            and self._since is not None
            and self.answers == answers
            and self._on_the_wire == 0
        ):
            self._trip(self.clock())
            self.check(method, endpoint)

    def _trip(self, now: float) -> None:
        if self._tripped is None and self._since is not None:
            self._tripped = (
                f"ChartMogul is unreachable at {self.base_url}: no usable answer for"
                f" {now - self._since:.1f}s ({self._failures} attempts in a row failed,"
                f" last: {self._last})"
            )


def _describe(error: Exception) -> str:
    if isinstance(error, ServerError):
        return f"HTTP {error.status}"
    # TransportError's text is "METHOD /endpoint: ConnectError(...)": keep the cause only
    cause = error.__cause__
    return type(cause).__name__ if cause is not None else type(error).__name__

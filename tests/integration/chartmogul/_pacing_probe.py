"""Watch a process pace its requests: the starts it books on the shared clock, and when each
request goes on the wire. Both in epoch seconds, the shared clock's (a SQLite file's; the
PostgreSQL server's is this machine's too on loopback).

Workers install the recorders and print what they saw; a test compares processes with
:func:`assert_paced_by_one_clock`. A test can record its own process, passing pytest's
``monkeypatch.setattr`` so the recorders are removed afterwards. Unlike a count of the emulator's 429s, which a stall of the
emulator's thread can inflate (arrivals bunch), these hold however busy the machine is.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import httpx

from mogulsync.chartmogul.shared_pacing import PostgresPacingStore, SqlitePacingStore

#: a request may leave this much before its booked start: clock granularity, not load
SEND_SLACK_S = 0.001
#: epoch seconds as doubles: ~1e-7 s of rounding; a shared slot would show a gap of 0
SPACING_SLACK_S = 1e-6


Patch = Callable[[Any, str, Any], None]


def record_bookings(starts: list[float], patch: Patch = setattr) -> None:
    """Note every start booked on a shared clock (observed, not changed)."""
    for store in (SqlitePacingStore, PostgresPacingStore):
        book = store.book

        def recording(self: Any, account: str, interval: float, book: Any = book) -> Any:
            start, now = book(self, account, interval)
            starts.append(start)
            return start, now

        patch(store, "book", recording)


def record_sends(sent: list[float], patch: Patch = setattr) -> None:
    """Note when each request is handed to the connection pool (observed, not changed)."""
    handle = httpx.AsyncHTTPTransport.handle_async_request

    async def recording(self: httpx.AsyncHTTPTransport, request: httpx.Request) -> Any:
        sent.append(time.time())
        return await handle(self, request)

    patch(httpx.AsyncHTTPTransport, "handle_async_request", recording)


def assert_spaced(starts: Iterable[float], interval: float) -> None:
    """No two starts closer than ``interval``."""
    gaps = [b - a for a, b in itertools.pairwise(sorted(starts))]
    assert min(gaps) >= interval - SPACING_SLACK_S, min(gaps)


def assert_paced_by_one_clock(
    results: Sequence[dict[str, Any]], requests: int, interval: float
) -> None:
    """Every request of every process booked its start on the one shared clock, the starts
    ``interval`` apart, and none went on the wire before its start."""
    assert sum(len(result["booked"]) for result in results) == requests
    assert_spaced((start for result in results for start in result["booked"]), interval)
    for result in results:
        booked, sent = sorted(result["booked"]), sorted(result["sent"])
        assert len(sent) == len(booked)
        # the k-th request out cannot precede the k-th start booked
        early = [(b, s) for b, s in zip(booked, sent, strict=True) if s < b - SEND_SLACK_S]
        assert not early, early[:3]

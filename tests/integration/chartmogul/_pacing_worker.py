"""Run in a child process: book starts on a shared pacing store, or ping through a client.

``book <sqlite file> <count> <interval>`` prints the booked starts as JSON.
``ping <base_url> <api_key> <count> <scope> <sqlite file or postgres url> <go file>`` waits
for the go file, then pings ``count`` times through a ChartMogulClient at 40 req/s (scope
``machine``, ``process`` or ``postgres``); it prints the pings answered, and the starts
booked on the shared clock and the times requests went on the wire (epoch seconds, the
shared clock's), which a test compares across processes.
``hold <sqlite file or postgres url> <count>`` takes ``count`` in-flight leases (an hour's
expiry), prints "held" and sleeps until it is killed.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

from _pacing_probe import record_bookings, record_sends  # this script's directory
from pydantic import SecretStr

from mogulsync.chartmogul import ChartMogulClient, ClientSettings, SharedLimit
from mogulsync.chartmogul.shared_leases import LeaseStore, PostgresLeaseStore, SqliteLeaseStore
from mogulsync.chartmogul.shared_pacing import SqlitePacingStore

HOLD_TTL_S = 3600.0


def book(path: str, count: int, interval: float) -> None:
    store = SqlitePacingStore(Path(path))
    starts = [store.book("acct", interval)[0] for _ in range(count)]
    store.close()
    print(json.dumps(starts))


def wait_for(go: str) -> None:
    """Start together with the other workers (imports take a while)."""
    while not Path(go).exists():
        time.sleep(0.01)


async def ping(base_url: str, key: str, count: int, scope: str, path: str) -> None:
    booked: list[float] = []
    sent: list[float] = []
    record_bookings(booked)
    record_sends(sent)
    shared = (
        SharedLimit(postgres_url=SecretStr(path), postgres_schema="inflight_test")
        if scope == "postgres"
        else SharedLimit(scope=scope, file=path)  # type: ignore[arg-type]
    )
    settings = ClientSettings(
        api_key=SecretStr(key),
        base_url=base_url,
        rate_limit=40,
        max_in_flight=20,
        shared_limit=shared,
    )
    async with ChartMogulClient(settings) as client:
        results = await asyncio.gather(*(client.ping() for _ in range(count)))
    print(json.dumps({"ok": sum(results), "at": time.time(), "booked": booked, "sent": sent}))


def hold(where: str, count: int) -> None:
    store: LeaseStore
    if where.startswith("postgres"):
        store = PostgresLeaseStore(where, "lease_kill_test", ttl=HOLD_TTL_S)
    else:
        store = SqliteLeaseStore(Path(where), ttl=HOLD_TTL_S)
    slots = [store.try_acquire("acct", count) for _ in range(count)]
    assert None not in slots, slots
    print("held", flush=True)
    time.sleep(HOLD_TTL_S)


if __name__ == "__main__":
    if sys.argv[1] == "book":
        book(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]))
    elif sys.argv[1] == "hold":
        hold(sys.argv[2], int(sys.argv[3]))
    else:
        wait_for(sys.argv[7])
        asyncio.run(ping(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5], sys.argv[6]))

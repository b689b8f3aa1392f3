"""The shared limiter against an emulator that enforces ChartMogul's limits over HTTP."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

import pytest
from tests.integration.chartmogul._pacing_probe import (
    assert_paced_by_one_clock,
    record_bookings,
    record_sends,
)

from mogulsync.chartmogul import ChartMogulClient, ClientSettings, forget_limiters
from mogulsync.emulator.server import EmulatorServer
from mogulsync.emulator.settings import EmulatorSettings, Limits

pytestmark = pytest.mark.anyio


@pytest.fixture(autouse=True)
def _fresh_limiters() -> None:
    """Each test starts with no registered account limiters."""
    forget_limiters()


async def test_pacing_keeps_to_the_account_rate(
    client_settings: Callable[..., ClientSettings], monkeypatch: pytest.MonkeyPatch
) -> None:
    """120 concurrent calls paced at the account's 60 req/s against a 60 req/s server: every
    request books its start 1/60 s after the one before and goes no sooner; any 429 (the
    server's thread starved on a busy machine lets arrivals bunch) is retried, and every call
    answered once."""
    limits = Limits(rate_limit=60, max_connections=20)
    booked: list[float] = []
    sent: list[float] = []
    record_bookings(booked, monkeypatch.setattr)
    record_sends(sent, monkeypatch.setattr)
    with EmulatorServer(EmulatorSettings(limits=limits)) as server:
        settings = client_settings(server, rate_limit=60)
        async with ChartMogulClient(settings) as client:
            results = await asyncio.gather(*(client.ping() for _ in range(120)))
        stats = server.emulator.stats
        assert all(results)
        assert stats.by_status[200] == 120, stats.snapshot({})
        assert set(stats.by_status) <= {200, 429}, stats.snapshot({})
        assert_paced_by_one_clock([{"booked": booked, "sent": sent}], stats.requests_total, 1 / 60)


async def test_in_flight_cap_holds(client_settings: Callable[..., ClientSettings]) -> None:
    """With 100 ms latency and max_in_flight 3, the server never sees more than 3 at once.

    That exactly 3 run together is shown on a virtual clock in tests/unit/chartmogul/test_limiter.py;
    over real sockets how many overlap depends on the machine's speed, so only the cap is asserted.
    """
    limits = Limits(rate_limit=0, max_connections=0, latency_ms=100)
    with EmulatorServer(EmulatorSettings(limits=limits)) as server:
        async with ChartMogulClient(client_settings(server, max_in_flight=3)) as client:
            await asyncio.gather(*(client.ping() for _ in range(12)))
        assert 1 <= server.emulator.stats.peak_concurrency <= 3


def test_one_limiter_across_loops_and_threads(
    client_settings: Callable[..., ClientSettings],
) -> None:
    """Clients of one account in two threads (own loops), then in a new loop, share the cap."""
    limits = Limits(rate_limit=0, max_connections=0, latency_ms=50)
    with EmulatorServer(EmulatorSettings(limits=limits)) as server:
        settings = client_settings(server, max_in_flight=4)
        failures: list[BaseException] = []

        async def burst() -> None:
            async with ChartMogulClient(settings) as client:
                assert all(await asyncio.gather(*(client.ping() for _ in range(12))))

        def run() -> None:
            try:
                asyncio.run(burst())
            except BaseException as exc:  # reported by the assertion below
                failures.append(exc)

        threads = [threading.Thread(target=run) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        asyncio.run(burst())
        stats = server.emulator.stats
        assert failures == []
        assert stats.requests_total == 36
        assert stats.peak_concurrency <= 4

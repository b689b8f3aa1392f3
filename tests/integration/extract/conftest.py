"""An emulator seeded once per module with more than a page of every paginated stream."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterator

import pytest
from tests.conftest import unlimited_settings
from tests.integration.extract._runs import FIRST, import_more
from tests.integration.extract._seed import Seeded, seed

from mogulsync.emulator.server import EmulatorServer


@pytest.fixture(scope="module")
def seeded() -> Iterator[tuple[EmulatorServer, Seeded]]:
    """A loopback emulator holding the data of ``_seed.seed`` (read-only for tests)."""
    with EmulatorServer(unlimited_settings()) as server:
        yield server, asyncio.run(seed(server.base_url, server.api_key))


@pytest.fixture
def server() -> Iterator[EmulatorServer]:
    """An emulator with 210 paying customers (one activity and one event each)."""
    with EmulatorServer(unlimited_settings()) as emulator:
        import_more(emulator, "a", FIRST, dt.date(2024, 1, 1), new_source=True)
        yield emulator

"""Fixtures of the reconcile tests (the sync tests' emulator)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.conftest import unlimited_settings

from mogulsync.emulator.server import EmulatorServer


@pytest.fixture
def server() -> Iterator[EmulatorServer]:
    """An emulator whose bulk imports finish in a few 10 ms steps."""
    with EmulatorServer(unlimited_settings(json_import_step_s=0.01)) as emulator:
        yield emulator

"""Fixtures for the client against an emulator served on loopback (real HTTP)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest
import stamina
from pydantic import SecretStr

from mogulsync.chartmogul import ClientSettings
from mogulsync.emulator.server import EmulatorServer

#: Attempts per call while stamina is in testing mode (no waits between them).
TEST_ATTEMPTS = 4


@pytest.fixture(autouse=True)
def _retries_without_waiting() -> Iterator[None]:
    """Retries happen, but stamina skips the backoff sleeps."""
    with stamina.set_testing(True, attempts=TEST_ATTEMPTS, cap=True):
        yield


@pytest.fixture
def client_settings() -> Callable[..., ClientSettings]:
    """Settings for a client of ``server``; keyword arguments override fields."""

    def build(server: EmulatorServer, **overrides: object) -> ClientSettings:
        values: dict[str, object] = {
            "api_key": SecretStr(server.api_key),
            "base_url": f"{server.base_url}/v1",
            "rate_limit": 10_000,
            "user_agent": f"mogulsync-tests/{uuid.uuid4().hex[:6]}",
        }
        values.update(overrides)
        return ClientSettings.model_validate(values)

    return build

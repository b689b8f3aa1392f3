"""Fixtures for the ChartMogul client's unit tests: the emulator in-process, no socket."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterator

import httpx
import pytest
import stamina
from pydantic import SecretStr

from mogulsync.chartmogul import (
    ChartMogulClient,
    ClientSettings,
    JsonImportPolling,
    RequestLogEntry,
)
from mogulsync.emulator.app import EmulatorApp, emulator_from_app
from mogulsync.emulator.settings import DEFAULT_API_KEY
from mogulsync.emulator.state import Emulator
from mogulsync.emulator.transport import in_process_transport

#: Attempts per call while stamina is in testing mode (no waits between them).
TEST_ATTEMPTS = 4


@pytest.fixture(autouse=True)
def _retries_without_waiting() -> Iterator[None]:
    """Retries happen, but stamina skips the backoff sleeps."""
    with stamina.set_testing(True, attempts=TEST_ATTEMPTS, cap=True):
        yield


def _settings(**overrides: object) -> ClientSettings:
    """Client settings against a fresh account (own limiter), fast enough for tests."""
    values: dict[str, object] = {
        "api_key": SecretStr(DEFAULT_API_KEY),
        "base_url": f"http://emulator-{uuid.uuid4().hex[:12]}.test",
        "rate_limit": 10_000,
        "json_import_polling": JsonImportPolling(initial_interval_s=0.01, max_interval_s=0.05),
    }
    values.update(overrides)
    return ClientSettings.model_validate(values)


@pytest.fixture
def make_settings() -> Callable[..., ClientSettings]:
    """Builds client settings for a fresh account; keyword arguments override fields."""
    return _settings


@pytest.fixture
def request_log() -> list[RequestLogEntry]:
    """Collects every attempt the client makes."""
    return []


@pytest.fixture
def emulator(emulator_app: EmulatorApp) -> Emulator:
    """The emulator behind ``emulator_app`` (store, stats, faults)."""
    return emulator_from_app(emulator_app)


@pytest.fixture
async def client(
    emulator_app: EmulatorApp, request_log: list[RequestLogEntry]
) -> AsyncIterator[ChartMogulClient]:
    """A client talking to the in-process emulator."""
    async with ChartMogulClient(
        _settings(),
        transport=in_process_transport(emulator_app),
        request_hooks=[request_log.append],
    ) as chartmogul:
        yield chartmogul


@pytest.fixture
async def emulator_admin(emulator_app: EmulatorApp) -> AsyncIterator[httpx.AsyncClient]:
    """The emulator's admin API, in-process."""
    async with httpx.AsyncClient(
        transport=in_process_transport(emulator_app), base_url="http://emulator/_emulator"
    ) as http:
        yield http

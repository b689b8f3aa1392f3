"""Fixtures for the conformance suite: the official client pointed at a loopback emulator."""

from __future__ import annotations

from typing import Any

import chartmogul
import pytest
from tests.conformance._support import (
    GOLD_PLAN,
    create_customer,
    create_data_source,
    create_plan,
)

from mogulsync.emulator.server import EmulatorServer

#: generous, but keeps a wedged emulator from hanging the suite
CLIENT_TIMEOUT_S = 15


def client_config(server: EmulatorServer, api_key: str | None = None) -> chartmogul.Config:
    """A ``chartmogul.Config`` for ``server``, used exactly as an application would."""
    config = chartmogul.Config(api_key or server.api_key, request_timeout=CLIENT_TIMEOUT_S)
    config.uri = f"{server.base_url}/v1"
    return config


@pytest.fixture
def cm(emulator_server: EmulatorServer) -> chartmogul.Config:
    """The official client's configuration, aimed at the shared loopback ``emulator_server``.

    That fixture (tests/conftest.py) starts a fresh emulator with ``unlimited_settings()``,
    so functional tests never meet the 429/503 limits; raw ``api`` calls in the same test
    reach the same emulator.
    """
    return client_config(emulator_server)


@pytest.fixture
def ds(cm: chartmogul.Config) -> Any:
    """A data source created through the client."""
    return create_data_source(cm, "Conformance billing")


@pytest.fixture
def plan(cm: chartmogul.Config, ds: Any) -> Any:
    """A monthly plan in ``ds``."""
    return create_plan(cm, ds.uuid, **GOLD_PLAN)


@pytest.fixture
def customer(cm: chartmogul.Config, ds: Any) -> Any:
    """A customer in ``ds`` with an email, tags and a custom attribute."""
    return create_customer(
        cm,
        ds.uuid,
        "cus-ext-1",
        name="Adam Smith",
        email="adam@example.com",
        company="Smith & Co",
        country="US",
        state="NY",
        city="New York",
        zip="10001",
        attributes={
            "tags": ["vip"],
            "custom": [{"type": "String", "key": "channel", "value": "Facebook"}],
        },
    )

"""The API key never shows up in errors, logs or request-log entries."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Callable

import httpx
import pytest
from pydantic import SecretStr

from mogulsync.chartmogul import (
    AuthenticationError,
    ChartMogulClient,
    ClientSettings,
    NewCustomer,
    RequestLogEntry,
)
from mogulsync.emulator.app import create_app
from mogulsync.emulator.settings import EmulatorSettings, Limits
from mogulsync.emulator.transport import in_process_transport

pytestmark = pytest.mark.anyio

KEY = "sk_test_4f9a8b7c6d5e3a2b"
WRONG_KEY = "sk_test_wrong_0123456789"


def forbidden() -> list[str]:
    """The keys and every Basic-auth token built from them."""
    tokens = [
        base64.b64encode(f"{key}:{password}".encode()).decode()
        for key in (KEY, WRONG_KEY)
        for password in ("", key)
    ]
    return [KEY, WRONG_KEY, *tokens]


def assert_clean(text: str) -> None:
    for secret in forbidden():
        assert secret not in text


@pytest.fixture
def transport() -> httpx.AsyncBaseTransport:
    app = create_app(
        EmulatorSettings(api_keys=[KEY], limits=Limits(rate_limit=0, max_connections=0))
    )
    return in_process_transport(app)


async def test_echoed_key_is_masked_in_request_log(
    transport: httpx.AsyncBaseTransport,
    make_settings: Callable[..., ClientSettings],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A key that ends up in a body (sent and echoed back) is masked in log entries."""
    log: list[RequestLogEntry] = []
    caplog.set_level(logging.DEBUG)
    settings = make_settings(api_key=SecretStr(KEY))
    async with ChartMogulClient(
        settings, transport=transport, request_hooks=[log.append]
    ) as client:
        source = await client.data_sources.create("Warehouse")
        created = await client.customers.create(
            NewCustomer(data_source_uuid=source.uuid, external_id="c", name=f"pasted {KEY} here")
        )
    assert KEY in (created.name or "")  # the data itself is untouched
    create_entry = log[-1]
    assert create_entry.request_body is not None
    assert "pasted *** here" in create_entry.request_body
    assert create_entry.response_body is not None
    assert "pasted *** here" in create_entry.response_body
    assert_clean(repr(log))
    assert_clean(caplog.text)


async def test_rejected_key_never_appears_in_the_error(
    transport: httpx.AsyncBaseTransport,
    make_settings: Callable[..., ClientSettings],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A 401 error, its attributes and the log entries hold no trace of the key."""
    log: list[RequestLogEntry] = []
    caplog.set_level(logging.DEBUG)
    settings = make_settings(api_key=SecretStr(WRONG_KEY))
    async with ChartMogulClient(
        settings, transport=transport, request_hooks=[log.append]
    ) as client:
        with pytest.raises(AuthenticationError) as caught:
            await client.ping()
    error = caught.value
    assert error.status == 401
    for text in (
        str(error),
        repr(error),
        error.user_message,
        error.body,
        json.dumps(error.attrs(), default=str),
    ):
        assert_clean(text)
    assert [entry.status for entry in log] == [401]
    assert_clean(repr(log))
    assert_clean(caplog.text)

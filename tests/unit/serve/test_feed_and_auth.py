"""The live debugger's bounded feed, and token roles compared as the API does."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from pydantic import SecretStr
from starlette.requests import Request

from mogulsync.chartmogul import RequestLogEntry
from mogulsync.config.serve import TokenConfig
from mogulsync.serve.auth import (
    SESSION_COOKIE,
    SESSION_IDLE_S,
    SESSION_MAX_S,
    Auth,
    AuthError,
    Role,
    check_csrf,
)
from mogulsync.serve.feed import RequestFeed

pytestmark = pytest.mark.anyio


def _entry(path: str) -> RequestLogEntry:
    return RequestLogEntry("POST", path, "/customers", 201, 1.0, 1, "{}", "{}", None,
                           dt.datetime(2026, 1, 1, tzinfo=dt.UTC))  # fmt: skip


async def test_a_reader_gets_every_entry_then_the_end():
    """Entries added before and after a reader starts all arrive in order; close ends it."""
    feed = RequestFeed()
    feed.add(_entry("/v1/customers/1"))
    seen: list[object] = []

    async def read() -> None:
        seen.extend([item["seq"] async for item in feed.follow()])

    reader = asyncio.create_task(read())
    await asyncio.sleep(0)
    feed.add(_entry("/v1/customers/2"))
    feed.add(_entry("/v1/customers/3"))
    feed.close()
    await reader
    assert seen == [1, 2, 3]


async def test_a_reader_too_far_behind_is_told_how_many_it_missed():
    """Memory stays bounded: older entries are dropped and counted as skipped."""
    feed = RequestFeed(limit=3)
    for i in range(10):
        feed.add(_entry(f"/v1/customers/{i}"))
    feed.close()
    items = [item async for item in feed.follow()]
    assert items[0] == {"skipped": 7}
    assert [item["seq"] for item in items[1:]] == [8, 9, 10]
    assert [item["path"] for item in items[1:]] == [f"/v1/customers/{i}" for i in (7, 8, 9)]


def test_roles_and_sessions():
    """A token maps to its role; a session never holds the token; CSRF compares exactly."""
    operator, viewer = "o" * 20, "v" * 20
    auth = Auth([TokenConfig(token=SecretStr(operator), role="operator"),
                 TokenConfig(token=SecretStr(viewer), role="viewer")])  # fmt: skip
    assert auth.role_of(operator) is Role.OPERATOR
    assert auth.role_of(viewer) is Role.VIEWER
    assert auth.role_of("o" * 19) is None
    assert auth.sign_in("nope") is None
    session_id = auth.sign_in(viewer)
    assert session_id is not None
    assert viewer not in session_id
    assert not auth.open
    check_csrf("abc", "abc")
    with pytest.raises(AuthError) as caught:
        check_csrf("abc", "abd")
    assert caught.value.status == 403


def _with_cookie(session_id: str) -> Request:
    return Request(
        {"type": "http", "headers": [(b"cookie", f"{SESSION_COOKIE}={session_id}".encode())]}
    )


def test_sessions_end_when_unused_or_old():
    """A session unused for 12 hours is signed out; one used all along ends after 7 days.
    The auth's clock is driven: no wait."""
    token = "v" * 20
    now = [1000.0]
    auth = Auth([TokenConfig(token=SecretStr(token), role="viewer")], clock=lambda: now[0])
    idle = auth.sign_in(token)
    assert idle is not None
    now[0] += SESSION_IDLE_S - 1
    assert auth.session(_with_cookie(idle)) is not None  # used: the idle time starts again
    now[0] += SESSION_IDLE_S - 1
    assert auth.session(_with_cookie(idle)) is not None
    now[0] += SESSION_IDLE_S + 1
    assert auth.session(_with_cookie(idle)) is None
    assert auth.session(_with_cookie(idle)) is None  # forgotten, not only refused

    busy = auth.sign_in(token)
    assert busy is not None
    started = now[0]
    while now[0] - started < SESSION_MAX_S - 3600:
        now[0] += 3600
        assert auth.session(_with_cookie(busy)) is not None
    now[0] = started + SESSION_MAX_S + 1
    assert auth.session(_with_cookie(busy)) is None
    with pytest.raises(AuthError) as caught:
        auth.caller(_with_cookie(busy))
    assert caught.value.status == 401


def test_a_short_token_is_refused_at_load():
    """Tokens shorter than 16 characters are refused with how to make one."""
    with pytest.raises(ValueError, match="at least 16 characters"):
        TokenConfig(token=SecretStr("short"), role="operator")

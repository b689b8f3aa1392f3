"""The emulator's ASGI application.

A thin pure-ASGI layer in front of a Starlette router does what the real service does
before an endpoint runs — concurrency cap (503), fault injection, Basic auth (401), rate
limit (429), latency — and counts every ``/v1`` request for the admin ``stats``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from typing import Any
from urllib.parse import unquote_plus

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Message, Receive, Scope, Send

from mogulsync.emulator import _connections
from mogulsync.emulator._http import EmulatorHTTPError, plain_error
from mogulsync.emulator.admin import ADMIN_ROUTES
from mogulsync.emulator.faults import AFTER_WRITE, WRITE_METHODS, FaultDecision
from mogulsync.emulator.routes import ALL_ROUTES
from mogulsync.emulator.settings import EmulatorSettings
from mogulsync.emulator.state import Emulator
from mogulsync.emulator.store import UnstorableValueError

RATE_LIMIT_MESSAGE = "Your request rate has exceeded our rate limit."
CONCURRENCY_MESSAGE = (
    "Too many parallel connections. ChartMogul allows at most 20 concurrent requests."
)
AUTH_MESSAGE = "No valid API key provided"
#: every route's body limit: the documented 5 MB of a bulk JSON import, the largest payload
#: ChartMogul documents; nothing smaller is documented for the other routes [U]
MAX_BODY_BYTES = 5 * 1024 * 1024


def _code_body(status: int, message: str, param: str | None = None) -> JSONResponse:
    return JSONResponse({"code": status, "message": message, "param": param}, status_code=status)


def _api_key(scope: Scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            if scheme.lower() != "basic":
                return None
            try:
                user, _, _password = base64.b64decode(token).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                return None
            return user
    return None


async def _handle_http_error(request: Request, exc: Exception) -> Response:
    del request
    assert isinstance(exc, EmulatorHTTPError)
    return exc.response


async def _handle_starlette_http(request: Request, exc: Exception) -> Response:
    """Unknown paths and methods answer JSON in shape 1, never Starlette's plain text
    (the real API is JSON throughout; its exact wording here is not recorded [U])."""
    del request
    assert isinstance(exc, HTTPException)
    return _code_body(exc.status_code, str(exc.detail))


async def _handle_unstorable(request: Request, exc: Exception) -> Response:
    del request
    assert isinstance(exc, UnstorableValueError)
    return _code_body(400, f'Parameter "{exc.field}" must be a string', exc.field)


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _too_large(size: int, path: str) -> JSONResponse:
    advice = (
        " Split the records over several imports."
        if path.endswith("/json_imports")
        else " Send fewer records per request."
    )
    message = (
        f"The request body is {size} bytes; ChartMogul accepts at most 5 MB"
        f" ({MAX_BODY_BYTES} bytes).{advice}"
    )
    return _code_body(413, message)


class EmulatorApp:
    """ASGI entry point: service rules around the router."""

    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator
        self.router = Starlette(
            routes=[*ADMIN_ROUTES, *ALL_ROUTES],
            exception_handlers={
                EmulatorHTTPError: _handle_http_error,
                HTTPException: _handle_starlette_http,
                UnstorableValueError: _handle_unstorable,
            },
        )
        self.router.state.emulator = emulator

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/v1/"):
            await self.router(scope, receive, send)
            return
        emulator = self.emulator
        stats = emulator.stats
        method, path = scope["method"], scope["path"]
        stats.started()
        status_box = [0]

        async def counting_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_box[0] = message["status"]
            await send(message)

        try:
            await self._serve(scope, receive, counting_send)
        finally:
            stats.finished(method, path, status_box[0])
            if status_box[0] == 429:
                stats.rate_limited += 1

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        emulator = self.emulator
        limits = emulator.settings.limits
        method, path = scope["method"], scope["path"]
        if limits.max_connections and emulator.stats.in_flight > limits.max_connections:
            emulator.stats.concurrency_rejected += 1
            await _code_body(503, CONCURRENCY_MESSAGE)(scope, receive, send)
            return
        query = unquote_plus(scope.get("query_string", b"").decode("latin-1"))
        fault = emulator.faults.decide(method, path, query)
        delay = limits.latency_ms / 1000 + fault.extra_latency_s
        if delay:
            await asyncio.sleep(delay)
        if fault.kind == "drop":
            _connections.drop(scope)
            return
        if fault.kind == "error":
            await plain_error(fault.status)(scope, receive, send)
            return
        if fault.kind == "rate_limit":
            await _code_body(429, RATE_LIMIT_MESSAGE)(scope, receive, send)
            return
        key = _api_key(scope)
        if key is None or not emulator.key_allowed(key):
            await _code_body(401, AUTH_MESSAGE)(scope, receive, send)
            return
        if not emulator.bucket.take():
            await _code_body(429, RATE_LIMIT_MESSAGE)(scope, receive, send)
            return
        if method in WRITE_METHODS and emulator.key_read_only(key):
            await _code_body(403, "This API key is read-only.")(scope, receive, send)
            return
        if fault.kind == "malformed":
            send = _malformed(send)
        await self._serve_bounded(scope, receive, send, fault=fault)

    async def _serve_bounded(
        self, scope: Scope, receive: Receive, send: Send, *, fault: FaultDecision
    ) -> None:
        """Route the request once its whole body is in: past the limit, a 413.

        The body is read before routing, as a server behind a buffering proxy gets it, so
        a handler reads it without pausing: no other request runs between its lookup and
        its write. (Read inside the handler, a write that landed meanwhile was lost: the
        handler saved the record as it had looked it up.) Nothing past the limit is kept:
        the rest of an oversized body is read and dropped so the client finishes sending
        and sees the answer, in constant memory.
        """
        declared = _declared_length(scope)
        if declared is not None and declared > MAX_BODY_BYTES:
            await _too_large(await _drain(receive, 0), scope["path"])(scope, receive, send)
            return
        body = await _read_body(receive)
        if body is None:  # the client went away mid-body: nobody to answer
            return
        if isinstance(body, int):
            await _too_large(body, scope["path"])(scope, receive, send)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # a disconnect, for a response that listens for one

        if fault.kind in AFTER_WRITE:
            await self._serve_unanswered(scope, replay)
            if fault.kind == "lost_response":
                _connections.drop(scope)
            else:  # error_after_write: a gateway's answer replaces the real one
                await plain_error(fault.status)(scope, replay, send)
        else:
            await self.router(scope, replay, send)

    async def _serve_unanswered(self, scope: Scope, receive: Receive) -> None:
        """Run the write to completion and throw its answer away (the fault decides what
        the client gets instead: a reset connection, or a 5xx)."""

        async def swallow(message: Message) -> None:
            del message

        await self.router(scope, receive, swallow)


def _malformed(send: Send) -> Send:
    """A ``send`` that cuts a success body in half (error answers pass unchanged)."""
    held: list[Message] = []

    async def cutting_send(message: Message) -> None:
        if message["type"] == "http.response.start" and 200 <= message["status"] < 300:
            held.append(message)
            return
        if not held or message["type"] != "http.response.body":
            await send(message)
            return
        held.append(message)
        if message.get("more_body", False):
            return
        start, *parts = held
        body = b"".join(part.get("body", b"") for part in parts)
        cut = body[: len(body) // 2] if len(body) > 1 else b"{"
        headers = [(k, v) for k, v in start.get("headers", []) if k != b"content-length"]
        headers.append((b"content-length", str(len(cut)).encode()))
        await send({**start, "headers": headers})
        await send({"type": "http.response.body", "body": cut})

    return cutting_send


async def _read_body(receive: Receive) -> bytes | int | None:
    """The whole request body; its size when it passes the limit (the rest is drained);
    None when the client disconnected first."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        more = message.get("more_body", False)
        if size > MAX_BODY_BYTES:
            return await _drain(receive, size) if more else size
        chunks.append(chunk)
        if not more:
            return b"".join(chunks)


async def _drain(receive: Receive, size: int) -> int:
    """Read the rest of a request body without keeping it; the total size."""
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return size
        size += len(message.get("body", b""))
        if not message.get("more_body", False):
            return size


def create_app(settings: EmulatorSettings | None = None) -> EmulatorApp:
    """A ready-to-serve emulator application."""
    return EmulatorApp(Emulator(settings))


def emulator_from_app(app: Any) -> Emulator:
    """The :class:`Emulator` behind an app made by :func:`create_app`."""
    assert isinstance(app, EmulatorApp)
    return app.emulator

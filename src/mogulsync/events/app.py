"""The ingest HTTP app: Segment's HTTP Tracking API on ``/v1``.

``POST /v1/identify|group|track|page|screen|alias`` take one message, ``/v1/batch`` (and
its alias ``/v1/import``) a ``batch`` array. The write key is the Basic-auth username (or,
as Segment also allows, ``writeKey`` in the body); anything else gets 401. Bodies may be
gzip-compressed. A request is answered 200 ``{"success": true}`` only after its messages
are durably stored; oversized or malformed requests get Segment's 400s.

A hostile client must not cost more than a bounded amount (``events.limits``): the write
key is checked before the body is parsed (from the Basic-auth header before the body is
even read); nesting deeper than ``max_json_depth`` is a 400; a request whose messages
would add more than ``max_stored_bytes_per_request`` to the queue is a 400; a write key
storing more than ``key_bytes_per_s`` (after a burst) gets 429 with ``Retry-After``.

The ingest routes are plain ASGI handlers: with one event per request, the per-request
cost of a framework's Request/Response objects and middleware stack is most of the CPU an
event costs. Exact ``POST`` (and ``GET /health``) requests go straight to them; anything
else (unknown paths, other methods, trailing slashes) goes through a Starlette router over
the same handlers, so those keep Starlette's 404/405/redirect answers.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import json
import logging
import re
import time
import zlib
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from mogulsync.config.events import IngestLimits
from mogulsync.errors import ConfigError
from mogulsync.events._budget import KeyBudget
from mogulsync.events._throttle import INGEST_LOGGER
from mogulsync.events.queue import GroupCommitWriter
from mogulsync.events.schema import (
    MAX_BATCH_BYTES,
    MAX_EVENT_BYTES,
    IngestError,
    StoredEvent,
    batch_envelope,
    normalize,
)

log = logging.getLogger(INGEST_LOGGER)
HTTP_TOO_MANY_REQUESTS = 429
SINGLE_ROUTES = ("identify", "group", "track", "page", "screen", "alias")
BATCH_ROUTES = ("batch", "import")
#: gzip header + zlib's automatic header detection
_GZIP_WBITS = 16 + zlib.MAX_WBITS
_OK = {"success": True}
_HEALTH = {"status": "ok"}
_JSON_TYPE = b"application/json"
_TEXT_TYPE = b"text/plain; charset=utf-8"
_SERVER_ERROR = b"Internal Server Error"
#: a top-level-looking ``"writeKey": "..."`` in a raw body (confirmed after parsing)
_BODY_KEY = re.compile(rb'"writeKey"\s*:\s*"((?:[^"\\]|\\.)*)"')
_FINGERPRINT_CHARS = 16

Handler = Callable[[Scope, Receive, Send], Awaitable[None]]


def _json_bytes(content: Any) -> bytes:
    """The exact bytes Starlette's ``JSONResponse`` would send."""
    return json.dumps(
        content, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")
    ).encode()


_OK_BODY = _json_bytes(_OK)
_HEALTH_BODY = _json_bytes(_HEALTH)


class _DisconnectedError(Exception):
    """The client went away before its body arrived: nobody to answer."""


class _Endpoint:
    """A plain ASGI handler, wrapped so Starlette's router does not treat it as a view."""

    def __init__(self, handler: Handler) -> None:
        self._handler = handler

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._handler(scope, receive, send)


def key_fingerprint(key: str) -> str:
    """What the queue stores to tell write keys apart (never the key itself)."""
    return hashlib.sha256(key.encode()).hexdigest()[:_FINGERPRINT_CHARS]


class IngestApp:
    """The ASGI app (``.app``) around a writer and the accepted write keys."""

    def __init__(
        self,
        writer: GroupCommitWriter,
        write_keys: Sequence[str],
        on_stored: Callable[[], None] | None = None,
        *,
        limits: IngestLimits | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not all(write_keys):  # `"writeKey": ""` would match it (serve checks it at start)
            raise ConfigError("an events write key is empty: its environment variable is unset")
        self.writer = writer
        self._keys = [(key.encode(), key_fingerprint(key)) for key in write_keys]
        self._on_stored = on_stored
        self.limits = limits or IngestLimits()
        self._budget = KeyBudget(
            self.limits.key_bytes_per_s, self.limits.key_burst_bytes, clock=clock
        )
        self._post: dict[str, Handler] = {
            **{f"/v1/{name}": self._single(name) for name in SINGLE_ROUTES},
            **{f"/v1/{name}": self._batch for name in BATCH_ROUTES},
        }
        routes = [
            *(
                Route(path, _Endpoint(handler), methods=["POST"])
                for path, handler in self._post.items()
            ),
            Route("/health", _Endpoint(_health), methods=["GET"]),
        ]
        self._router: ASGIApp = Starlette(
            routes=routes, exception_handlers={HTTPException: _http_error}
        )
        #: the ASGI app to serve (the object itself: servers detect ASGI 3 from ``__call__``)
        self.app: ASGIApp = self

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI entry point: the hot routes directly, everything else via the router."""
        if scope["type"] == "http" and not scope.get("root_path"):
            if scope["method"] == "POST":
                handler = self._post.get(scope["path"])
                if handler is not None:
                    await handler(scope, receive, send)
                    return
            elif scope["method"] == "GET" and scope["path"] == "/health":
                await _health(scope, receive, send)
                return
        await self._router(scope, receive, send)

    def _single(self, kind: str) -> Handler:
        def parse(raw: Any) -> list[StoredEvent]:
            return [normalize(raw, received_at=dt.datetime.now(dt.UTC), type_hint=kind)]

        async def handler(scope: Scope, receive: Receive, send: Send) -> None:
            await self._ingest(scope, receive, send, MAX_EVENT_BYTES, parse)

        return handler

    async def _batch(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._ingest(scope, receive, send, MAX_BATCH_BYTES, _batch_events)

    async def _ingest(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        limit: int,
        parse: Callable[[Any], list[StoredEvent]],
    ) -> None:
        try:
            try:
                raw, source = await self._read(scope, receive, limit)
            except _DisconnectedError:
                return
            await self._store(self._costed(parse(raw), source), source)
        except IngestError as exc:
            headers = []
            if exc.status == HTTP_TOO_MANY_REQUESTS:
                retry = self._budget.retry_after_s(exc.detail)
                headers.append((b"retry-after", str(retry).encode()))
            await _respond(send, exc.status, _json_bytes(exc.body()), extra=headers)
            return
        except Exception:
            # a plain 500; the traceback goes to a throttled log (one per interval), not
            # to the server's per-request "Exception in ASGI application"
            log.exception("events ingest failed on %s", scope["path"])
            await _respond(send, 500, _SERVER_ERROR, _TEXT_TYPE)
            return
        await _respond(send, 200, _OK_BODY)

    async def _store(self, events: list[StoredEvent], source: str) -> None:
        await self.writer.append(events, source)
        if self._on_stored is not None:
            self._on_stored()

    def _costed(self, events: list[StoredEvent], source: str) -> list[StoredEvent]:
        """``events`` if the queue may take them; charges the key's budget."""
        cost = 0
        shared: set[str] = set()
        for event in events:
            if event.shared is None:
                cost += event.size
            else:  # each distinct shared part is stored once
                cost += event.body_size if event.shared in shared else event.size
                shared.add(event.shared)
        limit = self.limits.max_stored_bytes_per_request
        if cost > limit:
            raise IngestError(
                400,
                "payload_too_large",
                f"The request's events would take {cost} bytes in the queue, over {limit}:"
                " send fewer events per batch.",
            )
        self._budget.charge(source, cost)
        return events

    async def _read(self, scope: Scope, receive: Receive, limit: int) -> tuple[Any, str]:
        """The JSON body (gunzipped, size-checked) and its key's fingerprint.

        The key is checked before the body is parsed: from the Basic-auth header before
        the body is read, else from a ``writeKey`` found in the raw body (confirmed at
        the top level after parsing).
        """
        length, encoding, authorization = _headers(scope["headers"])
        header_key = _basic_username(authorization)
        source = self._source(header_key) if header_key is not None else None
        if header_key is not None and source is None:
            raise _unauthorized()
        if source is not None:
            self._check_budget(source)
        body = await _limited_body(receive, length, limit)
        if encoding.lower() == "gzip":
            body = _gunzip(body, limit)
        body_key: bytes | None = None
        if source is None:
            body_key = _raw_body_key(body)
            source = self._source(body_key) if body_key is not None else None
            if source is None:
                raise _unauthorized()
            self._check_budget(source)
        raw = _parse(body, self.limits.max_json_depth)
        if body_key is not None:
            top = raw.get("writeKey") if isinstance(raw, dict) else None
            if not isinstance(top, str) or not hmac.compare_digest(top.encode(), body_key):
                raise _unauthorized()
        return raw, source

    def _source(self, candidate: bytes) -> str | None:
        """The fingerprint of the write key ``candidate`` is (constant-time), or None."""
        found = None
        for key, fingerprint in self._keys:
            if hmac.compare_digest(candidate, key):
                found = fingerprint
        return found

    def _check_budget(self, source: str) -> None:
        if self._budget.wait_s(source) > 0:
            raise IngestError(
                HTTP_TOO_MANY_REQUESTS,
                "rate_limited",
                f"This write key stored more than {self.limits.key_bytes_per_s} bytes per"
                " second: retry after the Retry-After seconds.",
                detail=source,
            )


def _unauthorized() -> IngestError:
    return IngestError(
        401, "unauthorized", "Unauthorized: send a valid write key as the Basic-auth username."
    )


def _raw_body_key(body: bytes) -> bytes | None:
    """The first ``"writeKey": "..."`` string in the raw body, unescaped, or None."""
    match = _BODY_KEY.search(body)
    if match is None:
        return None
    value = match.group(1)
    if b"\\" in value:
        try:
            return str(json.loads(b'"' + value + b'"')).encode()
        except (ValueError, UnicodeDecodeError):
            return None
    return value


def _parse(body: bytes, max_depth: int) -> Any:
    """The parsed body; a 400 for invalid JSON or nesting deeper than ``max_depth``."""
    try:
        raw = json.loads(body)
    except RecursionError as exc:
        raise _too_deep(max_depth) from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise IngestError(400, "invalid_json", "The request body is not valid JSON.") from exc
    # only a body with more brackets than the bound can be nested beyond it
    if body.count(b"{") + body.count(b"[") > max_depth and _depth_over(raw, max_depth):
        raise _too_deep(max_depth)
    return raw


def _too_deep(max_depth: int) -> IngestError:
    return IngestError(
        400, "invalid_json", f"The request body is nested deeper than {max_depth} levels."
    )


def _depth_over(value: Any, max_depth: int) -> bool:
    """Whether objects/arrays in ``value`` nest deeper than ``max_depth`` (no recursion)."""
    if not isinstance(value, dict | list):
        return False
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        for child in item.values() if isinstance(item, dict) else item:
            if isinstance(child, dict | list):
                if depth >= max_depth:
                    return True
                stack.append((child, depth + 1))
    return False


def _batch_events(raw: Any) -> list[StoredEvent]:
    messages, defaults = batch_envelope(raw)
    received = dt.datetime.now(dt.UTC)
    return [normalize(message, received_at=received, defaults=defaults) for message in messages]


async def _http_error(_request: Request, exc: Exception) -> Response:
    """The router's 404/405 as JSON, shaped like every other error of this API."""
    assert isinstance(exc, HTTPException)  # the only exception class registered for this
    code = exc.detail.lower().replace(" ", "_")
    message = f"{exc.detail}: POST events to /v1/{{{'|'.join(SINGLE_ROUTES + BATCH_ROUTES)}}}."
    return JSONResponse(
        {"success": False, "code": code, "message": message},
        status_code=exc.status_code,
        headers=exc.headers,
    )


async def _health(_scope: Scope, _receive: Receive, send: Send) -> None:
    await _respond(send, 200, _HEALTH_BODY)


async def _respond(
    send: Send,
    status: int,
    body: bytes,
    content_type: bytes = _JSON_TYPE,
    extra: list[tuple[bytes, bytes]] | None = None,
) -> None:
    headers = [(b"content-length", str(len(body)).encode()), (b"content-type", content_type)]
    headers.extend(extra or ())
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _headers(raw: Iterable[tuple[bytes, bytes]]) -> tuple[str | None, str, str]:
    """Content-Length, Content-Encoding and Authorization (the first of each, as Starlette)."""
    length: str | None = None
    encoding: str | None = None
    authorization: str | None = None
    for name, value in raw:
        lowered = name.lower()
        if lowered == b"content-length" and length is None:
            length = value.decode("latin-1")
        elif lowered == b"content-encoding" and encoding is None:
            encoding = value.decode("latin-1")
        elif lowered == b"authorization" and authorization is None:
            authorization = value.decode("latin-1")
    return length, encoding or "", authorization or ""


async def _limited_body(receive: Receive, declared: str | None, limit: int) -> bytes:
    too_large = IngestError(400, "payload_too_large", f"The request exceeds {limit} bytes.")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _DisconnectedError
        if message["type"] != "http.request":
            continue
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _gunzip(body: bytes, limit: int) -> bytes:
    decompressor = zlib.decompressobj(_GZIP_WBITS)
    try:
        data = decompressor.decompress(body, limit + 1)
    except zlib.error as exc:
        raise IngestError(400, "invalid_request", "The gzip body cannot be decompressed.") from exc
    if len(data) > limit or decompressor.unconsumed_tail:
        raise IngestError(400, "payload_too_large", f"The request exceeds {limit} bytes.")
    return data


def _basic_username(header: str) -> bytes | None:
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "basic" or not token:
        return None
    try:
        decoded = base64.b64decode(token.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    username, _, _ = decoded.partition(b":")
    return username or None

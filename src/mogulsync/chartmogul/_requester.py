"""Sends one API call: limiter, attempts with retries, error mapping, request log.

Every resource method ends up in :meth:`Requester.call`. An attempt waits for the account's
limiter, sends, and either returns the decoded JSON or raises a typed error; stamina
decides from :class:`~mogulsync.chartmogul._retry.CallState` whether another attempt
follows. Creates with a natural key pass a ``lookup`` so an attempt after an unknown
outcome finds the record instead of creating it twice.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode

import httpx

from mogulsync._redact import Redactor
from mogulsync._retrying import stamina
from mogulsync._tls import verify_for
from mogulsync.chartmogul._retry import CallState, Replay, parse_retry_after
from mogulsync.chartmogul.errors import (
    AlreadyExistsError,
    AuthenticationError,
    ChartMogulAPIError,
    ChartMogulError,
    NotFoundError,
    ResponseFormatError,
    TransportError,
)
from mogulsync.chartmogul.errors_map import build_api_error
from mogulsync.chartmogul.limiter import AccountLimiter
from mogulsync.chartmogul.outage import OutageBreaker
from mogulsync.chartmogul.request_log import BodyRedactor, RequestHook, RequestLogEntry, emit
from mogulsync.chartmogul.settings import API_PREFIX, ClientSettings

JSONDict = dict[str, Any]
QueryValue = str | int | float | bool | None
Query = Mapping[str, QueryValue]
Lookup = Callable[[], Awaitable[JSONDict | None]]

#: httpx errors raised before a single byte of the request left this process.
_NEVER_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_MS_PER_S = 1000.0
_FIRST_SERVER_ERROR = 500


@dataclass(frozen=True, slots=True)
class _Request:
    method: str
    endpoint: str
    path: str
    query: dict[str, str]
    body: Any

    @property
    def logged_path(self) -> str:
        suffix = f"?{urlencode(self.query)}" if self.query else ""
        return f"{API_PREFIX}{self.path}{suffix}"


class Requester:
    """The HTTP engine behind a client: one ``httpx.AsyncClient``, shared limiter."""

    def __init__(
        self,
        settings: ClientSettings,
        *,
        limiter: AccountLimiter,
        transport: httpx.AsyncBaseTransport | None = None,
        hooks: Sequence[RequestHook] = (),
        breaker: OutageBreaker | None = None,
    ) -> None:
        key = settings.api_key.get_secret_value()
        self.redactor = Redactor([key])
        self._settings = settings
        self._bodies = BodyRedactor(self.redactor, settings.log_body_limit)
        self._limiter = limiter
        self.hooks: list[RequestHook] = list(hooks)
        #: notices an outage across calls (None: every call retries on its own)
        self.breaker = breaker
        timeouts = settings.timeouts
        self._http = httpx.AsyncClient(
            base_url=settings.api_url,
            auth=httpx.BasicAuth(key, ""),
            timeout=httpx.Timeout(
                connect=timeouts.connect,
                read=timeouts.read,
                write=timeouts.write,
                pool=timeouts.pool,
            ),
            headers={"User-Agent": settings.user_agent, "Accept": "application/json"},
            transport=transport,
            verify=verify_for(settings.api_url),
            # httpx's own pool, sized to the in-flight limit. A hand-written pool measured
            # ~3x less CPU per request, but ChartMogul caps an account at 40 req/s, far
            # below what this pool sustains, so the library's pool is the safer choice.
            limits=httpx.Limits(
                max_connections=settings.max_in_flight,
                max_keepalive_connections=settings.max_in_flight,
            ),
        )

    async def aclose(self) -> None:
        """Close the connection pool, to the end even when the caller is cancelled meanwhile.

        httpx closes its pooled connections one after the other; a cancellation landing
        between two (an extract stopped as its fetch ends, a service shutting a job down)
        would leave the rest open until the garbage collector finds them. The close runs
        as a task of its own, and a cancellation is raised once it has ended.
        """
        closing = asyncio.ensure_future(self._http.aclose())
        cancelled: asyncio.CancelledError | None = None
        while not closing.done():
            try:
                await asyncio.shield(closing)
            except asyncio.CancelledError as exc:
                cancelled = exc
        closing.result()  # its own failure, if any
        if cancelled is not None:
            raise cancelled

    async def call(
        self,
        method: str,
        endpoint: str,
        *,
        path: Mapping[str, str | int] | None = None,
        params: Query | None = None,
        body: Any = None,
        replay: Replay | None = None,
        lookup: Lookup | None = None,
    ) -> Any:
        """Send with retries; the decoded JSON body (None for an empty one)."""
        if replay is None:
            replay = Replay.UNSAFE if method == "POST" else Replay.SAFE
        if replay is Replay.LOOKUP and lookup is None:
            raise ValueError("a LOOKUP call needs a lookup")
        request = _Request(method, endpoint, _fill(endpoint, path), _query(params), body)
        state = CallState(replay, self._settings.retry)
        try:
            return await self._checked(request, state, lookup)
        except ChartMogulError as exc:
            if state.ever_unknown and request.method != "GET":
                # e.g. a lost answer, then 429s until the retries ran out: the last error
                # alone would say the write never happened, and a caller would record it
                # failed (insert mode then refuses the record as "already exists")
                exc.earlier_attempt_unknown = True
            raise

    async def _checked(self, request: _Request, state: CallState, lookup: Lookup | None) -> Any:
        """The retried call, watched by the outage breaker when there is one."""
        if self.breaker is None:
            return await self._retried(request, state, lookup)
        answers = self.breaker.answers
        try:
            return await self._retried(request, state, lookup)
        except (ChartMogulAPIError, TransportError) as exc:
            # Only when retries ran out: a failure that is not retried (an unsafe create
            # answered 500) says nothing about the server's health.
            if state.should_retry(exc) is not False:
                self.breaker.gave_up(
                    exc, answers=answers, method=request.method, endpoint=request.endpoint
                )
            raise

    async def _retried(self, request: _Request, state: CallState, lookup: Lookup | None) -> Any:
        policy = state.policy
        async for attempt in stamina.retry_context(
            on=state.should_retry,
            attempts=policy.max_attempts,
            timeout=policy.max_total_s,
            wait_initial=policy.initial_wait_s,
            wait_max=policy.max_wait_s,
            wait_jitter=policy.jitter_s,
        ):
            with attempt:
                return await self._attempt(request, state, attempt.num, lookup)
        raise AssertionError("unreachable: stamina either returns or raises")  # pragma: no cover

    async def _attempt(
        self, request: _Request, state: CallState, number: int, lookup: Lookup | None
    ) -> Any:
        if self.breaker is not None:
            self.breaker.check(request.method, request.endpoint)
        if state.pending_lookup and lookup is not None:
            found = await lookup()
            if found is not None:  # an earlier attempt landed after all
                return found
            state.pending_lookup = False
        try:
            return await self._send(request, number)
        except NotFoundError:
            if request.method == "DELETE" and state.ever_unknown:
                return None  # an earlier attempt whose answer was lost did the delete
            raise
        except AlreadyExistsError as exc:
            found = await _quiet(lookup) if lookup is not None else None
            if found is not None and state.ever_unknown:
                return found  # our own earlier attempt created it
            exc.existing_uuid = _uuid_of(found)
            raise
        except (ChartMogulAPIError, TransportError) as exc:
            state.record_failure(exc)
            if self.breaker is not None:  # raises instead once ChartMogul is found down
                self.breaker.failed(exc, method=request.method, endpoint=request.endpoint)
            raise

    async def _send(self, request: _Request, number: int) -> Any:
        async with self._limiter.slot():
            timestamp = datetime.now(UTC)
            started = time.perf_counter()
            if self.breaker is not None:
                self.breaker.sending()
            try:
                response = await self._http.request(
                    request.method,
                    request.path,
                    params=request.query or None,
                    json=request.body,
                )
            except httpx.TransportError as exc:
                error = TransportError(
                    self.redactor.text(f"{request.method} {request.endpoint}: {exc!r}"),
                    method=request.method,
                    endpoint=request.endpoint,
                    may_have_been_sent=not isinstance(exc, _NEVER_SENT),
                )
                self._log(request, number, timestamp, started, None, error)
                raise error from exc
            finally:
                if self.breaker is not None:  # its outcome is noted next, with no await between
                    self.breaker.returned()
        if self.breaker is not None and response.status_code < _FIRST_SERVER_ERROR:
            self.breaker.answered()
        if response.is_success:
            self._log(request, number, timestamp, started, response)
            return self._decode(request, response)
        api_error = build_api_error(
            response.status_code,
            response.text,
            method=request.method,
            endpoint=request.endpoint,
            redactor=self.redactor,
            body_limit=self._settings.log_body_limit,
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
        )
        if isinstance(api_error, AuthenticationError):
            # name who refused it: the emulator's key sent to ChartMogul (or the other way
            # round) is a wrong base_url, not a wrong key
            api_error.hint = (
                f"The ChartMogul API key was rejected at {self._settings.base_url}; check"
                " chartmogul.api_key / CHARTMOGUL_API_KEY, and chartmogul.base_url."
            )
        self._log(request, number, timestamp, started, response, api_error)
        raise api_error

    def _decode(self, request: _Request, response: httpx.Response) -> Any:
        if not response.content.strip():
            return None
        try:
            return json.loads(response.content)
        except (ValueError, RecursionError) as exc:  # also >4,300-digit ints, deep nesting
            raise ResponseFormatError(
                f"{request.method} {request.endpoint} answered {response.status_code} "
                "with a body that is not JSON",
                method=request.method,
                endpoint=request.endpoint,
            ) from exc

    def _log(
        self,
        request: _Request,
        number: int,
        timestamp: datetime,
        started: float,
        response: httpx.Response | None,
        error: Exception | None = None,
    ) -> None:
        # Without a hook nothing is decoded, redacted or serialised: that work is per request.
        if not self.hooks:
            return
        entry = RequestLogEntry(
            method=request.method,
            path=self.redactor.text(request.logged_path),
            endpoint=request.endpoint,
            status=response.status_code if response is not None else None,
            duration_ms=(time.perf_counter() - started) * _MS_PER_S,
            attempt=number,
            request_body=self._bodies.payload(request.body),
            response_body=self._bodies.text(response.text if response is not None else ""),
            error_type=type(error).__name__ if error else None,
            timestamp=timestamp,
            reached_server=not isinstance(error, TransportError) or error.may_have_been_sent,
        )
        emit(self.hooks, entry)


def _fill(endpoint: str, path: Mapping[str, str | int] | None) -> str:
    """``/customers/{uuid}`` with each id URL-quoted in place."""
    if not path:
        return endpoint
    return endpoint.format_map({name: quote(str(value), safe="") for name, value in path.items()})


def _query(params: Query | None) -> dict[str, str]:
    """Query parameters as ChartMogul reads them: no Nones, booleans as true/false."""
    query: dict[str, str] = {}
    for name, value in (params or {}).items():
        if value is None:
            continue
        query[name] = ("true" if value else "false") if isinstance(value, bool) else str(value)
    return query


async def _quiet(lookup: Lookup) -> JSONDict | None:
    """A best-effort lookup: a failure only means we do not know."""
    try:
        return await lookup()
    except ChartMogulError:
        return None


def _uuid_of(record: JSONDict | None) -> str | None:
    uuid = record.get("uuid") if record else None
    return uuid if isinstance(uuid, str) else None

"""Who may do what: bearer tokens with roles, browser sessions, CSRF and origin checks.

- API clients send ``Authorization: Bearer <token>``; a wrong token is 401, a viewer
  asking for an operator action 403.
- The web UI signs in at ``/login`` with a token and gets an opaque session id in an
  HttpOnly, SameSite=Strict cookie; the token itself is never stored in the cookie, a
  page, a URL, a log or the run history. Sessions live in memory (a restart signs
  everyone out) and end after 12 hours unused or 7 days in all, as a forgotten browser
  should not stay signed in to a server left running for weeks.
- Every state-changing form carries the session's CSRF token; every state-changing
  request that a browser marks with a foreign ``Origin`` is refused.
- With no tokens configured the server serves loopback only and everyone is an admin;
  then the ``Host`` header must name a loopback address too (no DNS rebinding).
"""

from __future__ import annotations

import enum
import hmac
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from starlette.requests import Request

from mogulsync.config.serve import LOOPBACK_HOSTS, TokenConfig
from mogulsync.errors import ConfigError

SESSION_COOKIE = "mogulsync_session"
LOGIN_COOKIE = "mogulsync_login"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
#: most sessions kept at once (the oldest are dropped)
MAX_SESSIONS = 1000
#: a session unused this long is signed out
SESSION_IDLE_S = 12 * 3600.0
#: ... and any session this old, used or not
SESSION_MAX_S = 7 * 86400.0
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class Role(enum.IntEnum):
    """What a caller may do (an operator may do everything a viewer may)."""

    VIEWER = 1
    OPERATOR = 2
    #: also edits and reloads the project file (it can redirect data and secrets)
    ADMIN = 3


@dataclass(frozen=True, slots=True)
class Session:
    """A signed-in browser."""

    role: Role
    csrf: str


@dataclass(slots=True)
class _Live:
    """A session and when it started and was last used (the auth's clock)."""

    session: Session
    started: float
    used: float


class AuthError(Exception):
    """Why a request is refused: ``status`` 401 (who are you?) or 403 (not allowed)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is asking, and how they authenticated."""

    role: Role
    session: Session | None = None
    #: authenticated by an ``Authorization`` header (browsers never add one on their own)
    bearer: bool = False


def check_tokens(tokens: Sequence[TokenConfig]) -> None:
    """ConfigError for an empty token: ``${VAR:-}`` whose variable is unset loads as ``""``,
    and an empty token would match an empty ``Bearer`` header or sign-in field."""
    for index, token in enumerate(tokens):
        if not token.token.get_secret_value():
            raise ConfigError(
                f"serve.tokens.{index}.token is empty (its environment variable is unset):"
                " anyone could sign in with an empty token",
                hint="Export the variable (at least 16 characters, e.g. `openssl rand -hex 24`)"
                " or remove the entry.",
            )


class Auth:
    """The server's tokens and sessions."""

    def __init__(
        self, tokens: Sequence[TokenConfig], *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        check_tokens(tokens)
        self._tokens = [
            (token.token.get_secret_value().encode(), Role[token.role.upper()]) for token in tokens
        ]
        self._clock = clock
        self._sessions: dict[str, _Live] = {}
        #: the one "session" of the no-token mode (its CSRF token still guards forms)
        self._open_session = Session(Role.ADMIN, secrets.token_urlsafe(32))

    @property
    def open(self) -> bool:
        """No tokens configured: loopback only, everyone an admin."""
        return not self._tokens

    def role_of(self, token: str) -> Role | None:
        """The role of a token, comparing in constant time; None when unknown."""
        given = token.encode()
        found = None
        for known, role in self._tokens:
            if hmac.compare_digest(given, known):
                found = role
        return found

    def sign_in(self, token: str) -> str | None:
        """A new session id for a valid token; None when the token is wrong."""
        role = self.role_of(token)
        if role is None:
            return None
        now = self._clock()
        for stale in [sid for sid, live in self._sessions.items() if self._expired(live, now)]:
            del self._sessions[stale]
        if len(self._sessions) >= MAX_SESSIONS:
            self._sessions.pop(next(iter(self._sessions)))
        session_id = secrets.token_urlsafe(32)
        self._sessions[session_id] = _Live(Session(role, secrets.token_urlsafe(32)), now, now)
        return session_id

    def sign_out(self, session_id: str) -> None:
        """Forget a session."""
        self._sessions.pop(session_id, None)

    def session(self, request: Request) -> Session | None:
        """The browser session of a request, if any."""
        session_id = request.cookies.get(SESSION_COOKIE)
        live = self._sessions.get(session_id) if session_id else None
        if live is None or session_id is None:
            return None
        now = self._clock()
        if self._expired(live, now):
            del self._sessions[session_id]
            return None
        live.used = now
        return live.session

    @staticmethod
    def _expired(live: _Live, now: float) -> bool:
        return now - live.used > SESSION_IDLE_S or now - live.started > SESSION_MAX_S

    def caller(self, request: Request) -> Caller:
        """Who is asking; AuthError(401) when nobody valid is."""
        header = request.headers.get("authorization", "")
        if header:
            scheme, _, token = header.partition(" ")
            role = self.role_of(token.strip()) if scheme.lower() == "bearer" else None
            if role is None:
                raise AuthError(401, "invalid token: send `Authorization: Bearer <token>`")
            return Caller(role, bearer=True)
        session = self.session(request)
        if session is not None:
            return Caller(session.role, session)
        if self.open:
            return Caller(Role.ADMIN)
        raise AuthError(401, "sign in: send `Authorization: Bearer <token>`")

    def csrf_of(self, caller: Caller) -> str:
        """The CSRF token the caller's pages carry."""
        return caller.session.csrf if caller.session else self._open_session.csrf

    def require(self, request: Request, role: Role, *, submitted: str | None = None) -> Caller:
        """The caller, if allowed ``role``; AuthError otherwise.

        A state change by a browser (cookie session, or the no-token mode's forms) must
        carry the CSRF token: ``submitted`` from a form, else the ``X-CSRF-Token`` header.
        """
        check_origin(request)
        if self.open:
            check_loopback_host(request)
        caller = self.caller(request)
        if caller.role < role:
            raise AuthError(403, f"this needs the {role.name.lower()} role")
        if request.method not in _SAFE_METHODS and not caller.bearer:
            given = submitted if submitted is not None else request.headers.get(CSRF_HEADER)
            # a cookie rides along on any request the browser makes: the page must prove
            # it is ours. No cookie and no token (no-token mode, e.g. curl): only forms.
            if caller.session is not None or submitted is not None:
                check_csrf(self.csrf_of(caller), given)
        return caller


def check_csrf(expected: str, submitted: str | None) -> None:
    """A state change from a browser must carry the page's CSRF token."""
    if not submitted or not hmac.compare_digest(submitted, expected):
        raise AuthError(403, "missing or wrong CSRF token: reload the page and try again")


def check_origin(request: Request) -> None:
    """Refuse a state change that a browser says comes from another site."""
    if request.method in _SAFE_METHODS:
        return
    origin = request.headers.get("origin")
    if origin is None:
        return
    host = request.headers.get("host", "")
    if urlsplit(origin).netloc != host:
        raise AuthError(403, "cross-site request refused")


def check_loopback_host(request: Request) -> None:
    """Without tokens, only this machine's own names may be used (no DNS rebinding)."""
    host = request.headers.get("host", "")
    name = urlsplit(f"//{host}").hostname or ""
    if name not in LOOPBACK_HOSTS:
        raise AuthError(403, "without tokens this server only answers on loopback addresses")

"""Real local receivers for alerts: an HTTP server and an SMTP server, both on loopback."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Awaitable
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from mogulsync._listen import bound_port, listening_socket

SMTP_USER = "alerts@example.com"
SMTP_PASSWORD = "smtp-password-do-not-leak"


# BoundController overrides how aiosmtpd creates its server: fail here, by name, if a
# release renames what it relies on (rather than with a bind error in some test)
_OVERRIDDEN = ("_create_server", "_factory_invoker")
assert all(hasattr(Controller, name) for name in _OVERRIDDEN), (
    f"aiosmtpd's Controller no longer has {_OVERRIDDEN}: update BoundController"
)


class BoundController(Controller):
    """aiosmtpd's threaded controller on a loopback port bound when it is made.

    Given a port number, aiosmtpd binds it only at ``start()``: a port probed free before
    could be taken by then. This one listens on its own socket from the start.
    """

    def __init__(self, handler: Any, **kwargs: Any) -> None:
        self._listener = listening_socket("127.0.0.1")
        super().__init__(handler, hostname="127.0.0.1", port=bound_port(self._listener), **kwargs)

    def _create_server(self) -> Awaitable[asyncio.AbstractServer]:
        return self.loop.create_server(
            self._factory_invoker, sock=self._listener, ssl=self.ssl_context
        )

    def stop(self, no_assert: bool = False) -> None:
        try:
            super().stop(no_assert)
        finally:
            self._listener.close()  # the server closed it; never started: ours to close


class HttpReceiver:
    """Records every POST (path, JSON body); answers ``fail_first`` requests with 500, and
    those to a path starting with one in ``refuse`` (changed at will) with 503; holds those
    to a path in ``hold`` until the test lets them go."""

    def __init__(self, *, fail_first: int = 0) -> None:
        self.posts: list[tuple[str, Any]] = []
        self.fail_first = fail_first
        self.attempts = 0
        self.refuse: set[str] = set()
        #: paths of the requests answered 503 because of ``refuse``
        self.refused: list[str] = []
        #: requests to a path starting with one in ``hold`` wait for ``release`` (then 503);
        #: ``holding`` is set when one arrives
        self.hold: set[str] = set()
        self.holding = threading.Event()
        self.release = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                receiver.attempts += 1
                if receiver.attempts <= receiver.fail_first:
                    self.send_response(500)
                    self.end_headers()
                    return
                if any(self.path.startswith(prefix) for prefix in receiver.hold):
                    receiver.holding.set()
                    receiver.release.wait(timeout=60)  # a hang guard: the test releases it
                    self.send_response(503)
                    self.end_headers()
                    return
                if any(self.path.startswith(prefix) for prefix in receiver.refuse):
                    receiver.refused.append(self.path)
                    self.send_response(503)
                    self.end_headers()
                    return
                receiver.posts.append((self.path, json.loads(body)))
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def bodies(self, path: str) -> list[Any]:
        """JSON bodies posted to ``path``."""
        return [body for seen, body in self.posts if seen == path]

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()  # server_close waits for every handler
        self._server.shutdown()
        self._server.server_close()


class Inbox:
    """Messages an SMTP test server received, and the logins it accepted."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.logins: list[str] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"


class SmtpReceiver:
    """An SMTP server that accepts one login and keeps every message."""

    def __init__(self) -> None:
        self.inbox = Inbox()

        def authenticate(server, session, envelope, mechanism, auth_data) -> AuthResult:
            ok = isinstance(auth_data, LoginPassword) and (
                auth_data.login.decode(),
                auth_data.password.decode(),
            ) == (SMTP_USER, SMTP_PASSWORD)
            if ok:
                self.inbox.logins.append(auth_data.login.decode())
            return AuthResult(success=ok)

        self._controller = BoundController(
            self.inbox, authenticator=authenticate, auth_require_tls=False
        )
        self.port = self._controller.port

    @property
    def messages(self) -> list[Message]:
        """Messages received so far."""
        return self.inbox.messages

    def __enter__(self) -> Self:
        self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._controller.stop()


def every_channel(smtp_port: int) -> dict[str, object]:
    """Slack, a JSON webhook, PagerDuty and SMTP e-mail, their secrets from the environment:
    ``SLACK_URL``, ``HOOK_URL``, ``PD_URL``, ``PD_KEY``, ``SMTP_PASSWORD``."""
    return {
        "team-slack": {"type": "slack", "url": "${SLACK_URL}"},
        "hook": {"type": "webhook", "url": "${HOOK_URL}"},
        "oncall": {
            "type": "webhook",
            "format": "pagerduty",
            "url": "${PD_URL}",
            "routing_key": "${PD_KEY}",
        },
        "mail": {
            "type": "email",
            "host": "127.0.0.1",
            "port": smtp_port,
            "security": "none",
            "username": SMTP_USER,
            "password": "${SMTP_PASSWORD}",
            "from": "mogulsync@example.com",
            "to": ["data-team@example.com"],
        },
    }

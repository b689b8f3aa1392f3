"""E-mail alerts over STARTTLS and implicit TLS to a local SMTP server with its own certificate."""

from __future__ import annotations

import ssl

import pytest
import stamina
from aiosmtpd.smtp import AuthResult, LoginPassword
from tests.integration.ops._receivers import SMTP_PASSWORD, SMTP_USER, BoundController, Inbox

from mogulsync._redact import Redactor
from mogulsync.alerts import AlertDispatcher
from mogulsync.config.alerts import AlertsConfig

pytestmark = pytest.mark.anyio


def _server(inbox, certificate, security):
    cert, key = certificate
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)

    def authenticate(server, session, envelope, mechanism, auth_data) -> AuthResult:
        ok = isinstance(auth_data, LoginPassword) and (
            auth_data.login.decode(),
            auth_data.password.decode(),
        ) == (SMTP_USER, SMTP_PASSWORD)
        if ok:
            inbox.logins.append(auth_data.login.decode())
        return AuthResult(success=ok)

    # aiosmtpd counts only STARTTLS as TLS for AUTH; implicit TLS is encrypted from the start
    tls = {"tls_context": context, "require_starttls": True, "auth_require_tls": True}
    if security == "ssl":
        tls = {"ssl_context": context, "auth_require_tls": False}
    return BoundController(inbox, authenticator=authenticate, **tls)


def _dispatcher(port, security):
    config = AlertsConfig.model_validate(
        {
            "channels": {
                "mail": {
                    "type": "email",
                    "host": "127.0.0.1",
                    "port": port,
                    "security": security,
                    "username": SMTP_USER,
                    "password": SMTP_PASSWORD,
                    "from": "Alerts <mogulsync@example.com>",
                    "to": ["team@example.com"],
                }
            },
            "timeout_s": 5,
        }
    )
    return AlertDispatcher(config, Redactor())


@pytest.mark.parametrize("security", ["starttls", "ssl"])
async def test_login_and_delivery_over_tls(certificate, monkeypatch, security):
    """The password is sent only inside TLS (STARTTLS or implicit) and the mail arrives."""
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))  # trust the test certificate
    inbox = Inbox()
    server = _server(inbox, certificate, security)
    server.start()
    try:
        results = await _dispatcher(server.port, security).send_test()
    finally:
        server.stop()
    assert results == {"mail": None}
    assert inbox.logins == [SMTP_USER]
    [mail] = inbox.messages
    assert mail["From"] == "Alerts <mogulsync@example.com>"
    assert mail["Message-ID"].endswith("@example.com>")


async def test_untrusted_certificate_fails_without_sending_the_password(certificate):
    """A server whose certificate is not trusted gets no login and no mail; the error says TLS."""
    inbox = Inbox()
    server = _server(inbox, certificate, "starttls")
    server.start()
    try:
        with stamina.set_testing(True, attempts=3):
            results = await _dispatcher(server.port, "starttls").send_test()
    finally:
        server.stop()
    assert results["mail"] is not None
    assert "CERTIFICATE_VERIFY_FAILED" in results["mail"]
    assert SMTP_PASSWORD not in results["mail"]
    assert (inbox.logins, inbox.messages) == ([], [])

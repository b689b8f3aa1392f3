"""The client over HTTPS: certificates are verified, with one CA bundle per process."""

from __future__ import annotations

import json
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from pydantic import SecretStr

from mogulsync import _tls
from mogulsync.chartmogul import ChartMogulClient, ClientSettings
from mogulsync.chartmogul.errors import TransportError
from mogulsync.chartmogul.settings import RetryPolicy

pytestmark = pytest.mark.anyio


class _Pong(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps({"data": "pong!"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        del args


@pytest.fixture
def https_url(certificate):
    """A local HTTPS server answering pong, with the self-signed certificate."""
    cert, key = certificate
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Pong)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def fresh_context():
    """Forget the process's context before and after (it reads SSL_CERT_FILE when built)."""
    _tls.verifying_context.cache_clear()
    yield
    _tls.verifying_context.cache_clear()


def _client(url: str) -> ChartMogulClient:
    settings = ClientSettings(
        api_key=SecretStr("tls-test-key"),
        base_url=url,
        retry=RetryPolicy(max_attempts=1),
    )
    return ChartMogulClient(settings)


@pytest.mark.usefixtures("fresh_context")
async def test_an_untrusted_certificate_is_refused(https_url):
    async with _client(https_url) as client:
        with pytest.raises(TransportError) as caught:
            await client.ping()
    assert "CERTIFICATE_VERIFY_FAILED" in str(caught.value) or "certificate" in str(caught.value)
    assert "tls-test-key" not in str(caught.value)


@pytest.mark.usefixtures("fresh_context")
async def test_a_certificate_trusted_through_ssl_cert_file_is_accepted(
    https_url, certificate, monkeypatch
):
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))
    async with _client(https_url) as client:
        assert await client.ping() is True


@pytest.mark.usefixtures("fresh_context")
def test_https_clients_share_one_verifying_context():
    first = _tls.verify_for("https://api.chartmogul.com")
    second = _tls.verify_for("HTTPS://example.com/v1")
    assert isinstance(first, ssl.SSLContext)
    assert first is second
    assert first.verify_mode == ssl.CERT_REQUIRED
    assert first.check_hostname is True


def test_plain_http_clients_load_no_ca_bundle():
    assert _tls.verify_for("http://127.0.0.1:8080") is False

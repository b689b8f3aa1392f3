"""TLS settings for the project's HTTP clients: one verifying context per process.

Every ``httpx`` client builds its own SSL context by default and loads the whole CA bundle
into it: ~30 ms of CPU per client, paid again by every run, retry loop, alert and test
that opens one. A context can serve any number of clients and connections, so the
process builds it once, on first use (the ``SSL_CERT_FILE``/``SSL_CERT_DIR`` variables
are read then, as httpx would).

A plain-``http://`` base URL (the emulator, a local proxy) never performs a handshake:
the clients do not follow redirects, so no request can reach an ``https://`` URL. Such a
client gets no CA bundle at all.
"""

from __future__ import annotations

import ssl
from functools import cache
from urllib.parse import urlsplit

import httpx


@cache
def verifying_context() -> ssl.SSLContext:
    """The process's certificate-verifying context (built on first use)."""
    return httpx.create_ssl_context(trust_env=True)


def verify_for(url: str) -> ssl.SSLContext | bool:
    """What to pass as ``verify=`` to a client whose requests all go to ``url``."""
    if urlsplit(url).scheme.lower() == "http":
        return False  # no TLS ever happens on this client (see the module docstring)
    return verifying_context()

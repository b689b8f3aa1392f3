"""The single gate for masking secrets before anything is logged, stored or printed."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable, Mapping
from typing import Any

MASK = "***"

_SECRET_KEYS = re.compile(
    r"(api[_-]?key|write[_-]?key|password|secret|token|authorization)", re.IGNORECASE
)
_BASIC_AUTH = re.compile(r"(Basic\s+)[A-Za-z0-9+/=]+", re.IGNORECASE)
_URL_USERINFO = re.compile(
    r"(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<userinfo>[^/@\s]+)@", re.IGNORECASE
)


class Redactor:
    """Masks known secret values and secret-looking keys in text and JSON-like data.

    Known secrets are registered explicitly (the API key, write keys, passwords from URLs):
    masking by value catches them wherever they end up, including in error bodies echoed
    back by a server.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: set[str] = set()
        for secret in secrets:
            self.add(secret)

    def add(self, secret: str | None) -> None:
        """Register a secret value; its Basic-auth encodings are masked too."""
        if not secret or len(secret) < 4:
            return
        self._secrets.add(secret)
        for password in ("", secret):
            token = base64.b64encode(f"{secret}:{password}".encode()).decode()
            self._secrets.add(token)

    def text(self, value: str) -> str:
        """Mask secrets inside free text."""
        for secret in sorted(self._secrets, key=len, reverse=True):
            value = value.replace(secret, MASK)
        value = _BASIC_AUTH.sub(rf"\g<1>{MASK}", value)
        return _URL_USERINFO.sub(rf"\g<scheme>{MASK}@", value)

    def data(self, value: Any) -> Any:
        """Mask secrets inside JSON-like data (dicts, lists, strings)."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, Mapping):
            return {
                key: MASK if _SECRET_KEYS.search(str(key)) else self.data(item)
                for key, item in value.items()
            }
        if isinstance(value, list | tuple):
            return [self.data(item) for item in value]
        return value


def redact_url(url: str) -> str:
    """Mask user info (passwords) in a URL such as a SQLAlchemy DSN."""
    return _URL_USERINFO.sub(rf"\g<scheme>{MASK}@", url)

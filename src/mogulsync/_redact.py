"""The single gate for masking secrets before anything is logged, stored or printed."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable, Mapping
from typing import Any

MASK = "***"
#: where ``url_credentials`` found the user info's password (query parameters keep their name)
USERINFO = "userinfo"

_SECRET_KEYS = re.compile(
    r"(api[_-]?key|write[_-]?key|password|secret|token|authorization)", re.IGNORECASE
)
_BASIC_AUTH = re.compile(r"(Basic\s+)[A-Za-z0-9+/=]+", re.IGNORECASE)
#: A match starts only where a run of scheme characters starts (the lookbehind), its
#: leading digits/``+.-`` kept apart: tried at every position inside a long run (a hex id,
#: a token in a request body), the scheme's scan made redaction quadratic in the run's
#: length (8,000 letters: 0.5 s, on the server's event loop). Same matches as before.
_URL_USERINFO = re.compile(
    r"(?<![a-z0-9+.-])(?P<lead>[0-9+.-]*)(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<userinfo>[^/@\s]+)@",
    re.IGNORECASE,
)
#: URL query parameters that carry a credential, as drivers spell them (``password``,
#: ``sslpassword``, ``PWD``, ``access_token``, ``motherduck_token``, ``private_key``,
#: ``private_key_passphrase``, ``client_secret``, ``api_key``, ...)
_CREDENTIAL_PARAM = re.compile(
    r"pass(word|wd|phrase)|pwd|token|secret|private[_-]?key|api[_-]?key|credential|signature",
    re.IGNORECASE,
)
#: ... except those naming where a credential is kept (``private_key_file=/keys/k.p8``)
_NOT_A_CREDENTIAL = re.compile(r"(file|path|uri|url)$", re.IGNORECASE)
#: a path segment this long holding a digit is treated as a token (``/hooks/a1B2c3D4e5``)
_TOKEN_SEGMENT_MIN = 8
_URL_QUERY_PARAM = re.compile(r"(?P<lead>[?&;](?P<name>[A-Za-z0-9_.-]+)=)(?P<value>[^&#;\s'\"]*)")


def is_credential_param(name: str) -> bool:
    """Whether a URL query parameter named ``name`` holds a credential."""
    return bool(_CREDENTIAL_PARAM.search(name)) and not _NOT_A_CREDENTIAL.search(name)


def url_credentials(url: str) -> list[tuple[str, str]]:
    """Every credential a database URL holds: ``(USERINFO, value)`` for the user info's
    password, ``(name, value)`` for each credential query parameter. Read as SQLAlchemy
    reads the URL; an unreadable URL holds none (its own check reports it)."""
    if "@" not in url and "?" not in url:
        return []  # no user info, no query: nothing to find, and SQLAlchemy stays unimported
    from sqlalchemy.engine import make_url

    try:
        parsed = make_url(url)
    except Exception:
        return []
    found = [(USERINFO, str(parsed.password))] if parsed.password is not None else []
    for name, values in parsed.query.items():
        if is_credential_param(name):
            found.extend((name, value) for value in _as_tuple(values))
    return found


def endpoint_secrets(url: str) -> list[str]:
    """The parts of a webhook URL that may carry its token: the whole URL, its path (with
    and without the query), token-like path segments and query values. A receiver's error
    reply often quotes only the path (``no hook /services/T0/B0/XyZ...``)."""
    from urllib.parse import parse_qsl, urlsplit

    parts = urlsplit(url)
    found = [url]
    if parts.path.strip("/"):
        found.append(parts.path)
        found.extend(
            segment
            for segment in parts.path.split("/")
            if len(segment) >= _TOKEN_SEGMENT_MIN and any(char.isdigit() for char in segment)
        )
        if parts.query:
            found.append(f"{parts.path}?{parts.query}")
    found.extend(value for _, value in parse_qsl(parts.query))
    if parts.password:
        found.append(parts.password)
    return found


def _as_tuple(values: str | tuple[str, ...]) -> tuple[str, ...]:
    return (values,) if isinstance(values, str) else values


def _mask_query(value: str) -> str:
    def replace(match: re.Match[str]) -> str:
        if not match.group("value") or not is_credential_param(match.group("name")):
            return match.group(0)
        return f"{match.group('lead')}{MASK}"

    return _URL_QUERY_PARAM.sub(replace, value)


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

    def add_url(self, url: str) -> None:
        """Register every credential a database URL holds (see ``url_credentials``)."""
        for _, secret in url_credentials(url):
            self.add(secret)

    def text(self, value: str) -> str:
        """Mask secrets inside free text."""
        for secret in sorted(self._secrets, key=len, reverse=True):
            value = value.replace(secret, MASK)
        value = _BASIC_AUTH.sub(rf"\g<1>{MASK}", value)
        return redact_url(value)

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


#: a database URL's password as SQLAlchemy reads it: after ``scheme://user:``, up to the
#: first ``@`` (so it may hold ``/``, where :data:`_URL_USERINFO`'s user info ends)
_DB_URL_PASSWORD = re.compile(r"^(?P<head>[^:/\s]+://[^:/@\s]*:)(?P<password>[^@]*)@")


def display_url(url: str) -> str:
    """One configured database URL as a message or a page shows it: its password masked
    where SQLAlchemy reads it (``postgresql://etl:Xk9/pQ==@host``, from a generated
    password, kept the whole password past :func:`redact_url`'s pattern), then the rest
    as :func:`redact_url` masks it."""
    if any(name == USERINFO for name, _ in url_credentials(url)):
        url = _DB_URL_PASSWORD.sub(rf"\g<head>{MASK}@", url, count=1)
    return redact_url(url)


def redact_url(url: str) -> str:
    """Mask the credentials of URLs inside ``url`` (user info, credential query parameters)."""
    return _mask_query(_URL_USERINFO.sub(rf"\g<lead>\g<scheme>{MASK}@", url))

"""Field validation shared by the CRM route modules.

A :class:`FieldChecker` collects every problem of one payload and raises them together
as ChartMogul's 422 ``{"errors": {field: message}}`` body (shape 2), so a caller fixing a
payload sees all of its mistakes at once. Messages are ours where the real wording is not
recorded; the uniqueness messages in the route modules are the real ones.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from mogulsync.emulator._http import error_code, error_fields, iso_millis, parse_time
from mogulsync.emulator.routes._countries import COUNTRY_NAMES
from mogulsync.emulator.store import JSONDict

MAX_TEXT_LENGTH = 255
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
URL_SCHEMES = ("http", "https")


def require_keys(payload: JSONDict, *names: str) -> None:
    """400 in shape 1 for the first required key the payload lacks (as ``/data_sources``)."""
    for name in names:
        if name not in payload:
            raise error_code(400, f'Parameter "{name}" is missing', name)


class FieldChecker:
    """Validates and normalises payload fields, collecting errors per field."""

    def __init__(self, payload: JSONDict, prefix: str = "") -> None:
        self.payload = payload
        self.prefix = prefix
        self.errors: dict[str, str] = {}

    def fail(self, field: str, message: str) -> None:
        """Record a problem (the first one per field wins)."""
        self.errors.setdefault(self.prefix + field, message)

    def raise_if_any(self) -> None:
        """422 with every collected error."""
        if self.errors:
            raise error_fields(dict(self.errors))

    def required_text(self, field: str, message: str) -> str:
        """A non-empty string that must be present."""
        value = self.payload.get(field)
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str) or not value.strip():
            self.fail(field, message)
            return ""
        return self.text(field, value) or ""

    def text(self, field: str, value: Any = ..., max_length: int = MAX_TEXT_LENGTH) -> str | None:
        """An optional string of bounded length (numbers are accepted as text)."""
        if value is ...:
            value = self.payload.get(field)
        if value is None:
            return None
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str):
            self.fail(field, f"{_label(field)} must be a string.")
            return None
        if len(value) > max_length:
            self.fail(field, f"{_label(field)} is too long (maximum is {max_length} characters).")
            return None
        return value

    def email(self, field: str = "email") -> str | None:
        """An optional e-mail address; empty means none."""
        value = self.text(field)
        if not value:
            return None
        if not EMAIL_PATTERN.match(value.strip()):
            self.fail(field, f"{_label(field)} is not a valid email address.")
            return None
        return value.strip()

    def country(self, field: str = "country") -> str | None:
        """An optional ISO 3166-1 alpha-2 code, returned upper-case."""
        value = self.text(field)
        if not value:
            return None
        code = value.strip().upper()
        if code not in COUNTRY_NAMES:
            self.fail(field, "Country must be an ISO 3166-1 alpha-2 code (for example US).")
            return None
        return code

    def timestamp(self, field: str) -> str | None:
        """An optional ISO 8601 time, returned as ``2016-01-01T12:00:00.000Z``."""
        value = self.payload.get(field)
        if value is None or value == "":
            return None
        moment = parse_time(value)
        if moment is None:
            self.fail(field, f"{_label(field)} must be an ISO 8601 date or date-time.")
            return None
        return iso_millis(moment)

    def url(self, field: str) -> str | None:
        """An optional web address (the scheme may be left out)."""
        value = self.text(field)
        if not value:
            return None
        value = value.strip()
        candidate = value if "://" in value else f"http://{value}"
        parts = urlsplit(candidate)
        host = parts.hostname or ""
        if parts.scheme not in URL_SCHEMES or "." not in host or " " in value:
            self.fail(field, f"{_label(field)} is not a valid URL.")
            return None
        return value

    def positive_int(self, field: str) -> int | None:
        """An optional integer greater than zero."""
        value = self.payload.get(field)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            self.fail(field, f"{_label(field)} must be an integer greater than 0.")
            return None
        return value

    def string_list(self, field: str, value: Any) -> list[str]:
        """A list of non-empty strings, de-duplicated in order."""
        if value is None:
            return []
        if not isinstance(value, list) or not all(
            isinstance(item, str) and item.strip() for item in value
        ):
            self.fail(field, f"{_label(field)} must be a list of non-empty strings.")
            return []
        return list(dict.fromkeys(item.strip() for item in value))


def _label(field: str) -> str:
    """``lead_created_at`` → ``Lead created at`` for messages."""
    last = field.rsplit(".", 1)[-1]
    return last.replace("_", " ").capitalize()

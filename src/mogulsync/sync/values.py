"""Checks and conversions of single warehouse values into what ChartMogul accepts.

Each function takes a raw value (already known not to be None) and returns the JSON-ready
value, or raises :class:`FieldValueError` whose message says what is wrong and how to fix it.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import math
import re
import unicodedata
from typing import Any

from mogulsync.sync._codes import COUNTRIES, CURRENCIES

#: ChartMogul's limit on names, plain text fields and String custom attributes.
MAX_TEXT = 255
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
URL = re.compile(r"^https?://[^\s/$.?#][^\s]*$", re.IGNORECASE)
INTEGER_TEXT = re.compile(r"^[+-]?\d+$")
TRUE_WORDS = frozenset({"true", "t", "1", "yes", "y"})
FALSE_WORDS = frozenset({"false", "f", "0", "no", "n"})
#: Whole numbers outside a signed 64-bit integer fit no ChartMogul number field; bounding
#: them also keeps Python's int↔text digit limit (4,300 digits) out of every message.
MAX_INTEGER = 2**63 - 1
_MAX_INTEGER_DIGITS = len(str(MAX_INTEGER)) + 1
#: Unicode categories never valid in a text field (controls, unassigned, surrogates).
_BAD_CATEGORIES = frozenset({"Cc", "Cs", "Cn", "Co"})
_ALLOWED_CONTROLS = frozenset({"\n", "\t", "\r"})


class FieldValueError(ValueError):
    """One value that cannot be sent: what is wrong and what to do about it."""

    def __init__(self, message: str, fix: str) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix


def text(value: Any, *, max_length: int = MAX_TEXT) -> str:
    """A string of at most ``max_length`` printable characters."""
    if type(value) is str:  # the common case first: no isinstance chain per value
        result = value
    elif isinstance(value, dict | list | tuple | bytes):
        raise FieldValueError(
            f"expected text, got {type(value).__name__}", "Cast the column to a string."
        )
    elif isinstance(value, int) and not -MAX_INTEGER <= value <= MAX_INTEGER:
        raise FieldValueError("is a number too large for a text field", "Cast it to a string.")
    else:
        result = str(value)
    # str.isprintable() (C speed) is False for every bad category, so only text that fails
    # it needs the per-character look-up.
    if not result.isprintable() and any(
        unicodedata.category(char) in _BAD_CATEGORIES and char not in _ALLOWED_CONTROLS
        for char in result
    ):
        raise FieldValueError(
            "contains control characters or invalid Unicode",
            "Remove control characters (e.g. NUL) or invalid code points in the warehouse.",
        )
    if len(result) > max_length:
        raise FieldValueError(
            f"is {len(result)} characters long; ChartMogul accepts at most {max_length}",
            f"Shorten it, e.g. LEFT(column, {max_length}) in the model's SQL.",
        )
    return result


def required_text(value: Any, *, max_length: int = MAX_TEXT) -> str:
    """Non-blank text."""
    result = text(value, max_length=max_length)
    if not result.strip():
        raise FieldValueError("is blank", "Give every row a non-empty value.")
    return result


def email(value: Any) -> str:
    """An email address."""
    result = text(value).strip()
    if not EMAIL.match(result):
        raise FieldValueError(f"{result!r} is not a valid email address", "Fix or null the email.")
    return result


def url(value: Any) -> str:
    """An http(s) URL."""
    result = text(value).strip()
    if not URL.match(result):
        raise FieldValueError(
            f"{result!r} is not a valid URL", "Use a full URL starting with https://."
        )
    return result


def country(value: Any) -> str:
    """An ISO 3166-1 alpha-2 code (case-insensitive on input, upper-case on output)."""
    result = text(value).strip().upper()
    if result not in COUNTRIES:
        raise FieldValueError(
            f"{value!r} is not an ISO 3166-1 alpha-2 country code",
            "Use two-letter codes such as US, GB or DE.",
        )
    return result


def currency(value: Any) -> str:
    """An ISO 4217 currency code."""
    result = text(value).strip().upper()
    if result not in CURRENCIES:
        raise FieldValueError(
            f"{value!r} is not an ISO 4217 currency code",
            "Use three-letter codes such as USD, EUR or GBP.",
        )
    return result


#: what DuckDB reads ``infinity`` / ``-infinity`` as: Python's extreme moments (naive, as
#: DuckDB gives them), which no real revenue date is (PostgreSQL's are read as text)
_EXTREMES = frozenset({dt.datetime.max, dt.datetime.min, dt.date.max, dt.date.min})  # noqa: DTZ901
_INFINITY_FIX = (
    "Use NULL for 'no date' in the model's SQL, e.g. CASE WHEN isfinite(column) THEN column"
    " END (PostgreSQL and DuckDB)."
)
_OUT_OF_RANGE_FIX = "Use a realistic date (or null) in the warehouse."


def timestamp(value: Any) -> str:
    """An ISO 8601 UTC timestamp (dates become midnight UTC)."""
    moment: dt.datetime
    if type(value) is dt.datetime and value.tzinfo is None:
        if value in _EXTREMES:
            raise _extreme(value)
        # the common case (naive = UTC), without the astimezone round trip; same text
        return value.isoformat() + "Z"
    if isinstance(value, dt.datetime):
        if value.replace(tzinfo=None) in _EXTREMES:
            raise _extreme(value)
        moment = value
    elif isinstance(value, dt.date):
        if value in _EXTREMES:
            raise _extreme(value)
        moment = dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC)
    elif isinstance(value, str):
        moment = _parse_moment(value)
    else:
        raise FieldValueError(
            f"expected a date or timestamp, got {type(value).__name__}",
            "Cast the column to TIMESTAMP or an ISO 8601 string.",
        )
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    try:
        in_utc = moment.astimezone(dt.UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00+01:00 is before year 1 in UTC
        raise FieldValueError(
            f"{_shown(value)} is outside the years 1-9999 once converted to UTC",
            _OUT_OF_RANGE_FIX,
        ) from None
    return in_utc.isoformat().replace("+00:00", "Z")


def _extreme(value: dt.date) -> FieldValueError:
    return FieldValueError(
        f"{value.isoformat()} is the {'latest' if value.year == 9999 else 'earliest'} moment"
        " there is: what DuckDB reads 'infinity' as, or a placeholder, not a real date",
        _INFINITY_FIX,
    )


#: a year of five or more digits, or BC: PostgreSQL (and DuckDB) print dates Python cannot hold
_BEYOND_YEAR_9999 = re.compile(r"^[+-]?\d{5,}-")
_BC = re.compile(r"\s\(?BC\)?$", re.IGNORECASE)


def _parse_moment(raw: str) -> dt.datetime:
    cleaned = raw.strip().removesuffix(" UTC").replace("Z", "+00:00")
    try:
        return dt.datetime.fromisoformat(cleaned)
    except ValueError:
        pass
    shown = _shown(raw)
    if cleaned.lower().lstrip("+-") in {"infinity", "inf"}:
        raise FieldValueError(
            f"{shown} is infinity, not a date ChartMogul can store", _INFINITY_FIX
        )
    if _BEYOND_YEAR_9999.match(cleaned) or _BC.search(cleaned):
        raise FieldValueError(f"{shown} is outside the years 1-9999", _OUT_OF_RANGE_FIX)
    raise FieldValueError(
        f"{raw!r} is not an ISO 8601 date or timestamp",
        "Use YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ.",
    )


#: the hint for a value that is not a whole number; amounts say more (``cents``)
_WHOLE = "Cast the column to INTEGER (a whole number)."
_CENTS = "Amounts are in cents: use whole cents (1999 for 19.99)."


def cents(value: Any, *, minimum: int | None = None) -> int:
    """An amount in cents: a whole number whose hint speaks of cents."""
    return integer(value, minimum=minimum, hint=_CENTS)


def integer(value: Any, *, minimum: int | None = None, hint: str = _WHOLE) -> int:
    """A whole number (integral floats, decimals and digit strings are accepted)."""
    if isinstance(value, bool):
        raise FieldValueError(
            "expected a whole number, got a boolean", "Cast the column to INTEGER."
        )
    result: int
    if isinstance(value, int):
        result = value
    elif isinstance(value, float | decimal.Decimal) and _finite(value) and value == int(value):
        result = int(value)
    elif (
        isinstance(value, str)
        and len(value.strip()) <= _MAX_INTEGER_DIGITS
        and INTEGER_TEXT.match(value.strip())
    ):
        result = int(value.strip())
    elif isinstance(value, float) and _float_noise(value):
        raise FieldValueError(
            f"{value!r} is not a whole number: {round(value)} plus a floating-point rounding"
            " error (a DOUBLE or FLOAT column, or arithmetic on one)",
            "Round it in the model's SQL, e.g. ROUND(price * 100), or keep amounts in"
            " DECIMAL or INTEGER columns.",
        )
    else:
        raise FieldValueError(f"{_shown(value)} is not a whole number", hint)
    if not -MAX_INTEGER <= result <= MAX_INTEGER:
        raise FieldValueError(
            f"{_shown(result)} is outside the 64-bit integer range",
            f"Use a realistic value. {hint}",
        )
    if minimum is not None and result < minimum:
        raise FieldValueError(
            f"{result} is below the minimum of {minimum}", f"Use {minimum} or more."
        )
    return result


def number(value: Any) -> float:
    """A finite decimal number."""
    if isinstance(value, bool):
        raise FieldValueError("expected a number, got a boolean", "Cast the column to DECIMAL.")
    if isinstance(value, bytes):  # float() would read b"1.5"; a blob is not a number column
        raise FieldValueError("expected a number, got bytes", "Cast the column to DECIMAL.")
    try:
        result = float(value)
    except (TypeError, ValueError):
        raise FieldValueError(
            f"{_shown(value)} is not a number", "Cast the column to DECIMAL."
        ) from None
    except OverflowError:  # an int beyond a float's range
        result = math.inf
    if not math.isfinite(result):
        raise FieldValueError(f"{_shown(value)} is not a finite number", "Replace NaN/Infinity.")
    if abs(result) >= _EXACT_FLOAT_INTEGERS and _whole_exact(value) and int(result) != value:
        # a JSON number is a double: the digits past the 16th would change without a word
        raise FieldValueError(
            f"{_shown(value)} has more digits than a Decimal attribute keeps"
            f" (it would land as {int(result)})",
            "Cast the column to BIGINT for an Integer attribute, or to TEXT for a String"
            " one (ids belong in text), in the model's SQL.",
        )
    return result


#: from here on, not every whole number is a double (2**53 + 1 is not one)
_EXACT_FLOAT_INTEGERS = 2**53


def _whole_exact(value: Any) -> bool:
    """Whether ``value`` is an exact whole number (an int or an integral DECIMAL).

    Floats are left alone (they are doubles already), as are long fractions such as
    ``1 / 3.0``, whose rounding to a double is what a Decimal attribute means.
    """
    if isinstance(value, int):
        return True
    return isinstance(value, decimal.Decimal) and value == value.to_integral_value()


def boolean(value: Any) -> bool:
    """A boolean (true/false words and 0/1 are accepted)."""
    if isinstance(value, bool):
        return value
    whole = isinstance(value, int) and value in (0, 1)  # str() of a huge int would raise
    word = str(value).strip().lower() if isinstance(value, str) or whole else None
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise FieldValueError(f"{_shown(value)} is not a boolean", "Use true/false.")


def choice(value: Any, allowed: tuple[str, ...]) -> str:
    """One of ``allowed`` (case-insensitive)."""
    result = text(value).strip().lower()
    if result not in allowed:
        raise FieldValueError(f"{value!r} is not one of {', '.join(allowed)}", "Map it to one.")
    return result


def string_list(value: Any) -> list[str]:
    """A list of strings, from an array column, a JSON array or comma-separated text."""
    items: Any = value
    if isinstance(value, str):
        stripped = value.strip()
        items = _json_array(stripped) if stripped.startswith("[") else stripped.split(",")
    if not isinstance(items, list | tuple):
        raise FieldValueError("expected a list", "Use an array column or comma-separated text.")
    stripped_items = (text(item).strip() for item in items if item is not None)
    return [item for item in stripped_items if item]


def json_objects(value: Any) -> list[dict[str, Any]]:
    """A list of objects from a JSON array column (or its text)."""
    items = _json_array(value.strip()) if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not all(isinstance(item, dict) for item in items):
        raise FieldValueError(
            "expected a JSON array of objects", "Build it with json_group_array / json_agg."
        )
    return [dict(item) for item in items]


def _json_array(raw: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        raise FieldValueError("is not valid JSON", "Produce valid JSON in the model.") from None
    except RecursionError:  # thousands of nested brackets
        raise FieldValueError(
            "is JSON nested too deeply", "Produce a flat JSON array of objects."
        ) from None


#: how far from a whole number, relative to its size, a float may be and still be read as
#: rounding error: a DOUBLE holds about 16 significant digits (0.29 * 100 is
#: 28.999999999999996, off by 1e-16 of itself), so a few operations stay far below this
_FLOAT_NOISE = 1e-12


def _float_noise(value: float) -> bool:
    """Whether ``value`` is a whole number plus floating-point rounding error."""
    if not math.isfinite(value):
        return False
    return abs(value - round(value)) <= _FLOAT_NOISE * max(1.0, abs(value))


def _finite(value: float | decimal.Decimal) -> bool:
    if isinstance(value, decimal.Decimal):  # float() refuses a signalling NaN
        return value.is_finite()
    return math.isfinite(value)


def _shown(value: Any) -> str:
    """``repr`` for a message, shortened: a 5,000-digit number must not fill (or break) it."""
    if isinstance(value, int) and not -MAX_INTEGER <= value <= MAX_INTEGER:
        return "a number of more than 19 digits"
    try:
        shown = repr(value)
    except ValueError:  # a container holding such a number
        return f"a {type(value).__name__} holding a number of more than 4,300 digits"
    return shown if len(shown) <= 60 else shown[:57] + "..."

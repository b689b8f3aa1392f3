"""Typed custom attributes: value coercion per type and the account-wide type lock.

The first time a key is created its type is fixed for the whole account (ChartMogul shows
one column per key), so the lock lives in the store's ``meta`` table and survives restarts
and customer deletions. Values are stored already normalised (timestamps as
``2016-01-31T00:00:00.000Z``), which is how the API returns them.
"""

from __future__ import annotations

import math
import re
from typing import Any

from mogulsync.emulator._http import error_fields, iso_millis, parse_time
from mogulsync.emulator.store import JSONDict, Store

CUSTOM_TYPES = ("String", "Integer", "Decimal", "Timestamp", "Boolean")
KEY_PATTERN = re.compile(r"^[A-Za-z0-9_]+$")
MAX_STRING_LENGTH = 255
TRUE_WORDS = frozenset({"true", "t", "1"})
FALSE_WORDS = frozenset({"false", "f", "0"})
DEFAULT_SOURCE = "API"
_META_PREFIX = "custom_attribute_type:"


class _BadValueError(ValueError):
    """A value that does not fit its attribute type."""


def locked_type(store: Store, key: str) -> str | None:
    """The type a key was first created with, if any."""
    return store.get_meta(_META_PREFIX + key)


def coerce(type_name: str, value: Any) -> Any:
    """Normalise ``value`` for ``type_name``; raises ValueError when it does not fit."""
    if value is None:
        return None
    if type_name == "String":
        return _as_string(value)
    if type_name == "Integer":
        return _as_integer(value)
    if type_name == "Decimal":
        return _as_decimal(value)
    if type_name == "Timestamp":
        moment = parse_time(value)
        if moment is None:
            raise _BadValueError("must be an ISO 8601 date or date-time")
        return iso_millis(moment)
    return _as_boolean(value)


def parse_typed(store: Store, entries: Any, field: str = "custom") -> dict[str, Any]:
    """Validate ``[{type, key, value, source?}]``; lock new keys' types; return key → value.

    Nothing is locked unless every entry is valid, so a rejected request changes nothing.
    """
    if not isinstance(entries, list):
        raise error_fields({field: "Custom attributes must be a list of {type, key, value}."})
    errors: dict[str, str] = {}
    values: dict[str, Any] = {}
    types: dict[str, str] = {}
    for index, entry in enumerate(entries):
        try:
            key, type_name, value = _typed_entry(store, entry, types)
        except _EntryError as exc:
            errors[exc.where.format(field=field, index=index)] = exc.message
            continue
        values[key] = value
        types[key] = type_name
    if errors:
        raise error_fields(errors)
    for key, type_name in types.items():
        if locked_type(store, key) is None:
            store.set_meta(_META_PREFIX + key, type_name)
    return values


class _EntryError(ValueError):
    """One invalid entry: where (a template over field and index) and why."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(message)
        self.where = where
        self.message = message


def _typed_entry(store: Store, entry: Any, pending: dict[str, str]) -> tuple[str, str, Any]:
    """``(key, type, normalised value)`` of one typed entry, or :class:`_EntryError`."""
    if not isinstance(entry, dict):
        raise _EntryError(
            "{field}[{index}]", "Each custom attribute must be an object with type, key and value."
        )
    key = entry.get("key")
    if not isinstance(key, str) or not KEY_PATTERN.match(key):
        raise _EntryError(
            "{field}[{index}]", "Key must contain only letters, digits and underscores."
        )
    where = "{field}." + key
    type_name = _canonical_type(entry.get("type"))
    if type_name is None:
        raise _EntryError(where, f"Type must be one of {', '.join(CUSTOM_TYPES)}.")
    locked = locked_type(store, key) or pending.get(key)
    if locked is not None and locked != type_name:
        raise _EntryError(
            where,
            f'Custom attribute "{key}" already exists with type {locked}; '
            f"it cannot be used with type {type_name}.",
        )
    if not isinstance(entry.get("source", DEFAULT_SOURCE), str):
        raise _EntryError(where, "Source must be a string.")
    try:
        return key, type_name, coerce(type_name, entry.get("value"))
    except ValueError as exc:
        raise _EntryError(where, f'Value of "{key}" ({type_name}) {exc}.') from exc


def parse_untyped(
    store: Store, updates: Any, current: JSONDict, field: str = "custom"
) -> dict[str, Any]:
    """Validate a ``{key: value}`` map against keys the customer already has."""
    if not isinstance(updates, dict):
        raise error_fields({field: "Custom attributes must be an object of key: value."})
    errors: dict[str, str] = {}
    values: dict[str, Any] = {}
    for key, value in updates.items():
        type_name = locked_type(store, key)
        if key not in current or type_name is None:
            errors[f"{field}.{key}"] = (
                f'Custom attribute "{key}" does not exist on this customer; '
                "add it with a type first."
            )
            continue
        try:
            values[key] = coerce(type_name, value)
        except ValueError as exc:
            errors[f"{field}.{key}"] = f'Value of "{key}" ({type_name}) {exc}.'
    if errors:
        raise error_fields(errors)
    return values


def _canonical_type(raw: Any) -> str | None:
    if not isinstance(raw, str):
        return None
    for name in CUSTOM_TYPES:
        if raw.strip().lower() == name.lower():
            return name
    return None


def _as_string(value: Any) -> str:
    if isinstance(value, dict | list):
        raise _BadValueError("must be a string")
    text = value if isinstance(value, str) else _scalar_text(value)
    if len(text) > MAX_STRING_LENGTH:
        raise _BadValueError(f"is longer than {MAX_STRING_LENGTH} characters")
    return text


def _scalar_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _as_integer(value: Any) -> int:
    if isinstance(value, bool):
        raise _BadValueError("must be an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"[+-]?\d+", value.strip()):
        return int(value.strip())
    raise _BadValueError("must be an integer")


def _as_decimal(value: Any) -> float:
    if isinstance(value, bool):
        raise _BadValueError("must be a number")
    try:
        number = float(value)
    except (TypeError, ValueError) as exc:
        raise _BadValueError("must be a number") from exc
    if not math.isfinite(number):
        raise _BadValueError("must be a finite number")
    return number


def _as_boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    word = str(value).strip().lower() if isinstance(value, str | int) else None
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise _BadValueError("must be one of TRUE, true, t, 1, FALSE, false, f, 0")

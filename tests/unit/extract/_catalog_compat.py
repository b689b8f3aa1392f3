"""Backward compatibility of a discovered Airbyte catalog with a previous connector's.

The rules of Airbyte's acceptance test ``test_backward_compatibility`` (discover) and a
little stricter, as a connection switched from the old connector needs them: no stream
and no field (at any depth) removed; no JSON type dropped from a field (``null`` may be
added); no ``format`` added, changed or dropped (a destination types a ``date-time``
string as a timestamp column, a plain string as text); the same primary key; sync modes
and a source-defined cursor kept. Adding streams, fields, types ``null`` or cursors where
there were none is compatible.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def _types(schema: Mapping[str, Any]) -> set[str]:
    declared = schema.get("type", [])
    return {declared} if isinstance(declared, str) else set(declared)


def _schema_problems(old: Mapping[str, Any], new: Mapping[str, Any], where: str) -> list[str]:
    problems = []
    missing = _types(old) - _types(new)
    if missing:
        problems.append(f"{where}: type {sorted(_types(new))} lacks {sorted(missing)}")
    if old.get("format") != new.get("format"):
        problems.append(f"{where}: format {old.get('format')!r} became {new.get('format')!r}")
    if (
        old.get("additionalProperties", True) is not False
        and new.get("additionalProperties") is False
    ):
        problems.append(f"{where}: additionalProperties became false")
    if "properties" in old and "properties" not in new:
        problems.append(f"{where}: properties no longer declared")
    for name, field in old.get("properties", {}).items():
        if name not in new.get("properties", {}):
            problems.append(f"{where}.{name}: removed")
        else:
            problems += _schema_problems(field, new["properties"][name], f"{where}.{name}")
    if isinstance(old.get("items"), Mapping):
        new_items = new.get("items")
        if not isinstance(new_items, Mapping):
            problems.append(f"{where}[]: items no longer declared")
        else:
            problems += _schema_problems(old["items"], new_items, f"{where}[]")
    return problems


def _stream_problems(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    name = old["name"]
    problems = _schema_problems(old["json_schema"], new["json_schema"], name)
    if old.get("source_defined_primary_key") != new.get("source_defined_primary_key"):
        problems.append(
            f"{name}: primary key {old.get('source_defined_primary_key')}"
            f" became {new.get('source_defined_primary_key')}"
        )
    dropped = set(old.get("supported_sync_modes", [])) - set(new.get("supported_sync_modes", []))
    if dropped:
        problems.append(f"{name}: sync modes {sorted(dropped)} dropped")
    old_cursor = old.get("default_cursor_field")
    if old_cursor and old_cursor != new.get("default_cursor_field"):
        problems.append(f"{name}: cursor {old_cursor} became {new.get('default_cursor_field')}")
    if old.get("source_defined_cursor") and not new.get("source_defined_cursor"):
        problems.append(f"{name}: no longer source_defined_cursor")
    return problems


def incompatibilities(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """Every way catalog ``new`` breaks a connection set up with catalog ``old``."""
    ours = {stream["name"]: stream for stream in new["streams"]}
    problems = []
    for stream in old["streams"]:
        if stream["name"] not in ours:
            problems.append(f"{stream['name']}: stream removed")
        else:
            problems += _stream_problems(stream, ours[stream["name"]])
    return problems

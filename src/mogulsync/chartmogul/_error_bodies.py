"""Reads field errors out of every error body shape ChartMogul uses.

The API is not uniform (reference section 3); the shapes, by number:

1. ``{"code": 400, "message": "...", "param": "name"}``
2. ``{"errors": {"field": "message"}}`` (values may also be lists)
3. ``{"error": "Invoice not found", "error_details": [{"param", "code", "message"}]}``
4. ``{"name": ["Name can't be blank"], ..., "error_details": [...]}`` (Rails arrays)
5. ``{"message": "..."}``
6. plain text such as ``Internal Server Error``

plus per-record errors of a batch import:
``{"invoices": [{"external_id": "x", "errors": {"field": "message"}}], "error": "..."}``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

#: Keys that carry messages or metadata, never a field name (shape 4 detection).
_NON_FIELD_KEYS = frozenset({"code", "message", "param", "error", "errors", "error_details"})
_EMPTY_BODY = "(empty response body)"


@dataclass(frozen=True, slots=True)
class ParsedErrorBody:
    """The readable part of an error body: a message and errors by field."""

    message: str
    field_errors: dict[str, str] = field(default_factory=dict)


def parse_error_body(text: str) -> ParsedErrorBody:
    """Message and field errors from any documented error body (never raises)."""
    try:
        data = json.loads(text)
    except ValueError:
        return ParsedErrorBody(text.strip() or _EMPTY_BODY)
    if not isinstance(data, Mapping):
        return ParsedErrorBody(text.strip() or _EMPTY_BODY)
    messages: list[str] = []
    fields: dict[str, str] = {}
    _code_or_message(data, messages, fields)
    if isinstance(data.get("error"), str):
        messages.append(data["error"])
    if isinstance(data.get("errors"), Mapping):
        fields.update(_field_map(data["errors"]))
    _rails_arrays(data, fields)
    _batch_records(data, fields)
    _error_details(data.get("error_details"), fields)
    if messages:
        message = "; ".join(messages)
    elif fields:
        message = "; ".join(f"{name}: {text}" for name, text in fields.items())
    else:
        message = text.strip() or _EMPTY_BODY
    return ParsedErrorBody(message, fields)


def _code_or_message(data: Mapping[str, Any], messages: list[str], fields: dict[str, str]) -> None:
    """Shapes 1 and 5: a ``message``, optionally naming its ``param``."""
    message = data.get("message")
    if not isinstance(message, str):
        return
    messages.append(message)
    param = data.get("param")
    if isinstance(param, str) and param:
        fields[param] = message


def _field_map(errors: Mapping[str, Any]) -> dict[str, str]:
    """Shape 2: ``{"field": "message"}``; list values are joined."""
    return {str(name): _text(value) for name, value in errors.items() if _text(value)}


def _rails_arrays(data: Mapping[str, Any], fields: dict[str, str]) -> None:
    """Shape 4: top-level ``field: [messages]`` arrays."""
    for name, value in data.items():
        if name in _NON_FIELD_KEYS or not isinstance(value, list) or not value:
            continue
        if all(isinstance(item, str) for item in value):
            fields[name] = "; ".join(value)


def _batch_records(data: Mapping[str, Any], fields: dict[str, str]) -> None:
    """Per-record ``errors`` of a batch (invoice import), keyed ``invoices[<ext id>].field``."""
    for collection, value in data.items():
        if collection in _NON_FIELD_KEYS or not isinstance(value, list):
            continue
        for index, record in enumerate(value):
            if not isinstance(record, Mapping) or not isinstance(record.get("errors"), Mapping):
                continue
            label = record.get("external_id") or index
            for name, text in _field_map(record["errors"]).items():
                fields[f"{collection}[{label}].{name}"] = text


def _error_details(details: Any, fields: dict[str, str]) -> None:
    """``error_details`` lists (shapes 3 and 4); fields already named keep their text."""
    if not isinstance(details, list):
        return
    for detail in details:
        if not isinstance(detail, Mapping):
            continue
        param, message = detail.get("param"), detail.get("message")
        if isinstance(param, str) and param and isinstance(message, str):
            fields.setdefault(param, message)


def _text(value: Any) -> str:
    if isinstance(value, list):
        return "; ".join(str(item) for item in value if item is not None)
    return "" if value is None else str(value)

"""``did you mean `rate_limit`?`` for a key the project file's schema does not know."""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel

#: how alike a typo and a known key must be (difflib's ratio) to be suggested
CUTOFF = 0.6


def suggest_key(root: type[BaseModel], loc: Sequence[str | int]) -> str | None:
    """The known key closest to ``loc[-1]`` where ``loc`` points, or None."""
    if not loc:
        return None
    current: list[Any] = [root]
    for part in loc[:-1]:
        current = [found for tp in current for found in _step(tp, part)]
    known = sorted({key for tp in current for key in _keys(tp)})
    close = difflib.get_close_matches(str(loc[-1]), known, n=1, cutoff=CUTOFF)
    return close[0] if close else None


def without_tags(root: type[BaseModel], loc: Sequence[str | int]) -> list[str | int]:
    """``loc`` as a path in the file: a discriminated union's tag (``slack`` in
    ``alerts.channels.c.slack.url``) is pydantic's, not a key the user wrote."""
    current: list[Any] = [root]
    kept: list[str | int] = []
    for part in loc:
        tagged = [
            tp
            for tp in current
            if _is_model(tp) and _field(tp, str(part)) is None and _is_tag(tp, str(part))
        ]
        if tagged:
            current = tagged
            continue
        kept.append(part)
        current = [found for tp in current for found in _step(tp, part)]
    return kept


def _members(tp: Any) -> list[Any]:
    """``tp`` with Annotated, Optional and unions taken apart."""
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        return _members(typing.get_args(tp)[0])
    if origin is typing.Union or origin is types.UnionType:
        return [member for arg in typing.get_args(tp) for member in _members(arg)]
    return [tp]


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _step(tp: Any, part: str | int) -> list[Any]:
    found: list[Any] = []
    for member in _members(tp):
        origin = typing.get_origin(member)
        if _is_model(member):
            field = _field(member, str(part))
            if field is not None:
                found.extend(_members(field.annotation))
            elif _is_tag(member, str(part)):  # a discriminated union puts the tag in loc
                found.append(member)
        elif origin is dict:
            found.extend(_members(typing.get_args(member)[1]))
        elif origin is list and isinstance(part, int):
            found.extend(_members(typing.get_args(member)[0]))
    return found


def _field(model: type[BaseModel], key: str) -> Any:
    for name, field in model.model_fields.items():
        if key in (name, field.alias):
            return field
    return None


def _is_tag(model: type[BaseModel], part: str) -> bool:
    field = model.model_fields.get("type")
    return field is not None and part in typing.get_args(field.annotation)


def _keys(tp: Any) -> list[str]:
    if not _is_model(tp):
        return []
    return [field.alias or name for name, field in tp.model_fields.items()]

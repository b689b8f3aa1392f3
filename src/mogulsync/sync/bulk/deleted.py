"""Bulk rows refused for a parent that our syncs delivered and someone deleted in ChartMogul.

The bulk import names plans and customers by external id, so ChartMogul's answer is "Plan
not found", whose usual fix ("Sync plans first") misleads when the plan sync did deliver
it: the registry (or its tombstone) tells the two apart, as the REST path does.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from mogulsync.sync.apply.resolve import PARENT_FIELDS, Resolver
from mogulsync.sync.bulk.results import Problem

#: ``line_items[2].plan_external_id`` → ("line_items", "2", "plan_external_id")
_FIELD = re.compile(r"^(?:(\w+)\[(\d+)\]\.)?(\w+)$")
#: how ChartMogul words a parent it does not have ("Plan not found in this data source")
_NOT_FOUND = "not found"


def restated(
    resolver: Resolver, payload: Mapping[str, Any], problems: Sequence[Problem]
) -> list[Problem]:
    """``problems`` with a missing parent we delivered reported as deleted in ChartMogul."""
    return [_restated(resolver, payload, problem) for problem in problems]


def _restated(resolver: Resolver, payload: Mapping[str, Any], problem: Problem) -> Problem:
    # only ChartMogul's "<Thing> not found": a parent refused for anything else (a blank or
    # malformed value) exists, and its registry entry must stay
    if _NOT_FOUND not in problem.message.lower():
        return problem
    match = _FIELD.match(problem.field)
    kind = PARENT_FIELDS.get(match[3]) if match else None
    if match is None or kind is None:
        return problem
    external_id = _value(payload, match[1], match[2], match[3])
    if external_id is None:
        return problem
    error = resolver.missing_delivered(kind, external_id, problem.field)
    if error is None:
        return problem
    return Problem(problem.field, error.message, error.action)


def _value(
    payload: Mapping[str, Any], section: str | None, index: str | None, name: str
) -> str | None:
    """The row's value of the field (a child's when ``section``), as text."""
    holder: Any = payload
    if section is not None and index is not None:
        children = payload.get(section)
        if not isinstance(children, list) or int(index) >= len(children):
            return None
        holder = children[int(index)]
    value = holder.get(name) if isinstance(holder, Mapping) else None
    return None if value is None else str(value)

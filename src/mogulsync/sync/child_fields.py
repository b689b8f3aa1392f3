"""Which line item (or inline transaction) of an invoice row a ChartMogul error is about.

ChartMogul names a refused child field without its position — ``line_items.amount_in_cents``
(REST, prefixed ``invoices[<external id>].`` by the client) or a bulk import error carrying the
child's own ``external_id`` — while the rows we report name children as the mapping does,
``line_items[2].amount_in_cents``. The child is found by its external id when the error names
one; otherwise by elimination: the only child, or the only one holding (or, for "can't be
blank", lacking) the refused field. When that still leaves several, the field says ``[?]``
and the message lists the candidates, rather than guessing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

#: the sections of an invoice row that hold children, and what one child is called
CHILDREN = {"line_items": "line item", "transactions": "transaction"}
#: the client's prefix on a per-invoice error of the REST invoice import
_BATCH_PREFIX = re.compile(r"^invoices\[[^\]]*\]\.")
_CHILD_FIELD = re.compile(r"^(line_items|transactions)(?:\[\d+\])?\.(.+)$")
#: messages saying a value is missing (the child to blame lacks the field)
_MISSING = re.compile(r"blank|required|missing", re.IGNORECASE)
#: a refused plan reference may come from either way of naming the plan
_ALIASES = {"plan_uuid": ("plan_uuid", "plan_external_id")}
#: the position of a child ChartMogul's error does not tell
UNKNOWN = "?"


@dataclass(frozen=True, slots=True)
class Pinned:
    """A field name as the row's mapping spells it, and what to add to the message."""

    field: str
    #: e.g. `` (line item external_id 'li-7')``; empty when there is nothing to add
    note: str = ""
    #: False when the child could not be told (``[?]``)
    exact: bool = True


def child_section(name: str) -> str | None:
    """``line_items`` / ``transactions`` when ``name`` is a child field, else None."""
    found = _CHILD_FIELD.match(_BATCH_PREFIX.sub("", name))
    return found.group(1) if found else None


def pin(
    payload: Mapping[str, Any],
    name: str,
    message: str,
    *,
    child_id: str | None = None,
    ids_reported: bool = False,
) -> Pinned:
    """``name`` as the row's field, its child's index found when it is a child field.

    ``child_id`` is the refused child's own external id as the error gave it;
    ``ids_reported`` says errors always carry it (bulk import), so a child without one is
    among the children without one.
    """
    name = _BATCH_PREFIX.sub("", name)
    found = _CHILD_FIELD.match(name)
    if found is None:
        return Pinned(name)
    section, leaf = found.group(1), found.group(2)
    items: Sequence[Any] = payload.get(section) or []
    candidates = _candidates(items, leaf, message, child_id, ids_reported=ids_reported)
    if len(candidates) == 1:
        index = candidates[0]
        return Pinned(f"{section}[{index}].{leaf}", _note(section, items[index]))
    listed = ", ".join(str(i) for i in (candidates or range(len(items))))
    note = f" (ChartMogul did not say which {CHILDREN[section]}: one of {section} {listed})"
    return Pinned(f"{section}[{UNKNOWN}].{leaf}", note, exact=False)


def _candidates(
    items: Sequence[Any],
    leaf: str,
    message: str,
    child_id: str | None,
    *,
    ids_reported: bool,
) -> list[int]:
    if child_id is not None:
        named = [i for i, item in enumerate(items) if _text(item, "external_id") == child_id]
        if len(named) == 1:
            return named
    indexes = list(range(len(items)))
    if len(indexes) <= 1:
        return indexes
    if ids_reported and child_id is None:  # the refused child has no external id
        indexes = [i for i in indexes if _text(items[i], "external_id") is None]
    names = _ALIASES.get(leaf, (leaf,))
    holding = [i for i in indexes if any(_text(items[i], n) is not None for n in names)]
    if _MISSING.search(message):
        return [i for i in indexes if i not in holding]
    return holding


def _note(section: str, item: Any) -> str:
    external_id = _text(item, "external_id")
    if external_id is None:
        return ""
    return f" ({CHILDREN[section]} external_id {external_id!r})"


def _text(item: Any, key: str) -> str | None:
    value = item.get(key) if isinstance(item, Mapping) else None
    return None if value in (None, "") else str(value)

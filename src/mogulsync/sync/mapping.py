"""Warehouse row → ChartMogul payload, with per-field validation. Pure: no I/O.

A :class:`Mapper` is built once per run from the sync's config and the model's compiled
schema (configuration problems are reported then, all at once). :meth:`Mapper.map` turns
one row into a :class:`MappedRow` — JSON-ready values under ChartMogul's field names plus a
digest used by the diff — or into :class:`RowProblem` objects that name the row's primary
key, the ChartMogul field, what is wrong and what to do. The digest is taken over the raw
model values the payload is made of (:meth:`Mapper.row_digest`), so the diff can tell an
unchanged row without mapping it.
"""

from __future__ import annotations

import hashlib
import operator
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from mogulsync.config.sync import SyncConfig
from mogulsync.errors import ConfigError
from mogulsync.sync import fields as f
from mogulsync.sync import values as v
from mogulsync.warehouse.base import AttributeType, ModelSchema

CUSTOM_KEY = re.compile(r"^[A-Za-z0-9_]+$")
#: What a String custom attribute that became null is set to: ChartMogul cannot clear
#: custom attributes, and this is the value other reverse-ETL tools document.
NULL_STRING_SUBSTITUTE = "null"
_CUSTOM_OBJECTS = ("customer", "contact")
_CONVERTERS: dict[str, f.Converter] = {
    "String": v.text,
    "Integer": v.integer,
    "Decimal": v.number,
    "Timestamp": v.timestamp,
    "Boolean": v.boolean,
}


@dataclass(frozen=True, slots=True)
class RowProblem:
    """Why one row cannot be sent (or was refused)."""

    key: str
    field: str
    message: str
    fix: str


class CustomValue(NamedTuple):
    """A typed custom attribute value (None when the column is null).

    A named tuple rather than a dataclass: one is built per attribute of every row, and
    JSON encodes it as ``[key, type, value]``.
    """

    key: str
    type: AttributeType
    value: Any


@dataclass(frozen=True, slots=True)
class MappedRow:
    """A row ready for ChartMogul: JSON-ready fields, custom attributes and a digest."""

    key: str
    payload: Mapping[str, Any]
    custom: tuple[CustomValue, ...]
    digest: str


class MappingConfigError(ConfigError):
    """The sync's mapping does not fit the object or the model's columns."""

    def __init__(self, sync: str, problems: list[str]) -> None:
        self.sync = sync
        self.problems = problems
        lines = "\n".join(f"  - {problem}" for problem in problems)
        super().__init__(
            f"sync `{sync}` cannot map its model:\n{lines}",
            hint="Fix the sync's mapping or the model's SQL.",
        )


def primary_key_of(row: Mapping[str, Any], columns: Sequence[str]) -> str | None:
    """The row's primary key as text, or None when any part is null or blank."""
    parts = [row.get(column) for column in columns]
    if any(part is None or not str(part).strip() for part in parts):
        return None
    return "|".join(str(part) for part in parts)


#: Version of the row digest's input format. It is part of the sync definition, so
#: snapshots written with another format read as a definition change (one full resend).
DIGEST_FORMAT = "raw-repr-md5-1"
#: Python's default ``repr`` of objects without their own: it holds a memory address,
#: which differs between runs, so such values are digested by type and ``str`` instead.
_ADDRESS_MARK = " at 0x"


def raw_digest(values: tuple[Any, ...]) -> str:
    """A stable hash of raw model values (the digest the snapshot keeps).

    ``repr`` of the tuple is unambiguous and type-aware: None and "None", 1 and "1" and 1.0,
    dates and their text all differ; strings are quoted and escaped, so no value can run
    into the next one. MD5 is a fingerprint here, not a security measure.
    """
    try:
        text = repr(values)
    except ValueError:  # an int of more than 4,300 digits has no repr (Python's limit)
        text = repr(_without_huge_ints(values))
    if _ADDRESS_MARK in text:  # a value without a stable repr: its type and str instead
        text = repr(tuple(_stable(value) for value in values))
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def _without_huge_ints(value: Any) -> Any:
    """``value`` with each int written in hex (which has no digit limit), lists and dicts walked."""
    if isinstance(value, int) and not isinstance(value, bool):
        return ("int", hex(value))
    if isinstance(value, list):
        return [_without_huge_ints(item) for item in value]
    if isinstance(value, tuple):
        return tuple(_without_huge_ints(item) for item in value)
    if isinstance(value, dict):
        return {key: _without_huge_ints(item) for key, item in value.items()}
    return value


def _stable(value: Any) -> Any:
    if _ADDRESS_MARK not in repr(value):
        return value
    kind = type(value)
    return (f"{kind.__module__}.{kind.__qualname__}", str(value))


class Mapper:
    """Maps rows of one model for one sync."""

    def __init__(self, name: str, sync: SyncConfig, schema: ModelSchema, pk: Sequence[str]) -> None:
        self.name = name
        self.sync = sync
        self.pk = tuple(pk)
        self.spec = f.FIELDS[sync.object]
        problems: list[str] = []
        self.columns = self._resolve_mapping(schema, problems)
        self.required = f.required_fields(sync.object, sync.mode, sync.match)
        for need in self.required:
            options = need if isinstance(need, tuple) else (need,)
            if not any(option in self.columns for option in options):
                problems.append(
                    f"syncs.{name}.mapping: `{' or '.join(options)}` is required for"
                    f" {sync.mode} of {sync.object}s matched by {sync.match}; map a column to it"
                )
        self.custom_types = self._resolve_custom(schema, problems)
        lines = sync.line_items
        if lines is not None and lines.column is not None and lines.column not in schema.names:
            problems.append(f"syncs.{name}.line_items.column: no column `{lines.column}`")
        column = sync.transactions_column
        if column is not None and column not in schema.names:
            problems.append(f"syncs.{name}.transactions_column: no column `{column}`")
        if problems:
            raise MappingConfigError(name, problems)
        #: (target, column, converter) per mapped field, resolved once for the row loop
        self._fields = tuple(
            (target, column, self.spec[target]) for target, column in self.columns.items()
        )
        self._required_options = tuple(
            need if isinstance(need, tuple) else (need,) for need in self.required
        )
        self._custom_fields = tuple(
            (name, kind, _CONVERTERS[kind]) for name, kind in self.custom_types.items()
        )
        #: every model column the payload is made of, in a fixed order: the digest's input
        self.digest_columns = self._digest_columns()
        columns = self.digest_columns  # itemgetter returns a tuple only for two or more
        self._digest_getter = operator.itemgetter(*columns) if len(columns) > 1 else None

    # ------------------------------------------------------------------ config
    def _resolve_mapping(self, schema: ModelSchema, problems: list[str]) -> dict[str, str]:
        columns: dict[str, str] = {}
        for target, column in self.sync.mapping.items():
            if target not in self.spec:
                problems.append(
                    f"syncs.{self.name}.mapping.{target}: not a {self.sync.object} field"
                    f" (fields: {', '.join(self.spec)})"
                )
            elif column not in schema.names:
                problems.append(
                    f"syncs.{self.name}.mapping.{target}: the model has no column `{column}`"
                    f" (columns: {', '.join(schema.names)})"
                )
            else:
                columns[target] = column
        used = set(columns.values())
        # Columns named exactly like a ChartMogul field map themselves (Census's auto-map).
        for name in schema.names:
            if name in self.spec and name not in columns and name not in used:
                columns[name] = name
        return columns

    def _resolve_custom(self, schema: ModelSchema, problems: list[str]) -> dict[str, AttributeType]:
        setting = self.sync.custom_attributes
        if self.sync.object not in _CUSTOM_OBJECTS or setting == "none":
            return {}
        reserved = {
            *self.columns.values(),
            *self.pk,
            *(c for c in (self.sync.transactions_column,) if c),
            *(c for c in ((self.sync.line_items.column if self.sync.line_items else None),) if c),
        }
        if setting == "auto":
            wanted = [name for name in schema.names if name not in reserved]
        else:
            wanted = list(setting)
            problems.extend(
                f"syncs.{self.name}.custom_attributes: the model has no column `{name}`"
                for name in wanted
                if name not in schema.names
            )
            wanted = [name for name in wanted if name in schema.names]
        types: dict[str, AttributeType] = {}
        for name in wanted:
            if not CUSTOM_KEY.match(name):
                problems.append(
                    f"syncs.{self.name}.custom_attributes: column `{name}` cannot be a custom"
                    " attribute key (letters, digits and underscores only); rename it in SQL"
                )
                continue
            types[name] = self.sync.custom_attribute_types.get(name) or schema.attribute_type(name)
        return types

    def _digest_columns(self) -> tuple[str, ...]:
        used = {*self.columns.values(), *self.custom_types}
        if self.sync.object == "invoice":  # only invoices read these (see _children)
            lines = self.sync.line_items
            if lines is not None:
                used.add(lines.column or LINE_ITEMS_KEY)
            if self.sync.transactions_column:
                used.add(self.sync.transactions_column)
        return tuple(sorted(used))

    # ------------------------------------------------------------------ rows
    def row_digest(self, row: Mapping[str, Any]) -> str:
        """The digest of the raw values the payload is made of (no mapping needed).

        Equal raw values map to an equal payload, so an unchanged digest means an
        unchanged payload; the reverse may not hold (a value that only changed its
        spelling is sent again, which is harmless).
        """
        getter = self._digest_getter
        if getter is not None:
            try:
                return raw_digest(getter(row))
            except KeyError:  # a row without some column (e.g. no attached line items)
                pass
        return raw_digest(tuple([row.get(column) for column in self.digest_columns]))

    def row_digests(self, rows: Sequence[Mapping[str, Any]]) -> list[str]:
        """:meth:`row_digest` of each row (the same text), in one loop per batch."""
        getter = self._digest_getter
        if getter is None:
            return [self.row_digest(row) for row in rows]
        try:
            texts = [repr(getter(row)) for row in rows]
        except (KeyError, ValueError):  # ValueError: an int too long for repr (raw_digest)
            return [self.row_digest(row) for row in rows]
        md5 = hashlib.md5
        digests = [md5(text.encode(), usedforsecurity=False).hexdigest() for text in texts]
        for index, text in enumerate(texts):
            if _ADDRESS_MARK in text:  # rare: raw_digest's fallback for such values
                digests[index] = raw_digest(getter(rows[index]))
        return digests

    def map(self, row: Mapping[str, Any], key: str) -> MappedRow | list[RowProblem]:
        """The row as a payload (with its :meth:`row_digest`), or every problem found in it."""
        return self.build(row, key, self.row_digest(row))

    def build(self, row: Mapping[str, Any], key: str, digest: str) -> MappedRow | list[RowProblem]:
        """The row as a payload carrying ``digest``, or every problem found in it."""
        problems: list[RowProblem] = []
        payload: dict[str, Any] = {}
        # The loop runs once per field of every row: converters are called inline (not
        # through _convert) because the call overhead dominated large diffs.
        for target, column, converter in self._fields:
            raw = row.get(column)
            if raw is None:
                continue
            try:
                payload[target] = converter(raw)
            except v.FieldValueError as exc:
                problems.append(RowProblem(key, target, exc.message, exc.fix))
        if problems or not _has_required(payload, self._required_options):
            _check_required(key, payload, self.required, problems, "")
        custom = self._custom(row, key, problems)
        if self.sync.object == "invoice":
            self._children(row, key, payload, problems)
        if problems:
            return problems
        return MappedRow(key, payload, custom, digest)

    def _custom(
        self, row: Mapping[str, Any], key: str, problems: list[RowProblem]
    ) -> tuple[CustomValue, ...]:
        found: list[CustomValue] = []
        for name, kind, converter in self._custom_fields:
            raw = row.get(name)
            value = None
            if raw is not None:
                try:
                    value = converter(raw)
                except v.FieldValueError as exc:
                    message = f"{exc.message} ({kind} custom attribute)"
                    problems.append(RowProblem(key, f"attributes.custom.{name}", message, exc.fix))
            found.append(CustomValue(name, kind, value))
        return tuple(found)

    def _children(
        self, row: Mapping[str, Any], key: str, payload: dict[str, Any], problems: list[RowProblem]
    ) -> None:
        lines = self.sync.line_items
        if lines is not None:
            raw = row.get(lines.column) if lines.column else row.get(LINE_ITEMS_KEY)
            payload["line_items"] = _objects(
                key, "line_items", raw, f.LINE_ITEM, problems, _line_required
            )
        if self.sync.transactions_column:
            raw = row.get(self.sync.transactions_column)
            payload["transactions"] = _objects(
                key,
                "transactions",
                raw,
                f.INLINE_TRANSACTION,
                problems,
                lambda _item: f.INLINE_TRANSACTION_REQUIRED,
            )


#: where the engine attaches child-model line items to an invoice row
LINE_ITEMS_KEY = "__mogulsync_line_items__"


def _line_required(item: Mapping[str, Any]) -> tuple[str | tuple[str, ...], ...]:
    return f.LINE_ITEM_REQUIRED.get(str(item.get("type")), ("type", "amount_in_cents"))


def _objects(
    key: str,
    prefix: str,
    raw: Any,
    spec: Mapping[str, f.Converter],
    problems: list[RowProblem],
    required: Any,
) -> list[dict[str, Any]]:
    if raw is None:
        return []
    try:
        items = v.json_objects(raw)
    except v.FieldValueError as exc:
        problems.append(RowProblem(key, prefix, exc.message, exc.fix))
        return []
    result: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        where = f"{prefix}[{index}]"
        unknown = sorted(name for name in item if name not in spec)
        if unknown:
            problems.append(
                RowProblem(
                    key,
                    f"{where}.{unknown[0]}",
                    f"unknown field `{unknown[0]}`",
                    f"Use only: {', '.join(spec)}.",
                )
            )
        converted: dict[str, Any] = {}
        for name, converter in spec.items():
            value = _convert(key, f"{where}.{name}", item.get(name), converter, problems)
            if value is not None:
                converted[name] = value
        _check_required(key, converted, required(converted), problems, f"{where}.")
        start, end = converted.get("service_period_start"), converted.get("service_period_end")
        if start and end and end <= start:
            problems.append(
                RowProblem(
                    key,
                    f"{where}.service_period_end",
                    "is not after service_period_start",
                    "Make the service period end after it starts.",
                )
            )
        result.append(converted)
    return result


def _convert(
    key: str,
    field: str,
    raw: Any,
    converter: f.Converter,
    problems: list[RowProblem],
    kind: str | None = None,
) -> Any:
    if raw is None:
        return None
    try:
        return converter(raw)
    except v.FieldValueError as exc:
        label = f" ({kind} custom attribute)" if kind else ""
        problems.append(RowProblem(key, field, f"{exc.message}{label}", exc.fix))
        return None


def _has_required(payload: Mapping[str, Any], options: tuple[tuple[str, ...], ...]) -> bool:
    """Whether every required field (one of its options) is in the payload."""
    for choices in options:
        for option in choices:
            if option in payload:
                break
        else:
            return False
    return True


def _check_required(
    key: str,
    payload: Mapping[str, Any],
    required: Sequence[str | tuple[str, ...]],
    problems: list[RowProblem],
    prefix: str,
) -> None:
    reported = {problem.field for problem in problems}
    for need in required:
        options = need if isinstance(need, tuple) else (need,)
        if any(option in payload for option in options):
            continue
        if any(f"{prefix}{option}" in reported for option in options):
            continue  # already reported as invalid
        problems.append(
            RowProblem(
                key,
                f"{prefix}{options[0]}",
                f"is required but empty (needs {' or '.join(options)})",
                "Give every row a value, or filter such rows out of the model.",
            )
        )


def custom_for_update(custom: Sequence[CustomValue]) -> list[CustomValue]:
    """Custom values to send to an existing record: nulls become the documented substitute.

    ChartMogul cannot clear a custom attribute, so a String that became null is set to
    :data:`NULL_STRING_SUBSTITUTE`. Other types have no value that means "empty" ("null" is
    not an Integer), so their nulls stay None and are left out of the request: ChartMogul
    keeps the previous value (docs/sync.md, "Null values").
    """
    return [
        CustomValue(c.key, c.type, NULL_STRING_SUBSTITUTE)
        if c.value is None and c.type == "String"
        else c
        for c in custom
    ]

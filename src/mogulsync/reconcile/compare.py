"""What the warehouse says a record should hold, what ChartMogul holds, and how they differ.

Pure: no I/O. Both sides are reduced to the same flat form, ``{field: comparable value}``,
so they can be compared key by key and stored as JSON while a reconcile streams the model.

- Only fields the sync maps are compared: a field ChartMogul has but the sync never sends
  cannot drift. A null in the warehouse is "no opinion" (the sync does not send it either).
- Values are normalised the way ChartMogul stores them: timestamps to UTC seconds, emails
  and tags to lower case, countries to upper case, custom attributes by their declared type
  (an Integer ``5`` and ChartMogul's ``5.0`` agree; ``"5"`` for a Boolean does not).
- Invoices are compared by their line items and transactions (each reduced to the fields
  the warehouse gives), not only by their presence.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from mogulsync.sync.mapping import MappedRow

Comparable = dict[str, Any]
Normaliser = Callable[[Any], Any]

#: custom attribute fields are compared under this prefix (``custom.seats``)
CUSTOM_PREFIX = "custom."
_DECIMAL_PLACES = 6


def _text(value: Any) -> str | None:
    text = str(value).strip()
    return text or None


def _lower(value: Any) -> str | None:
    text = _text(value)
    return text.casefold() if text else None


def _upper(value: Any) -> str | None:
    text = _text(value)
    return text.upper() if text else None


def _integer(value: Any) -> int | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return int(number) if math.isfinite(number) and number == int(number) else None


def _decimal(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return round(number, _DECIMAL_PLACES) if math.isfinite(number) else None


def _boolean(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    text = str(value).strip().casefold()
    return {"true": True, "false": False}.get(text)


def timestamp(value: Any) -> str | None:
    """A date or timestamp as UTC ``YYYY-MM-DDTHH:MM:SSZ`` (None when unreadable)."""
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, dt.date):
        moment = dt.datetime.combine(value, dt.time())
    else:
        text = _text(value)
        if text is None:
            return None
        try:
            moment = dt.datetime.fromisoformat(text)
        except ValueError:
            return text  # compared as written: an unreadable value never equals a real one
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _tags(value: Any) -> list[str] | None:
    if not isinstance(value, list | tuple):
        return None
    return sorted({tag for tag in (_lower(item) for item in value) if tag})


_CUSTOM: dict[str, Normaliser] = {
    "String": _text,
    "Integer": _integer,
    "Decimal": _decimal,
    "Boolean": _boolean,
    "Timestamp": timestamp,
}

#: the scalar fields compared per object, with how each is normalised
FIELDS: dict[str, dict[str, Normaliser]] = {
    "customer": {
        "name": _text,
        "email": _lower,
        "company": _text,
        "country": _upper,
        "state": _text,
        "city": _text,
        "zip": _text,
        "lead_created_at": timestamp,
        "free_trial_started_at": timestamp,
        "owner": _lower,
        "website_url": _text,
        "tags": _tags,
        # the customer's primary contact (its first), read from the contacts listing
        "primary_contact.first_name": _text,
        "primary_contact.last_name": _text,
        "primary_contact.email": _lower,
        "primary_contact.title": _text,
        "primary_contact.phone": _text,
        "primary_contact.linked_in": _text,
        "primary_contact.twitter": _text,
        "primary_contact.notes": _text,
    },
    "contact": {
        "customer_external_id": _text,
        "first_name": _text,
        "last_name": _text,
        "title": _text,
        "email": _lower,
        "phone": _text,
        "linked_in": _text,
        "twitter": _text,
        "notes": _text,
        "position": _integer,
        "customer_uuid": _text,
    },
    "plan": {"name": _text, "interval_count": _integer, "interval_unit": _text},
    "invoice": {  # its customer is not compared: ChartMogul's invoice names it by uuid only
        "date": timestamp,
        "due_date": timestamp,
        "currency": _upper,
    },
    "transaction": {
        "invoice_external_id": _text,
        "invoice_uuid": _text,
        "type": _text,
        "result": _text,
        "date": timestamp,
        "amount_in_cents": _integer,
        "transaction_fees_in_cents": _integer,
        "transaction_fees_currency": _upper,
    },
}
_LINE_ITEM: dict[str, Normaliser] = {
    "type": _text,
    "amount_in_cents": _integer,
    "quantity": _integer,
    "subscription_external_id": _text,
    "service_period_start": timestamp,
    "service_period_end": timestamp,
    "discount_amount_in_cents": _integer,
    "tax_amount_in_cents": _integer,
    "description": _text,
    "plan_uuid": _text,
    # ChartMogul shows the plan's uuid only: the listing adds the plan's external id
    "plan_external_id": _text,
    "subscription_set_external_id": _text,
    "prorated": _boolean,
    "proration_type": _text,
    "discount_code": _text,
    "discount_description": _text,
    "transaction_fees_in_cents": _integer,
    "transaction_fees_currency": _upper,
    "account_code": _text,
    "event_order": _integer,
}
#: line-item keys ChartMogul accepts but never shows for a type (reference: ``description``
#: is a one-time item's; a one-time item shows no subscription keys): not comparable
_NOT_SHOWN: dict[str, frozenset[str]] = {
    "subscription": frozenset({"description"}),
    "one_time": frozenset(
        {
            "subscription_external_id",
            "subscription_set_external_id",
            "service_period_start",
            "service_period_end",
            "plan_uuid",
            "plan_external_id",
            "prorated",
            "proration_type",
        }
    ),
}
_INLINE_TRANSACTION: dict[str, Normaliser] = {
    "type": _text,
    "result": _text,
    "date": timestamp,
    "amount_in_cents": _integer,
    "transaction_fees_in_cents": _integer,
    "transaction_fees_currency": _upper,
}
#: an invoice's children: (key, compared fields, fields not shown per child type)
_CHILDREN: tuple[tuple[str, dict[str, Normaliser], dict[str, frozenset[str]]], ...] = (
    ("line_items", _LINE_ITEM, _NOT_SHOWN),
    ("transactions", _INLINE_TRANSACTION, {}),
)
#: objects that carry typed custom attributes
_WITH_CUSTOM = frozenset({"customer", "contact"})
#: objects ChartMogul can disable (with their line items and transactions): a disabled
#: record is still listed, field for field as imported, but counts towards no metric
_DISABLEABLE = frozenset({"invoice", "transaction"})
#: the comparable key of that flag: the warehouse always wants its records enabled
DISABLED = "disabled"


def expected(object_type: str, row: MappedRow) -> Comparable:
    """What the warehouse says the record holds: the mapped fields, normalised."""
    payload = row.payload
    found: Comparable = {}
    for name, normalise in FIELDS[object_type].items():
        value = payload.get(name)
        if value is not None and (normal := normalise(value)) is not None:
            found[name] = normal
    for item in row.custom:
        if item.value is not None:
            found[CUSTOM_PREFIX + item.key] = [item.type, _CUSTOM[item.type](item.value)]
    if object_type in _DISABLEABLE:
        found[DISABLED] = False
    if object_type == "invoice":
        for name, fields, hidden in _CHILDREN:
            if name in payload:
                found[name] = _children(payload[name], fields, hidden)
                for _, values in found[name]:
                    values[DISABLED] = False
    return found


def actual(object_type: str, record: Mapping[str, Any]) -> Comparable:
    """What ChartMogul holds, in the same form (every comparable field, nulls included)."""
    found: Comparable = {}
    for name, normalise in FIELDS[object_type].items():
        value = record.get(name)
        if name == "tags":
            value = (record.get("attributes") or {}).get("tags")
        found[name] = None if value is None else normalise(value)
    if object_type in _WITH_CUSTOM:
        custom = record.get("custom")
        if custom is None:
            custom = (record.get("attributes") or {}).get("custom")
        for key, value in (custom or {}).items():
            found[CUSTOM_PREFIX + key] = value  # typed when compared (the type is ours)
    if object_type in _DISABLEABLE:
        found[DISABLED] = bool(record.get(DISABLED))  # not shown by older API versions
    if object_type == "invoice":
        for name, fields, hidden in _CHILDREN:
            found[name] = _children(record.get(name) or [], fields, hidden)
            for (_, values), item in zip(found[name], record.get(name) or [], strict=True):
                values[DISABLED] = bool(item.get(DISABLED))
    return found


def _children(
    items: Iterable[Mapping[str, Any]],
    fields: Mapping[str, Normaliser],
    not_shown: Mapping[str, frozenset[str]] | None = None,
) -> list[Any]:
    """Line items or transactions as ``[external_id, {field: value}]`` pairs, in order
    (without the fields ``not_shown`` says ChartMogul never shows for the child's type)."""
    reduced: list[Any] = []
    for item in items:
        hidden = (not_shown or {}).get(str(item.get("type")), frozenset())
        values = {
            name: normalise(item[name])
            for name, normalise in fields.items()
            if item.get(name) is not None and name not in hidden
        }
        reduced.append([item.get("external_id"), values])
    return reduced


def differences(
    want: Comparable, have: Comparable, *, others: frozenset[str] = frozenset()
) -> dict[str, tuple[Any, Any]]:
    """Fields whose values differ: ``{field: (in ChartMogul, from the warehouse)}``.

    ``others`` names the children (``transactions``) another sync of the project also adds
    to these records: held ones the warehouse's row does not list are that sync's.
    """
    found: dict[str, tuple[Any, Any]] = {}
    for name, value in want.items():
        if name.startswith(CUSTOM_PREFIX):
            kind, wanted = value
            held = have.get(name)
            normal = None if held is None else _CUSTOM[kind](held)
            if normal != wanted:
                found[name] = (held, wanted)
        elif name in {"line_items", "transactions"}:
            before = have.get(name) or []
            if name in others:
                before = _listed(value, before)
            if not _children_match(value, before):
                held, wanted = _differing(value, before)
                found[name] = (_summary(held), _summary(wanted))
        elif have.get(name) != value:
            found[name] = (have.get(name), value)
    return found


def _listed(want: list[Any], have: list[Any]) -> list[Any]:
    """The held children the warehouse lists (by external id), when it names them all."""
    if not all(external_id for external_id, _ in want):
        return have
    wanted = {external_id for external_id, _ in want}
    return [pair for pair in have if pair[0] in wanted]


def _children_match(want: list[Any], have: list[Any]) -> bool:
    """Each wanted child has a held one with the same values for the fields it gives.

    Children are paired by external id when every wanted child has one, by position
    otherwise; extra held children (ChartMogul adds none on its own) are a difference.
    """
    if len(want) != len(have):
        return False
    if all(external_id for external_id, _ in want):
        held = {pair[0]: pair[1] for pair in have}
        pairs = [(values, held.get(external_id)) for external_id, values in want]
    else:
        pairs = [(w[1], h[1]) for w, h in zip(want, have, strict=True)]
    for wanted, found in pairs:
        if found is None or any(found.get(name) != value for name, value in wanted.items()):
            return False
    return True


def _differing(want: list[Any], have: list[Any]) -> tuple[list[Any], list[Any]]:
    """The children to show for a difference: only the pairs that differ when the lists
    pair one to one (one cent on one line item of fifty shows that item), else all."""
    if len(want) != len(have) or not all(external_id for external_id, _ in want):
        return have, want
    held = {pair[0]: pair for pair in have}
    if set(held) != {external_id for external_id, _ in want}:
        return have, want
    differ = [
        (held[external_id], [external_id, values])
        for external_id, values in want
        if any(held[external_id][1].get(name) != value for name, value in values.items())
    ]
    return [h for h, _ in differ], [w for _, w in differ]


def _summary(children: list[Any]) -> list[str]:
    """A short readable form of line items or transactions for samples."""
    return [
        " ".join([str(external_id or "-"), *(f"{k}={v}" for k, v in sorted(values.items()))])
        for external_id, values in children
    ]

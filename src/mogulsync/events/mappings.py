"""Mappings: which events trigger which action, and what each action sends.

Pure functions over the stored (normalised) message. Defaults follow Segment's
"ChartMogul (Actions)" destination: ``group`` → Send Customer, ``identify`` → Send
Contact; we add ``identify`` → audience traits (Engage's boolean audience traits become
typed custom attributes). Each action yields the exact webhook payload the destination
sends, and the ChartMogul fields for API delivery. Validation follows the destination's
rules and messages.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from mogulsync.config.events import EventMapping, EventTrigger
from mogulsync.events.filtering import integrations_block
from mogulsync.events.schema import format_time, parse_time

SEND_CUSTOMER = "Send Customer"
SEND_CONTACT = "Send Contact"
MISSING_IDS = "The user_id and/or anonymous_id must be present."
NOTHING_OF_INTEREST = "The event contains no information of interest to Chartmogul."
#: type, message_id, timestamp, sent_at and one id: a payload with no more says nothing.
BOOKKEEPING_KEYS = 5
NO_MAPPING = "No mapping matches this event."

Path = tuple[str, ...]

#: webhook key → default event paths (first present wins; traits in either case)
CUSTOMER_PATHS: dict[str, Path] = {
    "message_id": ("messageId",),
    "timestamp": ("timestamp",),
    "sent_at": ("sentAt",),
    "user_id": ("userId",),
    "group_id": ("groupId",),
    "name": ("traits.name",),
    "description": ("traits.description",),
    "email": ("traits.email",),
    "website": ("traits.website",),
    "created_at": ("traits.createdAt", "traits.created_at"),
    "address": ("traits.address",),
}
CONTACT_PATHS: dict[str, Path] = {
    "message_id": ("messageId",),
    "timestamp": ("timestamp",),
    "sent_at": ("sentAt",),
    "user_id": ("userId",),
    "anonymous_id": ("anonymousId",),
    "email": ("traits.email",),
    "first_name": ("traits.firstName", "traits.first_name"),
    "last_name": ("traits.lastName", "traits.last_name"),
    "name": ("traits.name",),
    "title": ("traits.title",),
    "phone": ("traits.phone",),
    "linked_in": ("traits.linkedIn", "traits.linked_in", "traits.linkedin"),
    "twitter": ("traits.twitter",),
    "company": ("traits.company",),
}
ADDRESS_KEYS: dict[str, Path] = {
    "street": ("street",),
    "city": ("city",),
    "state": ("state",),
    "postal_code": ("postalCode", "postal_code"),
    "country": ("country",),
}
#: traits Send Customer maps to standard fields (the rest become custom attributes)
CUSTOMER_STANDARD_TRAITS = frozenset(
    {"name", "description", "email", "website", "createdAt", "created_at", "address", "id"}
)
#: Segment's reserved identify traits: never audience memberships
RESERVED_USER_TRAITS = frozenset(
    {
        "address", "age", "avatar", "birthday", "company", "createdAt", "created_at",
        "description", "email", "firstName", "first_name", "gender", "id", "lastName",
        "last_name", "name", "phone", "title", "username", "website", "linkedIn", "twitter",
    }
)  # fmt: skip
#: ChartMogul contact fields Send Contact fills
CONTACT_FIELDS = ("email", "first_name", "last_name", "title", "phone", "linked_in", "twitter")
_BAD_KEY_CHARS = re.compile(r"[^A-Za-z0-9_]")
MAX_STRING_VALUE = 255

DEFAULT_MAPPINGS: tuple[EventMapping, ...] = (
    EventMapping(name="Send Customer", trigger=EventTrigger(type="group"), action="send_customer"),
    EventMapping(name="Send Contact", trigger=EventTrigger(type="identify"), action="send_contact"),
    EventMapping(
        name="Audience traits", trigger=EventTrigger(type="identify"), action="audience_traits"
    ),
)


@dataclass(frozen=True, slots=True)
class Action:
    """One thing to do for one event.

    ``entity`` keys ordering and coalescing (``customer:<group id>`` or
    ``contact:<user or anonymous id>``). ``fields`` are ChartMogul contact or customer
    fields; ``custom`` are custom attribute values (typed when sent); ``webhook`` is the
    destination's exact payload, or None for actions the webhook has no form for.
    """

    kind: Literal["customer", "contact", "audience"]
    entity: str
    external_id: str
    fields: dict[str, Any] = field(default_factory=dict)
    custom: dict[str, Any] = field(default_factory=dict)
    company_id: str | None = None
    company_name: str | None = None
    webhook: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Plan:
    """What one event turns into: actions, or why it is rejected or skipped."""

    actions: tuple[Action, ...] = ()
    rejection: str | None = None
    skipped: str | None = None
    warnings: tuple[str, ...] = ()

    @property
    def entity(self) -> str | None:
        """The entity that orders this event (its first action's)."""
        return self.actions[0].entity if self.actions else None


class ActionError(ValueError):
    """The destination would refuse this event; the message is the destination's."""


def lookup(message: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted path (``$.traits.email`` or ``traits.email``), else None."""
    value: Any = message
    for part in path.removeprefix("$.").split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def matches(trigger: EventTrigger, message: Mapping[str, Any]) -> bool:
    """Whether an event satisfies a trigger (type, event name, equality conditions)."""
    if message.get("type") != trigger.type:
        return False
    if trigger.event is not None and message.get("event") != trigger.event:
        return False
    return all(lookup(message, path) == value for path, value in trigger.conditions.items())


def plan_event(message: Mapping[str, Any], mappings: Sequence[EventMapping]) -> Plan:
    """Run every matching mapping; reject when all that matched were refused.

    An event whose Integrations object turns ChartMogul off is skipped before any mapping.
    """
    blocked = integrations_block(message)
    if blocked is not None:
        return Plan(skipped=blocked)
    matched = [mapping for mapping in mappings if matches(mapping.trigger, message)]
    if not matched:
        return Plan(skipped=f"{NO_MAPPING} (type {message.get('type')!r})")
    actions: list[Action] = []
    problems: list[str] = []
    for mapping in matched:
        try:
            action = _BUILDERS[mapping.action](message, mapping.fields)
        except ActionError as exc:
            problems.append(f"{mapping.name}: {exc}")
            continue
        if action is not None:
            actions.append(action)
    if not actions:
        return Plan(rejection="; ".join(problems) or NOTHING_OF_INTEREST)
    return Plan(actions=tuple(actions), warnings=tuple(problems))


def _value(
    message: Mapping[str, Any], key: str, defaults: Mapping[str, Path], overrides: Mapping[str, str]
) -> Any:
    paths = (overrides[key],) if key in overrides else defaults[key]
    for path in paths:
        found = lookup(message, path)
        if found is not None and found != "":
            return found
    return None


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _time_text(value: Any) -> Any:
    parsed = parse_time(value)
    return format_time(parsed) if parsed else value


def _compact(values: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}


def attribute_key(name: str) -> str:
    """A trait name as a ChartMogul custom attribute key (letters, digits, ``_``)."""
    return _BAD_KEY_CHARS.sub("_", name.strip()) or "_"


def _require(payload: Mapping[str, Any], names: Sequence[str]) -> None:
    for name in names:
        if payload.get(name) is None:
            raise ActionError(f"The root value is missing the required field '{name}'.")


def send_customer(message: Mapping[str, Any], overrides: Mapping[str, str]) -> Action:
    """Send Customer: a group's company as a ChartMogul customer."""
    raw = {key: _value(message, key, CUSTOMER_PATHS, overrides) for key in CUSTOMER_PATHS}
    _require(raw, ("message_id", "timestamp", "sent_at", "user_id", "group_id"))
    address = raw["address"] if isinstance(raw["address"], Mapping) else None
    address_out = (
        _compact({key: _text(_value(address, key, ADDRESS_KEYS, {})) for key in ADDRESS_KEYS})
        if address
        else None
    )
    webhook = _compact(
        {
            "type": SEND_CUSTOMER,
            **{key: _text(raw[key]) for key in ("message_id", "timestamp", "sent_at")},
            "user_id": _text(raw["user_id"]),
            "group_id": _text(raw["group_id"]),
            **{key: _text(raw[key]) for key in ("name", "description", "email", "website")},
            "created_at": _text(_time_text(raw["created_at"])),
            "address": address_out or None,
        }
    )
    fields = _compact(
        {
            "name": webhook.get("name"),
            "email": webhook.get("email"),
            "website_url": webhook.get("website"),
            "lead_created_at": webhook.get("created_at"),
            "city": (address_out or {}).get("city"),
            "state": (address_out or {}).get("state"),
            "zip": (address_out or {}).get("postal_code"),
            "country": (address_out or {}).get("country"),
        }
    )
    traits = message.get("traits") if isinstance(message.get("traits"), Mapping) else {}
    custom = {
        attribute_key(name): value
        for name, value in (traits or {}).items()
        if name not in CUSTOMER_STANDARD_TRAITS and _scalar(value)
    }
    if webhook.get("description") is not None:
        custom["description"] = webhook["description"]
    group_id = webhook["group_id"]
    return Action(
        kind="customer",
        entity=f"customer:{group_id}",
        external_id=group_id,
        fields=fields,
        custom=custom,
        webhook=webhook,
    )


def send_contact(message: Mapping[str, Any], overrides: Mapping[str, str]) -> Action:
    """Send Contact: an identified person as a contact of their company's customer."""
    raw = {key: _value(message, key, CONTACT_PATHS, overrides) for key in CONTACT_PATHS}
    _require(raw, ("message_id", "timestamp", "sent_at"))
    contact_id = _text(raw["user_id"]) or _text(raw["anonymous_id"])
    if contact_id is None:
        raise ActionError(MISSING_IDS)
    company = raw["company"] if isinstance(raw["company"], Mapping) else None
    company_out: dict[str, Any] = {}
    if company:
        company_out = _compact({"id": _text(company.get("id")), "name": _text(company.get("name"))})
    if "id" not in company_out:
        company_out = {}  # the destination drops a company without an id
    webhook = _compact(
        {
            "type": SEND_CONTACT,
            **{key: _text(raw[key]) for key in ("message_id", "timestamp", "sent_at")},
            "user_id": _text(raw["user_id"]),
            "anonymous_id": _text(raw["anonymous_id"]),
            **{
                key: _text(raw[key])
                for key in (
                    "email", "first_name", "last_name", "name", "title", "phone", "linked_in",
                    "twitter",
                )
            },
            "company": company_out or None,
        }
    )  # fmt: skip
    if len(webhook) <= BOOKKEEPING_KEYS:
        raise ActionError(NOTHING_OF_INTEREST)
    fields = _compact({key: webhook.get(key) for key in CONTACT_FIELDS})
    name = webhook.get("name")
    if name and not ({"first_name", "last_name"} & set(fields)):
        first, _, last = name.strip().partition(" ")
        fields["first_name"] = first
        if last.strip():
            fields["last_name"] = last.strip()
    return Action(
        kind="contact",
        entity=f"contact:{contact_id}",
        external_id=contact_id,
        fields=fields,
        company_id=company_out.get("id"),
        company_name=company_out.get("name"),
        webhook=webhook,
    )


def audience_traits(message: Mapping[str, Any], overrides: Mapping[str, str]) -> Action | None:
    """Engage audience memberships (boolean traits) as Boolean custom attributes."""
    del overrides  # audiences are whatever boolean traits arrive
    traits = message.get("traits")
    if not isinstance(traits, Mapping):
        return None
    audiences = {
        attribute_key(name): value
        for name, value in traits.items()
        if isinstance(value, bool) and name not in RESERVED_USER_TRAITS
    }
    if not audiences:
        return None
    if message.get("type") == "group" and message.get("groupId"):
        group_id = str(message["groupId"])
        return Action(
            kind="audience", entity=f"customer:{group_id}", external_id=group_id, custom=audiences
        )
    contact_id = _text(message.get("userId")) or _text(message.get("anonymousId"))
    if contact_id is None:
        raise ActionError(MISSING_IDS)
    company = traits.get("company")
    company_id = _text(company.get("id")) if isinstance(company, Mapping) else None
    return Action(
        kind="audience",
        entity=f"contact:{contact_id}",
        external_id=contact_id,
        custom=audiences,
        company_id=company_id,
    )


def _scalar(value: Any) -> bool:
    if isinstance(value, str):
        return len(value) <= MAX_STRING_VALUE
    return isinstance(value, bool | int | float)


_BUILDERS = {
    "send_customer": send_customer,
    "send_contact": send_contact,
    "audience_traits": audience_traits,
}

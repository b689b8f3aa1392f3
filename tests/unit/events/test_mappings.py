"""Mappings: triggers, the destination's exact payloads and its validation rules."""

from __future__ import annotations

from mogulsync.config.events import EventMapping, EventTrigger
from mogulsync.events.mappings import (
    DEFAULT_MAPPINGS,
    MISSING_IDS,
    NOTHING_OF_INTEREST,
    plan_event,
)

ENVELOPE = {
    "messageId": "m-1",
    "timestamp": "2021-02-01T00:00:00.000Z",
    "sentAt": "2021-02-01T00:00:00.000Z",
}


def test_group_becomes_the_exact_send_customer_payload() -> None:
    """All Send Customer fields land in the destination's flat snake_case shape."""
    plan = plan_event(
        {
            **ENVELOPE,
            "type": "group",
            "userId": "u-1",
            "groupId": "acme",
            "traits": {
                "name": "Acme",
                "description": "Rockets",
                "email": "billing@acme.example",
                "website": "https://acme.example",
                "createdAt": "2020-05-01T10:00:00Z",
                "address": {
                    "street": "1 Main St",
                    "city": "Berlin",
                    "state": "BE",
                    "postalCode": "10115",
                    "country": "DE",
                },
                "plan": "pro",
                "employees": 42,
            },
        },
        DEFAULT_MAPPINGS,
    )
    [action] = plan.actions
    assert action.webhook == {
        "type": "Send Customer",
        "message_id": "m-1",
        "timestamp": "2021-02-01T00:00:00.000Z",
        "sent_at": "2021-02-01T00:00:00.000Z",
        "user_id": "u-1",
        "group_id": "acme",
        "name": "Acme",
        "description": "Rockets",
        "email": "billing@acme.example",
        "website": "https://acme.example",
        "created_at": "2020-05-01T10:00:00.000Z",
        "address": {
            "street": "1 Main St",
            "city": "Berlin",
            "state": "BE",
            "postal_code": "10115",
            "country": "DE",
        },
    }
    assert list(action.webhook)[:6] == [
        "type", "message_id", "timestamp", "sent_at", "user_id", "group_id"
    ]  # fmt: skip
    assert action.entity == "customer:acme"
    assert action.fields["zip"] == "10115"
    assert action.fields["website_url"] == "https://acme.example"
    assert action.custom == {"plan": "pro", "employees": 42, "description": "Rockets"}


def test_group_without_user_id_is_rejected_like_the_destination() -> None:
    """Send Customer requires user_id."""
    plan = plan_event(
        {**ENVELOPE, "type": "group", "anonymousId": "a", "groupId": "g"}, DEFAULT_MAPPINGS
    )
    assert (
        plan.rejection == "Send Customer: The root value is missing the required field 'user_id'."
    )


def test_identify_accepts_camel_and_snake_case_traits() -> None:
    """firstName/lastName and first_name/last_name both map; linkedIn too."""
    for traits in (
        {"firstName": "Ada", "lastName": "Lovelace", "linkedIn": "in/ada"},
        {"first_name": "Ada", "last_name": "Lovelace", "linked_in": "in/ada"},
    ):
        plan = plan_event(
            {**ENVELOPE, "type": "identify", "userId": "u", "traits": traits}, DEFAULT_MAPPINGS
        )
        [action] = plan.actions
        assert action.webhook["first_name"] == "Ada"
        assert action.webhook["last_name"] == "Lovelace"
        assert action.fields["linked_in"] == "in/ada"


def test_identify_name_is_split_when_only_name_is_given() -> None:
    """The webhook gets `name`; API delivery splits it into first and last name."""
    plan = plan_event(
        {
            **ENVELOPE,
            "type": "identify",
            "userId": "u",
            "traits": {"name": "Grace Brewster Hopper"},
        },
        DEFAULT_MAPPINGS,
    )
    [action] = plan.actions
    assert action.webhook["name"] == "Grace Brewster Hopper"
    assert (action.fields["first_name"], action.fields["last_name"]) == ("Grace", "Brewster Hopper")


def test_company_without_id_is_dropped() -> None:
    """The destination drops a company that has no id (and keeps the rest)."""
    plan = plan_event(
        {
            **ENVELOPE,
            "type": "identify",
            "userId": "u",
            "traits": {"email": "a@b.c", "company": {"name": "X"}},
        },
        DEFAULT_MAPPINGS,
    )
    [action] = plan.actions
    assert "company" not in action.webhook
    assert action.company_id is None


def test_company_with_id_names_the_customer() -> None:
    """company {id, name} is sent as is and keys the contact's customer."""
    plan = plan_event(
        {
            **ENVELOPE,
            "type": "identify",
            "anonymousId": "anon",
            "traits": {"company": {"id": 9, "name": "X"}},
        },
        DEFAULT_MAPPINGS,
    )
    [action] = plan.actions
    assert action.webhook["company"] == {"id": "9", "name": "X"}
    assert action.webhook["anonymous_id"] == "anon"
    assert (action.entity, action.company_id) == ("contact:anon", "9")


def test_identify_with_nothing_of_interest_is_rejected() -> None:
    """Only bookkeeping keys (and a nameless company) is 'no information of interest'."""
    plan = plan_event(
        {**ENVELOPE, "type": "identify", "userId": "u", "traits": {"company": {"name": "X"}}},
        DEFAULT_MAPPINGS,
    )
    assert plan.rejection == f"Send Contact: {NOTHING_OF_INTEREST}"


def test_identify_without_ids_is_rejected() -> None:
    """Send Contact needs a user_id or an anonymous_id."""
    plan = plan_event(
        {**ENVELOPE, "type": "identify", "traits": {"email": "a@b.c"}}, DEFAULT_MAPPINGS
    )
    assert plan.rejection is not None
    assert MISSING_IDS in plan.rejection


def test_audience_booleans_become_custom_attributes() -> None:
    """Engage's boolean audience traits are an extra action on the same contact."""
    plan = plan_event(
        {
            **ENVELOPE,
            "type": "identify",
            "userId": "u",
            "traits": {"email": "a@b.c", "order_completed_last_30days": True, "beta users": False},
        },
        DEFAULT_MAPPINGS,
    )
    contact, audience = plan.actions
    assert (contact.kind, audience.kind) == ("contact", "audience")
    assert audience.custom == {"order_completed_last_30days": True, "beta_users": False}
    assert audience.webhook is None


def test_track_and_page_have_no_default_mapping() -> None:
    """Events no mapping matches are skipped, not rejected."""
    plan = plan_event({**ENVELOPE, "type": "track", "userId": "u", "event": "x"}, DEFAULT_MAPPINGS)
    assert plan.skipped is not None
    assert plan.actions == ()


def test_trigger_conditions_event_names_and_field_overrides() -> None:
    """A custom mapping matches on event name and property, reading overridden paths."""
    mapping = EventMapping(
        name="Signup",
        trigger=EventTrigger(
            type="track", event="Signed Up", conditions={"properties.plan": "pro"}
        ),
        action="send_contact",
        fields={"email": "properties.email", "user_id": "$.userId"},
    )
    base = {**ENVELOPE, "type": "track", "userId": "u", "event": "Signed Up"}
    hit = plan_event({**base, "properties": {"plan": "pro", "email": "p@x.io"}}, [mapping])
    assert hit.actions[0].fields == {"email": "p@x.io"}
    miss = plan_event({**base, "properties": {"plan": "free", "email": "p@x.io"}}, [mapping])
    assert miss.skipped is not None
    other = plan_event({**base, "event": "Other", "properties": {"plan": "pro"}}, [mapping])
    assert other.skipped is not None

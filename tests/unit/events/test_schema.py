"""Normalising Segment messages the way the Tracking API does."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from mogulsync.events.schema import (
    MAX_BATCH_EVENTS,
    MAX_EVENT_BYTES,
    IngestError,
    batch_envelope,
    format_time,
    normalize,
)

RECEIVED = dt.datetime(2024, 3, 1, 12, 0, 0, tzinfo=dt.UTC)


def body(event) -> dict:
    return json.loads(event.body)


def test_clock_skew_is_corrected_from_sent_at() -> None:
    """timestamp becomes receivedAt - (sentAt - timestamp); the original is kept."""
    event = normalize(
        {
            "type": "identify",
            "userId": "u1",
            "messageId": "m1",
            "timestamp": "2024-03-01T11:00:00Z",
            "sentAt": "2024-03-01T11:30:00Z",
        },
        received_at=RECEIVED,
    )
    message = body(event)
    assert message["timestamp"] == "2024-03-01T11:30:00.000Z"
    assert message["originalTimestamp"] == "2024-03-01T11:00:00Z"
    assert message["receivedAt"] == "2024-03-01T12:00:00.000Z"
    assert message["sentAt"] == "2024-03-01T11:30:00.000Z"


def test_missing_times_default_to_received_at() -> None:
    """Without timestamp or sentAt both read as the time the server received the event."""
    message = body(normalize({"type": "identify", "userId": "u1"}, received_at=RECEIVED))
    assert message["timestamp"] == message["sentAt"] == "2024-03-01T12:00:00.000Z"


def test_message_id_is_made_up_when_missing_and_ids_become_strings() -> None:
    """A missing messageId is generated; numeric ids are stringified."""
    event = normalize({"type": "group", "userId": 7, "groupId": 42}, received_at=RECEIVED)
    message = body(event)
    assert event.message_id.startswith("mogulsync-")
    assert (message["userId"], message["groupId"]) == ("7", "42")
    assert event.rejection is None


def test_write_key_never_reaches_storage() -> None:
    """writeKey in the body is dropped before storing."""
    event = normalize(
        {"type": "identify", "userId": "u", "writeKey": "secret-key"}, received_at=RECEIVED
    )
    assert "secret-key" not in event.body


def test_type_hint_of_single_routes_wins() -> None:
    """/v1/identify stores an identify whatever the body says."""
    event = normalize({"type": "track", "userId": "u"}, received_at=RECEIVED, type_hint="identify")
    assert event.type == "identify"


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        ({"type": "identify"}, "no_user_anon_id"),
        ({"type": "track", "userId": "u"}, "missing name"),
        ({"type": "group", "userId": "u"}, "groupId"),
        ({"type": "alias", "userId": "u"}, "previousId"),
        ({"type": "bogus", "userId": "u"}, "Unsupported event type"),
        ({"type": "identify", "userId": "u", "messageId": "x" * 100}, "fewer than 100"),
    ],
)
def test_spec_violations_are_stored_as_rejections(message: dict, reason: str) -> None:
    """Events Segment would not accept are acknowledged but carry a rejection reason."""
    event = normalize(message, received_at=RECEIVED)
    assert event.rejection is not None
    assert reason in event.rejection


def test_oversized_event_is_refused() -> None:
    """An event over 32 KB is a 400 payload_too_large."""
    big = {"type": "identify", "userId": "u", "traits": {"blob": "x" * MAX_EVENT_BYTES}}
    with pytest.raises(IngestError) as caught:
        normalize(big, received_at=RECEIVED)
    assert (caught.value.status, caught.value.code) == (400, "payload_too_large")


def test_batch_envelope_gives_defaults_and_limits_event_count() -> None:
    """context/integrations/sentAt of the envelope fill in; over 2,500 events is a 400."""
    messages, defaults = batch_envelope(
        {"batch": [{"type": "identify"}], "context": {"ip": "1.2.3.4"}, "sentAt": "x"}
    )
    assert messages == [{"type": "identify"}]
    assert defaults == {"context": {"ip": "1.2.3.4"}, "sentAt": "x"}
    with pytest.raises(IngestError):
        batch_envelope({"batch": [{}] * (MAX_BATCH_EVENTS + 1)})
    with pytest.raises(IngestError):
        batch_envelope({"events": []})


def test_format_time_uses_milliseconds_and_z() -> None:
    """Times are written as the destination sends them."""
    value = dt.datetime(2021, 2, 1, 1, 2, 3, 456789, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    assert format_time(value) == "2021-02-01T00:02:03.456Z"


@pytest.mark.parametrize(
    ("sent_at", "timestamp"),
    [
        ("0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z"),
        ("9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z"),
        (None, "0001-01-01T00:00:00+23:59"),
    ],
)
def test_skew_correction_out_of_range_rejects_the_event_alone(sent_at, timestamp) -> None:
    """A skew correction leaving years 1-9999 is a rejection with its reason, not a crash."""
    message = {"type": "identify", "userId": "u", "timestamp": timestamp}
    if sent_at:
        message["sentAt"] = sent_at
    event = normalize(message, received_at=RECEIVED)
    assert event.rejection is not None
    assert "outside years 1-9999" in event.rejection
    json.loads(event.body)


@pytest.mark.parametrize(
    ("traits", "path"),
    [
        ({"name": "\ud800"}, "traits.name"),
        ({"n": float("nan")}, "traits.n"),
        ({"n": float("inf")}, "traits.n"),
        ({"list": [1, float("-inf")]}, "traits.list[1]"),
        ({"\udfff": 1}, "traits.\\udfff"),
    ],
)
def test_values_json_cannot_hold_reject_the_event_and_are_stored_clean(traits, path) -> None:
    """Lone surrogates and non-finite numbers: rejected, named, stored as valid UTF-8 JSON."""
    event = normalize({"type": "identify", "userId": "u", "traits": traits}, received_at=RECEIVED)
    assert event.rejection is not None
    assert path in event.rejection
    event.body.encode()  # valid UTF-8
    assert "NaN" not in event.body
    assert "Infinity" not in event.body
    json.loads(event.body)


def test_envelope_parts_are_shared_not_copied() -> None:
    """Messages inheriting the envelope's context keep it apart, encoded once per request."""
    context = {"page": {"url": "https://x.io/" + "p" * 1000}}
    messages, defaults = batch_envelope(
        {"batch": [{"type": "identify", "userId": f"u{i}"} for i in range(3)], "context": context}
    )
    events = [normalize(m, received_at=RECEIVED, defaults=defaults) for m in messages]
    assert all(e.shared is events[0].shared for e in events)  # the same text object
    assert all(len(e.body) < 300 for e in events)
    assert json.loads(events[0].full_body)["context"] == context
    own = normalize(
        {"type": "identify", "userId": "u", "context": {"ip": "1"}},
        received_at=RECEIVED,
        defaults=defaults,
    )
    assert own.shared is None
    assert json.loads(own.full_body)["context"] == {"ip": "1"}


def test_a_null_context_inherits_the_envelope_without_a_duplicate_key() -> None:
    """`context: null` in a message takes the envelope's; the stored JSON has one key."""
    event = normalize(
        {"type": "identify", "userId": "u", "context": None},
        received_at=RECEIVED,
        defaults={"context": {"ip": "2"}},
    )
    assert event.full_body.count('"context"') == 1
    assert json.loads(event.full_body)["context"] == {"ip": "2"}


def test_a_bad_value_in_the_envelope_rejects_the_messages_inheriting_it() -> None:
    """The shared context is checked too; its problem rejects those who inherit it."""
    _, defaults = batch_envelope({"batch": [], "context": {"x": float("nan")}})
    event = normalize({"type": "identify", "userId": "u"}, received_at=RECEIVED, defaults=defaults)
    assert event.rejection is not None
    assert "context.x" in event.rejection
    assert "NaN" not in (event.shared or "")

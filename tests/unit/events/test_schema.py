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

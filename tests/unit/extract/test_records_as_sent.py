"""Airbyte (JSON) records are the API's list entries, yet conform to the stream's schema.

Records are passed on as the API sent them, so timestamps keep their spelling. But two
models reshape values while parsing: a subscription event's ``""`` for a number (echoed
by the API for a number sent as ``""``) reads as no value, a contact's ``custom`` given as
key/value pairs reads as a map. Passed on as sent, such a record broke the stream's
declared schema (``quantity`` an integer, ``custom`` an object); those fields now come from
the model, everything else as sent. The pages are read from list bodies by the client's
own ``read_page``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jsonschema import Draft7Validator, FormatChecker

from mogulsync.chartmogul import models
from mogulsync.chartmogul.models import reader
from mogulsync.chartmogul.pagination import read_page
from mogulsync.extract._partitions import emit_page
from mogulsync.extract.records import Record
from mogulsync.extract.schemas import stream_schema

EVENT = {
    "id": 7,
    "data_source_uuid": "ds_1",
    "customer_external_id": "cus_1",
    "event_type": "subscription_start_scheduled",
    "event_date": "2024-01-31T00:00:00.000Z",
    "effective_date": "2024-02-01T00:00:00+00:00",
    "amount_in_cents": "",
    "quantity": " ",
    "tax_amount_in_cents": 120,
    "event_order": "",
    "updated_at": "2024-01-31T10:00:00.000Z",
}
CONTACT = {
    "uuid": "con_1",
    "customer_uuid": "cus_1",
    "first_name": "Ada",
    "custom": [{"key": "Floor", "value": 3}, {"key": "Desk", "value": "A-12"}],
}


def _records(stream: str, model: type[models.ChartMogulModel], key: str, entry: Any) -> Record:
    body = {key: [entry], "has_more": False, "cursor": None}
    page = read_page(body, key, reader(model, f"/{key}"), endpoint=f"/{key}")
    emitted: list[Record] = []
    assert emit_page(page, emitted.extend, "json") == 1
    (record,) = emitted
    errors = [e.message for e in _validator(stream).iter_errors(record)]
    assert errors == []
    return record


def _validator(stream: str) -> Draft7Validator:
    return Draft7Validator(stream_schema(stream), format_checker=FormatChecker())


def test_a_subscription_events_blank_numbers_are_null_and_its_timestamps_as_sent() -> None:
    record = _records("subscription_events", models.SubscriptionEvent, "subscription_events", EVENT)
    assert record == {
        **EVENT,
        "amount_in_cents": None,
        "quantity": None,
        "event_order": None,
    }
    assert record["event_date"] == "2024-01-31T00:00:00.000Z"  # not respelled


def test_a_contacts_custom_pairs_are_a_map() -> None:
    record = _records("contacts", models.Contact, "entries", CONTACT)
    assert record == {**CONTACT, "custom": {"Floor": 3, "Desk": "A-12"}}


def test_reshaped_names_every_field_a_validator_reshapes() -> None:
    """A validator added to a model without naming its field in RESHAPED would let that
    field through as sent again."""
    found = {}
    for model in vars(models).values():
        if isinstance(model, type) and issubclass(model, models.ChartMogulModel):
            decorators: Mapping[str, Any] = model.__pydantic_decorators__.field_validators
            validated = {field for d in decorators.values() for field in d.info.fields}
            assert validated == model.RESHAPED, model.__name__
            if validated:
                found[model.__name__] = validated
    assert set(found) == {"Contact", "SubscriptionEvent"}

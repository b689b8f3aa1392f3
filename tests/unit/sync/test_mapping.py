"""Row → payload mapping: conversions, required fields, custom attributes, config problems."""

from __future__ import annotations

import datetime as dt
import decimal

import pytest

from mogulsync.config.sync import SyncConfig
from mogulsync.sync import values as v
from mogulsync.sync.mapping import (
    CustomValue,
    MappedRow,
    Mapper,
    MappingConfigError,
    custom_for_update,
    primary_key_of,
)
from mogulsync.warehouse import Column, ModelSchema


def _schema(**types: str) -> ModelSchema:
    return ModelSchema(tuple(Column(name, kind, kind) for name, kind in types.items()))  # type: ignore[arg-type]


def _mapper(**sync) -> Mapper:
    schema = _schema(id="String", company="String", mail="String", seats="Integer",
                     vip="Boolean", country="String")  # fmt: skip
    config = SyncConfig(model="m", object="customer",
                        mapping={"external_id": "id", "name": "company", "email": "mail"},
                        **sync)  # fmt: skip
    return Mapper("s", config, schema, ["id"])


def test_valid_row_maps_with_typed_custom_attributes_and_automap():
    """Mapped fields, auto-mapped same-name fields and typed custom attributes."""
    row = {"id": 7, "company": "Acme", "mail": "a@b.io", "seats": "12", "vip": "yes",
           "country": "fr"}  # fmt: skip
    mapped = _mapper().map(row, "7")
    assert isinstance(mapped, MappedRow)
    assert mapped.payload == {"external_id": "7", "name": "Acme", "email": "a@b.io",
                              "country": "FR"}  # fmt: skip
    assert mapped.custom == (
        CustomValue("seats", "Integer", 12),
        CustomValue("vip", "Boolean", True),
    )


def test_digest_changes_with_values_only():
    """The same values give the same digest; any change gives another."""
    mapper = _mapper()
    row = {"id": 1, "company": "A", "mail": None, "seats": 1, "vip": None, "country": None}
    first, again = mapper.map(row, "1"), mapper.map(dict(row), "1")
    changed = mapper.map({**row, "seats": 2}, "1")
    assert isinstance(first, MappedRow)
    assert isinstance(again, MappedRow)
    assert isinstance(changed, MappedRow)
    assert first.digest == again.digest != changed.digest


def test_every_problem_of_a_row_is_reported_with_its_field():
    """Several bad values in one row give one problem each, naming the field."""
    row = {"id": None, "company": "x" * 300, "mail": "nope", "seats": "many", "vip": 3,
           "country": "ZZ"}  # fmt: skip
    problems = _mapper().map(row, "k")
    assert isinstance(problems, list)
    fields = {p.field for p in problems}
    assert fields == {"external_id", "name", "email", "country", "attributes.custom.seats",
                      "attributes.custom.vip"}  # fmt: skip
    assert all(p.key == "k" and p.fix for p in problems)


def test_config_problems_are_reported_together():
    """Unknown fields, missing columns, bad keys and missing required fields at once."""
    schema = _schema(id="String", **{"bad key": "String"})
    config = SyncConfig(model="m", object="customer", mode="update", match="email",
                        mapping={"nickname": "id", "name": "missing"})  # fmt: skip
    with pytest.raises(MappingConfigError) as caught:
        Mapper("s", config, schema, ["id"])
    text = "\n".join(caught.value.problems)
    assert "nickname: not a customer field" in text
    assert "no column `missing`" in text
    assert "`email` is required" in text
    assert "`bad key` cannot be a custom attribute key" in text


def test_custom_attribute_settings_and_null_substitute():
    """A list limits custom attributes, types can be overridden, nulls get the substitute."""
    mapper = _mapper(custom_attributes=["seats"], custom_attribute_types={"seats": "String"})
    row = {"id": 1, "company": "A", "mail": None, "seats": None, "vip": True, "country": None}
    mapped = mapper.map(row, "1")
    assert isinstance(mapped, MappedRow)
    assert mapped.custom == (CustomValue("seats", "String", None),)
    assert custom_for_update(mapped.custom) == [CustomValue("seats", "String", "null")]
    assert _mapper(custom_attributes="none").custom_types == {}


@pytest.mark.parametrize(
    ("converter", "raw", "expected"),
    [
        (v.timestamp, dt.date(2024, 1, 2), "2024-01-02T00:00:00Z"),
        (v.timestamp, "2024-01-02 03:04:05 UTC", "2024-01-02T03:04:05Z"),
        (v.timestamp, "2000-01-01 00:00:00+02:00", "1999-12-31T22:00:00Z"),
        (v.integer, decimal.Decimal("5.00"), 5),
        (v.integer, " -3 ", -3),
        (v.number, "1.25", 1.25),
        (v.boolean, "F", False),
        (v.currency, "eur", "EUR"),
        (v.string_list, '["a", " b "]', ["a", "b"]),
        (v.string_list, ("x", None, ""), ["x"]),
        (v.text, "Zoë 🚀\n", "Zoë 🚀\n"),
    ],
)
def test_values_convert(converter, raw, expected):
    """Accepted spellings normalise to what ChartMogul takes."""
    assert converter(raw) == expected


@pytest.mark.parametrize(
    ("converter", "raw"),
    [
        (v.timestamp, "31/12/2024"),
        (v.timestamp, 12),
        (v.integer, 1.5),
        (v.integer, True),
        (v.integer, float("nan")),
        (v.number, "Infinity"),
        (v.number, False),
        (v.boolean, "perhaps"),
        (v.currency, "ABC"),
        (v.country, "UK"),
        (v.email, "a@b"),
        (v.url, "ftp://x.io"),
        (v.text, "\ud800"),
        (v.text, {"a": 1}),
        (v.required_text, "   "),
        (v.json_objects, "[1, 2]"),
        (v.json_objects, "{oops"),
    ],
)
def test_values_refuse(converter, raw):
    """Bad values raise FieldValueError with a message and a fix."""
    with pytest.raises(v.FieldValueError) as caught:
        converter(raw)
    assert caught.value.message
    assert caught.value.fix


def test_primary_key_text():
    """Composite keys join with |; a null or blank part means no key."""
    assert primary_key_of({"a": 1, "b": "x"}, ["a", "b"]) == "1|x"
    assert primary_key_of({"a": 1, "b": " "}, ["a", "b"]) is None
    assert primary_key_of({"a": None}, ["a"]) is None


def test_integer_hints_fit_the_field():
    """An Integer custom attribute (seats) is not told about cents; an amount is."""
    row = {"id": 1, "company": "A", "mail": None, "seats": "many", "vip": None, "country": None}
    problems = _mapper().map(row, "1")
    assert isinstance(problems, list)
    (seats,) = [p for p in problems if p.field == "attributes.custom.seats"]
    assert "cents" not in seats.fix
    assert "INTEGER" in seats.fix
    with pytest.raises(v.FieldValueError) as amount:
        v.cents("19.99")
    assert "cents" in amount.value.fix

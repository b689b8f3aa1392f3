"""Property: any SQL-ish warehouse value either converts or becomes a row problem naming its field.

Hypothesis draws values of every type a warehouse driver hands us (None, NaN, infinities,
huge ints, Decimals, bytes, naive and aware datetimes at the calendar's edges, odd strings,
nested lists) and feeds them through every field converter and a whole :class:`Mapper`.
``derandomize`` keeps the drawn examples the same on every run.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mogulsync.config.sync import SyncConfig
from mogulsync.sync import fields as f
from mogulsync.sync import values as v
from mogulsync.sync.mapping import _CONVERTERS, MappedRow, Mapper
from mogulsync.warehouse import Column, ModelSchema

FUZZ = settings(
    max_examples=150,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

_ZONES = st.builds(
    dt.timezone,
    st.timedeltas(
        min_value=dt.timedelta(hours=-23, minutes=-59), max_value=dt.timedelta(hours=23, minutes=59)
    ),
)
_EDGE_TEXT = st.sampled_from(
    [
        "",
        " ",
        "NaN",
        "-Infinity",
        "1e400",
        "9" * 5000,
        "0001-01-01T00:00:00+01:00",
        "9999-12-31T23:59:59-01:00",
        "[" * 5000,
        "[" * 2000 + "]" * 2000,
        "[1, {}]",
        "\x00",
        "\ud800",
        "true",
    ]
)
_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    # built lazily: hypothesis cannot repr an int of more than 4,300 digits in a strategy
    st.sampled_from([5000, -5000, 19, -19]).map(lambda e: (1 if e > 0 else -1) * 10 ** abs(e)),
    st.floats(allow_nan=True, allow_infinity=True),
    st.decimals(allow_nan=True, allow_infinity=True),
    st.sampled_from(
        [decimal.Decimal("sNaN"), decimal.Decimal("1e5000"), decimal.Decimal("-1e-5000")]
    ),
    st.binary(max_size=20),
    st.text(max_size=40),
    _EDGE_TEXT,
    st.dates(),
    st.datetimes(),
    st.datetimes(timezones=_ZONES),
    st.sampled_from(
        [dt.datetime.min.replace(tzinfo=dt.UTC), dt.datetime.max.replace(tzinfo=dt.UTC)]
    ),
    st.times(),
    st.timedeltas(),
)
VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.text(max_size=8), inner, max_size=4),
    ),
    max_leaves=8,
)

CONVERTERS: dict[str, Callable[[Any], Any]] = {
    **{f"{table}.{name}": c for table, spec in f.FIELDS.items() for name, c in spec.items()},
    **{f"line_item.{name}": c for name, c in f.LINE_ITEM.items()},
    **{f"custom.{kind}": c for kind, c in _CONVERTERS.items()},
}


def _converted_or_refused(converter: Callable[[Any], Any], raw: Any) -> None:
    try:
        result = converter(raw)
    except v.FieldValueError as exc:
        refused = exc
    else:
        json.dumps(result, allow_nan=False)  # what is kept must be sendable as JSON
        return
    assert refused.message
    assert refused.fix


@pytest.mark.parametrize("name", sorted(CONVERTERS))
@settings(FUZZ, max_examples=25)
@given(raw=VALUES.filter(lambda value: value is not None))
def test_every_converter_converts_or_refuses(name: str, raw: Any) -> None:
    _converted_or_refused(CONVERTERS[name], raw)


def _mapper() -> Mapper:
    types = {"id": "String", "mail": "String", "seats": "Integer", "score": "Decimal",
             "vip": "Boolean", "since": "Timestamp", "tags": "String", "country": "String"}  # fmt: skip
    schema = ModelSchema(tuple(Column(n, k, k) for n, k in types.items()))  # type: ignore[arg-type]
    config = SyncConfig(
        model="m", object="customer", mapping={"external_id": "id", "email": "mail"}
    )
    return Mapper("s", config, schema, ["id"])


MAPPER = _mapper()
ROW_COLUMNS = ("id", "mail", "seats", "score", "vip", "since", "tags", "country")


@FUZZ
@given(row=st.fixed_dictionaries(dict.fromkeys(ROW_COLUMNS, VALUES)))
def test_a_whole_row_maps_or_names_its_fields(row: dict[str, Any]) -> None:
    mapped = MAPPER.map(row, "k")
    if isinstance(mapped, MappedRow):
        json.dumps(mapped.payload, allow_nan=False)
        return
    for problem in mapped:
        assert problem.field
        assert problem.message


# Regression examples: each input below raised something other than FieldValueError.
@pytest.mark.parametrize(
    ("converter", "raw"),
    [
        (v.integer, decimal.Decimal("sNaN")),  # ValueError from float(sNaN)
        (v.integer, "9" * 5000),  # int() past Python's 4,300-digit limit
        (v.integer, decimal.Decimal("1e5000")),  # converted, then unsendable as JSON
        (v.integer, 2**63),  # beyond any 64-bit number field
        (v.number, 10**400),  # OverflowError from float()
        (v.number, b"1.5"),  # float() read bytes as a number
        (v.text, 10**5000),  # str() past the digit limit
        (v.boolean, 10**5000),  # str() past the digit limit
        (v.integer, [10**5000]),  # repr() in the message past the digit limit
        (v.timestamp, "0001-01-01T00:00:00+01:00"),  # OverflowError converting to UTC
        (v.timestamp, dt.datetime.max.replace(tzinfo=dt.timezone(-dt.timedelta(hours=1)))),
        (v.json_objects, "[" * 5000),  # RecursionError in json.loads
        (v.string_list, "[" * 5000),
        (v.string_list, [10**5000]),  # str() of an item past the digit limit
    ],
    ids=lambda value: getattr(value, "__name__", "raw"),  # no repr of 5,000-digit ints
)
def test_regression_values_are_refused_with_a_field_error(
    converter: Callable[[Any], Any], raw: Any
) -> None:
    with pytest.raises(v.FieldValueError) as caught:
        converter(raw)
    assert len(caught.value.message) < 200


def test_regression_a_row_with_a_huge_int_has_a_stable_digest_and_a_field_problem() -> None:
    """repr() of a 5,000-digit int raised ValueError in the row digest (and the batch digest)."""
    row = {"id": "1", "mail": None, "seats": 10**5000, "score": None, "vip": None,
           "since": None, "tags": None, "country": None}  # fmt: skip
    mapped = MAPPER.map(row, "1")
    assert not isinstance(mapped, MappedRow)
    assert [p.field for p in mapped] == ["attributes.custom.seats"]
    assert MAPPER.row_digests([row, dict(row)]) == [MAPPER.row_digest(row)] * 2
    assert MAPPER.row_digest(row) != MAPPER.row_digest({**row, "seats": 10**5000 + 1})

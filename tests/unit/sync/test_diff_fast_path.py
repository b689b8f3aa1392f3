"""The fast diff path gives exactly the answers of the straightforward one it replaced."""

from __future__ import annotations

import datetime as dt
import decimal
import gc
import hashlib

import pytest

from mogulsync._gcpause import paused_gc
from mogulsync.sync import values as v
from mogulsync.sync.batch import _keys
from mogulsync.sync.diff import Prior, RowStatus
from mogulsync.sync.mapping import DIGEST_FORMAT, primary_key_of, raw_digest
from mogulsync.sync.state import RowResult, StateStore

RAW_VALUES = [
    ("a", None, 1, 1.5, True),
    ("Zoë «Ltd»", 'c\n\t"q"\\', "😀"),
    (dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC), dt.date(2024, 1, 2)),
    (decimal.Decimal("1.10"), [{"amount_in_cents": 5, "prorated": True}], '[{"a": 1}]'),
]


@pytest.mark.parametrize("values", RAW_VALUES)
def test_digest_is_byte_for_byte_the_documented_formula(values):
    """Digest format `raw-repr-md5-1`: MD5 hex of repr() of the raw values, in column order."""
    assert DIGEST_FORMAT == "raw-repr-md5-1"
    expected = hashlib.md5(repr(values).encode(), usedforsecurity=False).hexdigest()
    assert raw_digest(values) == expected


def test_digest_of_a_known_row_is_pinned():
    """A fixed row's digest never changes silently (that would resend every snapshot row)."""
    values = ("US", "a@b.io", "Acme", 12, None, dt.datetime(2024, 1, 1))  # noqa: DTZ001
    assert raw_digest(values) == "12a462159fc6db0ba9ca15f337aaa270"


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ((None,), ("None",)),
        ((1,), ("1",)),
        ((1,), (1.0,)),
        ((1,), (True,)),
        ((0,), (False,)),
        (("",), (None,)),
        (("a", "b"), ("a,b", None)),
        (("a', 'b",), ("a", "b")),
        ((dt.date(2024, 1, 2),), ("2024-01-02",)),
        ((decimal.Decimal("1.10"),), (decimal.Decimal("1.1"),)),
    ],
)
def test_digest_tells_types_and_value_boundaries_apart(one, other):
    """None vs "None", 1 vs "1" vs 1.0 vs True, and values cannot run into each other."""
    assert raw_digest(one) != raw_digest(other)


class _NoRepr:
    """A driver value with Python's default repr (a memory address) and a meaningful str."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __str__(self) -> str:
        return self.text


def test_values_with_an_address_in_their_repr_digest_by_type_and_text():
    """Two objects with equal text digest alike (the address would change every run)."""
    assert raw_digest(("a", _NoRepr("x"))) == raw_digest(("a", _NoRepr("x")))
    assert raw_digest(("a", _NoRepr("x"))) != raw_digest(("a", _NoRepr("y")))
    assert raw_digest((_NoRepr("x"),)) != raw_digest(("x",))


@pytest.mark.parametrize(
    ("raw", "ok"),
    [
        ("plain text", True),
        ("tabs\tand\nnew lines\r", True),
        ("zero\u200bwidth joiners are format characters", True),
        ("non-breaking\u00a0space", True),
        ("nul\x00", False),
        ("bell\x07", False),
        ("private\ue000use", False),
        ("unassigned\U000e0080", False),
    ],
)
def test_text_refuses_exactly_the_bad_categories(raw, ok):
    """Printable text skips the per-character check; anything else still gets it."""
    if ok:
        assert v.text(raw) == raw
    else:
        with pytest.raises(v.FieldValueError, match="control characters"):
            v.text(raw)


def test_naive_timestamps_take_the_short_path_with_the_same_text():
    """A naive datetime is UTC: same text as the aware one, microseconds included."""
    naive = dt.datetime(2024, 1, 2, 3, 4, 5, 6)  # noqa: DTZ001 - naive on purpose
    assert v.timestamp(naive) == v.timestamp(naive.replace(tzinfo=dt.UTC))
    assert v.timestamp(naive) == "2024-01-02T03:04:05.000006Z"
    assert v.timestamp(dt.datetime(2024, 1, 2)) == "2024-01-02T00:00:00Z"  # noqa: DTZ001
    berlin = dt.timezone(dt.timedelta(hours=1))
    assert v.timestamp(dt.datetime(2024, 1, 2, 1, tzinfo=berlin)) == "2024-01-02T00:00:00Z"


def test_single_column_keys_match_primary_key_of():
    """The batch key helper agrees with primary_key_of on every kind of value."""
    rows = [{"id": value} for value in ["a", " b ", "", "  ", None, 0, 12, 1.5, "\t", "x|y"]]
    assert _keys(rows, ["id"]) == [primary_key_of(row, ["id"]) for row in rows]
    pairs = [{"a": 1, "b": "x"}, {"a": None, "b": "x"}]
    assert _keys(pairs, ["a", "b"]) == ["1|x", None]


@pytest.mark.parametrize("odd", ["nul\x00key", "plain"])
def test_see_and_priors_answer_alike_on_both_paths(tmp_path, odd):
    """One statement per batch (JSON array) and the per-key path (keys with NUL) agree."""
    state = StateStore(tmp_path)
    keys = ["k1", 'quote"d', "ü😀", odd]
    state.mark_inflight("s", [(key, "d", None) for key in keys])
    state.record("s", [RowResult(key, ok=True, uuid=f"u-{key}") for key in keys[:2]])
    state.start_seen()
    assert state.see(["k1", "k1", odd, "new"]) == [True, False, True, True]
    assert state.see([odd, "k1", "other", "other"]) == [False, False, True, False]
    priors = state.priors("s", [*keys, "absent"])
    assert priors["k1"] == Prior("d", RowStatus.SYNCED, "u-k1")
    assert priors['quote"d'].uuid == 'u-quote"d'
    assert priors["ü😀"] == Prior(None, RowStatus.INFLIGHT)
    assert priors[odd] == Prior(None, RowStatus.INFLIGHT)
    assert "absent" not in priors
    assert [key for key, _ in state.unseen("s")] == sorted(['quote"d', "ü😀"])
    state.close()


def test_paused_gc_restores_the_collector_as_it_found_it():
    """Inside: off; after: on again, unless it was off before (nested or by the program)."""
    assert gc.isenabled()
    with paused_gc():
        assert not gc.isenabled()
        with paused_gc():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    try:
        with paused_gc():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()

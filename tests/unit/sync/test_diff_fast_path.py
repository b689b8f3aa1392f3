"""The fast diff path gives exactly the answers of the straightforward one it replaced."""

from __future__ import annotations

import datetime as dt
import decimal
import gc
import hashlib
import json

import pytest

from mogulsync._gcpause import paused_gc
from mogulsync.sync import values as v
from mogulsync.sync.batch import _keys
from mogulsync.sync.diff import Prior, RowStatus
from mogulsync.sync.mapping import CustomValue, digest, primary_key_of
from mogulsync.sync.state import RowResult, StateStore

PAYLOADS = [
    ({"external_id": "a", "name": "Zoë «Ltd»", "tags": ["x", "ü"]}, ()),
    (
        {"external_id": "b", "line_items": [{"amount_in_cents": 5, "prorated": True}]},
        (CustomValue("seats", "Integer", 3), CustomValue("note", "String", None)),
    ),
    ({"name": 'c\n\t"q"\\'}, (CustomValue("ratio", "Decimal", 0.1),)),
    ({"when": dt.datetime(2024, 1, 1, tzinfo=dt.UTC)}, (CustomValue("big", "Decimal", 1e300),)),
    ({"money": decimal.Decimal("1.10"), "emoji": "😀"}, (CustomValue("vip", "Boolean", False),)),
]


@pytest.mark.parametrize(("payload", "custom"), PAYLOADS)
def test_digest_is_byte_for_byte_the_documented_formula(payload, custom):
    """Snapshots written by earlier versions stay valid: the digest's input never changed."""
    material = {"payload": payload, "custom": [[c.key, c.type, c.value] for c in custom]}
    text = json.dumps(material, sort_keys=True, separators=(",", ":"), default=str)
    assert digest(payload, custom) == hashlib.sha256(text.encode()).hexdigest()


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
    state.mark_inflight("s", [(key, "d") for key in keys])
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


def test_cpython_digests_use_the_prebuilt_c_encoder():
    """The fast encoder passed its self-check at import (else digests fall back, slower)."""
    from mogulsync.sync import mapping

    assert mapping._encode_digest.__name__ == "encode"

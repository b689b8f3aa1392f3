"""The note an adopt leaves for the next run: written whole, taken once, never trusted blindly."""

from __future__ import annotations

import pytest

from mogulsync.sync.bulk import adopted
from mogulsync.sync.bulk.adopted import AdoptedScope

pytestmark = pytest.mark.anyio


def test_a_note_is_taken_once(tmp_path):
    note = AdoptedScope("ds_1", "customer", 3, frozenset({"x"}), taken_at=1_000.0)
    adopted.save(tmp_path, "customers", note)
    adopted.save(tmp_path, "plans", AdoptedScope("ds_1", "plan", 1))
    assert adopted.take(tmp_path, "customers") == note
    assert adopted.take(tmp_path, "customers") is None
    assert adopted.take(tmp_path, "plans") is not None  # notes are per sync


_NOT_A_LIST = (
    '{"data_source_uuid": "d", "object_type": "customer", "records": 1, "absent": "ab",'
    ' "taken_at": 0}'
)


@pytest.mark.parametrize(
    "body", ["", "{", "[]", '{"records": 1}', '{"data_source_uuid": "d"}', _NOT_A_LIST]
)
def test_an_unreadable_note_is_ignored_and_removed(tmp_path, body):
    adopted.save(tmp_path, "customers", AdoptedScope("ds_1", "customer", 3))
    [path] = (tmp_path / adopted.ADOPTED_DIR).glob("*.json")
    path.write_text(body)
    assert adopted.take(tmp_path, "customers") is None
    assert not path.exists()


@pytest.mark.parametrize(
    ("object_type", "data_source", "age"),
    [
        ("plan", "ds_1", 10.0),  # another object
        ("customer", "ds_2", 10.0),  # another data source
        ("customer", "ds_1", adopted.TRUST_WINDOW_S + 1),  # too old
        ("customer", "ds_1", -5.0),  # from the future: a clock that moved back
    ],
)
async def test_a_note_that_does_not_fit_is_refused_before_any_request(
    object_type, data_source, age
):
    note = AdoptedScope("ds_1", "customer", 3, taken_at=1_000.0)
    # no client: refusing must not cost a request
    found = await adopted.vouched(None, note, object_type, data_source, now=1_000.0 + age)  # type: ignore[arg-type]
    assert found is None

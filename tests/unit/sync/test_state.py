"""Diff classification and the SQLite state: in-flight marking, results, seen keys, locks."""

from __future__ import annotations

import sqlite3

import pytest

from mogulsync.errors import FatalError
from mogulsync.sync.diff import Change, Prior, RowStatus, classify, needs_sending
from mogulsync.sync.state import SCHEMA_VERSION, RowResult, StateStore, SyncLock, SyncLockedError


def test_classify_rows():
    """New, changed, failed and in-flight rows are sent; synced equal rows are not."""
    synced = Prior("d1", RowStatus.SYNCED, "cus_1")
    assert classify("d1", None) is Change.ADDED
    assert classify("d1", Prior(None, RowStatus.FAILED)) is Change.ADDED
    assert classify("d2", synced) is Change.CHANGED
    assert classify("d1", synced) is Change.UNCHANGED
    assert classify("d1", synced, full=True) is Change.CHANGED
    assert classify("d1", Prior("d1", RowStatus.FAILED, "cus_1")) is Change.CHANGED
    assert classify("d1", Prior("d1", RowStatus.INFLIGHT)) is Change.CHANGED
    assert not needs_sending(Change.UNCHANGED)
    assert Prior(None, RowStatus.INFLIGHT).may_exist
    assert not Prior(None, RowStatus.FAILED).may_exist


def test_row_is_synced_only_after_acceptance(tmp_path):
    """In flight before sending; synced with the new digest only when accepted."""
    state = StateStore(tmp_path)
    state.mark_inflight("s", [("a", "d1", None), ("b", "d1", None), ("c", "d1", None)])
    assert state.priors("s", ["a"])["a"] == Prior(None, RowStatus.INFLIGHT)
    state.record(
        "s",
        [RowResult("a", ok=True, uuid="cus_a"), RowResult("b", ok=False),
         RowResult("c", ok=False, unknown=True)],
    )  # fmt: skip
    priors = state.priors("s", ["a", "b", "c", "zz"])
    assert priors["a"] == Prior("d1", RowStatus.SYNCED, "cus_a")
    assert priors["b"] == Prior(None, RowStatus.FAILED)
    assert priors["c"] == Prior(None, RowStatus.INFLIGHT)
    assert "zz" not in priors
    state.mark_inflight("s", [("a", "d2", None)])
    state.record("s", [RowResult("a", ok=False)])
    assert state.priors("s", ["a"])["a"] == Prior("d1", RowStatus.FAILED, "cus_a")
    state.close()


def test_in_flight_rows_keep_their_external_id(tmp_path):
    """mark_inflight stores the ref; a later attempt without one keeps it, a new one wins."""
    state = StateStore(tmp_path)
    state.mark_inflight("s", [("a", "d1", "ext-a"), ("b", "d1", None)])
    assert state.priors("s", ["a"])["a"] == Prior(None, RowStatus.INFLIGHT, None, "ext-a")
    state.mark_inflight("s", [("a", "d2", None), ("b", "d2", "ext-b")])
    priors = state.priors("s", ["a", "b"])
    assert (priors["a"].ref, priors["b"].ref) == ("ext-a", "ext-b")
    state.close()


def test_state_survives_reopen_and_seen_keys_find_removed_rows(tmp_path):
    """Committed state is there after reopening; unseen keys are the removed ones."""
    state = StateStore(tmp_path)
    state.mark_inflight("s", [("a", "d", None), ("b", "d", None)])
    state.record("s", [RowResult("a", ok=True, uuid="u1"), RowResult("b", ok=True, uuid="u2")])
    state.close()
    again = StateStore(tmp_path)
    again.start_seen()
    assert again.see(["a", "a", "c"]) == [True, False, True]
    assert [key for key, _ in again.unseen("s")] == ["b"]
    again.forget("s", ["b"])
    assert again.counts("s") == {"synced": 1}
    again.close()


@pytest.mark.parametrize("nul", ["", "\x00"])
def test_seen_keys_keep_the_row_number_they_were_first_seen_at(tmp_path, nul):
    """None (a null key) is never new; each key keeps its first row, across batches (also on
    the one-statement-per-key path that keys holding a NUL take)."""
    state = StateStore(tmp_path)
    state.start_seen()
    a, b = f"a{nul}", f"b{nul}"
    assert state.see([a, None, b, a], first_row=1) == [True, False, True, False]
    assert state.see([None, b, "c"], first_row=5) == [False, False, True]
    assert state.seen_rows([a, b, "c", "nope"]) == {a: 1, b: 3, "c": 7}
    state.start_seen()  # a new run forgets them
    assert state.seen_rows([a]) == {}
    state.close()


def test_registry_and_definition(tmp_path):
    """uuids are remembered per kind and data source; a changed definition is noticed."""
    state = StateStore(tmp_path)
    state.remember_uuids([("customer", "ds_1", "e1", "cus_1")])
    assert state.known_uuid("customer", "ds_1", "e1") == "cus_1"
    assert state.known_uuid("customer", "ds_2", "e1") is None
    state.forget_uuid("customer", "ds_1", "e1")
    assert state.known_uuid("customer", "ds_1", "e1") is None
    assert not state.definition_changed("s", "v1")
    state.save_definition("s", "v1")
    assert not state.definition_changed("s", "v1")
    assert state.definition_changed("s", "v2")
    state.close()


def test_newer_schema_is_refused(tmp_path):
    """A state file from a newer mogulsync is not silently used."""
    StateStore(tmp_path).close()
    db = sqlite3.connect(tmp_path / "state.sqlite")
    db.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION + 1),))
    db.commit()
    db.close()
    with pytest.raises(FatalError, match="newer mogulsync"):
        StateStore(tmp_path)


def test_lock_refuses_a_second_holder(tmp_path):
    """One run per sync: a second lock fails with a clear message until released."""
    first = SyncLock(tmp_path, "customers")
    first.acquire()
    with pytest.raises(SyncLockedError, match="already running"):
        SyncLock(tmp_path, "customers").acquire()
    with SyncLock(tmp_path, "other"):  # other syncs are independent
        pass
    first.release()
    with SyncLock(tmp_path, "customers"):
        pass

"""Which removed rows' records a row the model still holds names (pure; docs/sync.md,
"Re-keyed rows")."""

from __future__ import annotations

from mogulsync.sync.diff import Prior, RowStatus, claimed, same_record

SYNCED = RowStatus.SYNCED


def test_same_uuid_is_the_same_record_whatever_the_external_ids() -> None:
    assert same_record(Prior("d", SYNCED, "u1", "A"), Prior("d", SYNCED, "u1", "A2"))
    # email matches keep every customer they updated, comma-separated
    assert same_record(Prior("d", SYNCED, "u1,u2", None), Prior("d", SYNCED, "u2", None))


def test_same_external_id_unless_both_uuids_known_and_different() -> None:
    assert same_record(Prior("d", SYNCED, "u1", "A"), Prior(None, RowStatus.FAILED, None, "A"))
    assert same_record(Prior("d", SYNCED, None, "A"), Prior("d", SYNCED, "u1", "A"))
    # deleted and created again in ChartMogul (or contacts under two customers): two records
    assert not same_record(Prior("d", SYNCED, "u1", "A"), Prior("d", SYNCED, "u2", "A"))
    assert not same_record(Prior("d", SYNCED, None, None), Prior("d", SYNCED, None, None))


def test_claimed_names_the_holder() -> None:
    gone = [("1", Prior("d", SYNCED, "u1", "A")), ("2", Prior("d", SYNCED, "u2", "B"))]
    holders = {"3": Prior(None, RowStatus.INFLIGHT, None, "A"), "4": Prior("d", SYNCED, "u9", "B")}
    assert claimed(gone, holders) == {"1": ("3", holders["3"])}

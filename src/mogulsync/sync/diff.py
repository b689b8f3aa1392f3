"""Classify rows against the last accepted snapshot. Pure: no I/O.

The snapshot keeps, per primary key, the digest of the payload ChartMogul last accepted and
the row's status. A row is sent when it is new, when its digest changed, or when its last
attempt did not end in ChartMogul's acceptance (``failed`` or still ``inflight``): failed
rows are retried on every later run until they succeed, never skipped.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass


class Change(enum.Enum):
    """What a run does with a row."""

    ADDED = "added"
    CHANGED = "changed"
    UNCHANGED = "unchanged"
    REMOVED = "removed"


class RowStatus(enum.Enum):
    """A row's state in the snapshot."""

    SYNCED = "synced"
    FAILED = "failed"
    #: sent (or about to be) without a known outcome; the next run resolves it by lookup
    INFLIGHT = "inflight"


@dataclass(frozen=True, slots=True)
class Prior:
    """What the snapshot knows about a primary key."""

    #: digest of the payload ChartMogul last accepted (None: never accepted)
    digest: str | None
    status: RowStatus
    #: ChartMogul uuid(s) of the record, comma-separated when several matched
    uuid: str | None = None
    #: the record's external id, when known (finds records whose uuid is not known)
    ref: str | None = None

    @property
    def may_exist(self) -> bool:
        """Whether the record may exist in ChartMogul (accepted once, or outcome unknown)."""
        return self.digest is not None or self.status is RowStatus.INFLIGHT


#: objects whose record can be found by its external id alone (a row in flight has no uuid;
#: contacts by a listing of the data source's contacts)
FOUND_BY_REF = frozenset({"customer", "contact", "plan", "invoice"})


def unsure_removal(prior: Prior, object_type: str) -> bool:
    """A row that left the model while in flight, never accepted: its record may exist.

    With ``on_delete: delete`` a run looks it up by its external id and deletes what it
    finds, so both the run and ``sync plan`` count it as a delete.
    """
    return (
        object_type in FOUND_BY_REF
        and prior.digest is None
        and prior.status is RowStatus.INFLIGHT
        and not prior.uuid
        and bool(prior.ref)
    )


def classify(digest: str, prior: Prior | None, *, full: bool = False) -> Change:
    """ADDED, CHANGED or UNCHANGED for a row seen in this run."""
    if prior is None or prior.digest is None:
        return Change.ADDED
    if full or prior.status is not RowStatus.SYNCED or prior.digest != digest:
        return Change.CHANGED
    return Change.UNCHANGED


def needs_sending(change: Change) -> bool:
    """Whether a classified row costs API calls."""
    return change in (Change.ADDED, Change.CHANGED)


def _uuids(prior: Prior) -> set[str]:
    return {part for part in (prior.uuid or "").split(",") if part}


def same_record(gone: Prior, holder: Prior) -> bool:
    """Whether a row that left the model and a row the model holds name the same record:
    a uuid in common, or the same external id unless both uuids are known and differ (the
    record was deleted and created again in ChartMogul: two records, one each)."""
    gone_uuids, holder_uuids = _uuids(gone), _uuids(holder)
    if gone_uuids & holder_uuids:
        return True
    return bool(gone.ref) and gone.ref == holder.ref and not (gone_uuids and holder_uuids)


def claimed(
    gone: Sequence[tuple[str, Prior]], holders: Mapping[str, Prior]
) -> dict[str, tuple[str, Prior]]:
    """Rows that left the model whose record a row the model still holds names: removed
    row's key → (that row's key, its prior). Deleting it would delete that row's record
    (a re-keyed model: one row out, another in with the same external id or email)."""
    by_ref: dict[str, list[str]] = {}
    by_uuid: dict[str, list[str]] = {}
    for key, prior in holders.items():
        if prior.ref:
            by_ref.setdefault(prior.ref, []).append(key)
        for uuid in _uuids(prior):
            by_uuid.setdefault(uuid, []).append(key)
    found: dict[str, tuple[str, Prior]] = {}
    for key, prior in gone:
        candidates = [*by_ref.get(prior.ref or "", [])]
        for uuid in sorted(_uuids(prior)):
            candidates.extend(by_uuid.get(uuid, []))
        for holder in sorted(set(candidates)):
            if same_record(prior, holders[holder]):
                found[key] = (holder, holders[holder])
                break
    return found

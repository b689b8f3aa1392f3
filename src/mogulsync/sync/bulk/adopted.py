"""What ``reconcile --adopt`` saw of a data source, so the next run can skip a listing.

Before importing new customers or plans, the bulk path proves they do not exist yet with a
listing of the data source (:mod:`mogulsync.sync.bulk.existing`). When few rows are new in
a large data source that listing costs more pages than the rows it saves, and the rows go
over REST one by one instead. An adopt has just read that very listing, so it leaves a
note: the data source, how many records it held, and the external ids of the model's rows
it found **absent** from ChartMogul. The next run of the sync takes the note (and deletes
it) under the sync's lock, and imports a new row in bulk without a listing only when

- the note is that run's: every run deletes it when it starts, whether it uses it or not;
- it is younger than :data:`TRUST_WINDOW_S` and names the same data source and object;
- one request (the list's first page, one record a page, whose ``total_pages`` is then the
  number of records) finds exactly as many records as the adopt counted. A record created
  since the adopt (by the tool being replaced, still scheduled, or by hand) changes the
  count, and the run lists the data source as it always did;
- the row's external id is one the adopt found absent. Any other new row (an external id
  the adopt saw on a record, or one it never looked for) goes over REST, which finds and
  updates an existing record; so an import never reuses a record unchanged.

(A creation and a deletion in the same window cancel out in the count; the window is short
for that reason.) Notes are left only where the sync's runs all share this state
directory (embedded state): with a shared state store another worker's run would not take
the note. When the API answers without ``total_pages`` (a deprecated field) the note is not
trusted either. Nothing here is needed for correctness: without a note the run lists.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path

from mogulsync.chartmogul import ChartMogulClient
from mogulsync.sync.bulk.existing import data_source_pages

#: sub-directory of the state directory holding the notes
ADOPTED_DIR = "adopted"
#: a note older than this is not trusted (the next run lists the data source as usual)
TRUST_WINDOW_S = 3600.0
#: objects whose bulk import needs the existence listing the note replaces
NOTED_OBJECTS = ("customer", "plan")
#: past this many absent rows no note is left (the run would hold them all in memory; with
#: that many new rows the listing costs little next to them)
MAX_ABSENT = 10_000


@dataclass(frozen=True, slots=True)
class AdoptedScope:
    """One adopt's view of a data source's customers or plans."""

    data_source_uuid: str
    object_type: str
    #: records the adopt's listing returned
    records: int
    #: external ids of the model's rows that the listing did not have
    absent: frozenset[str] = frozenset()
    #: when the listing was read (seconds since the epoch)
    taken_at: float = 0.0


def save(state_dir: Path | str, sync: str, scope: AdoptedScope) -> None:
    """Leave ``scope`` for the next run of ``sync`` (written whole or not at all)."""
    path = _path(state_dir, sync)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    body = {
        "data_source_uuid": scope.data_source_uuid,
        "object_type": scope.object_type,
        "records": scope.records,
        "absent": sorted(scope.absent),
        "taken_at": scope.taken_at,
    }
    partial.write_text(json.dumps(body), encoding="utf-8")
    partial.replace(path)


def discard(state_dir: Path | str, sync: str) -> None:
    """Forget the note of ``sync``, if any (an adopt starting, or a run)."""
    _path(state_dir, sync).unlink(missing_ok=True)


def take(state_dir: Path | str, sync: str) -> AdoptedScope | None:
    """The note of ``sync`` (deleted: it serves one run at most); None without a usable one."""
    path = _path(state_dir, sync)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raw = None  # none, or unreadable: the run lists as usual
    discard(state_dir, sync)
    with contextlib.suppress(KeyError, TypeError, ValueError, AttributeError):
        return AdoptedScope(
            data_source_uuid=str(raw["data_source_uuid"]),
            object_type=str(raw["object_type"]),
            records=int(raw["records"]),
            absent=frozenset(str(key) for key in _listed(raw["absent"])),
            taken_at=float(raw["taken_at"]),
        )
    return None


async def vouched(
    client: ChartMogulClient,
    scope: AdoptedScope | None,
    object_type: str,
    data_source_uuid: str,
    *,
    now: float | None = None,
) -> frozenset[str] | None:
    """External ids still absent from the data source, if ``scope`` still holds; else None."""
    if scope is None or object_type not in NOTED_OBJECTS:
        return None
    if (scope.object_type, scope.data_source_uuid) != (object_type, data_source_uuid):
        return None
    age = (time.time() if now is None else now) - scope.taken_at
    if not 0 <= age <= TRUST_WINDOW_S:
        return None
    if await count_records(client, object_type, data_source_uuid) != scope.records:
        return None
    return scope.absent


async def count_records(
    client: ChartMogulClient, object_type: str, data_source_uuid: str
) -> int | None:
    """How many customers or plans the data source holds, in one request; None if unsaid."""
    async with data_source_pages(client, object_type, data_source_uuid, per_page=1) as pages:
        async for page in pages:
            if not page.items:
                return 0
            return page.total_pages  # one record a page: pages = records
    return 0


def _listed(value: object) -> list[object]:
    if not isinstance(value, list):
        raise TypeError(value)  # a hand-edited note: not trusted
    return value


def _path(state_dir: Path | str, sync: str) -> Path:
    tag = hashlib.sha256(sync.encode()).hexdigest()[:16]
    return Path(state_dir) / ADOPTED_DIR / f"{tag}.json"

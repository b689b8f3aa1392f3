"""Packing groups of rows (one customer each) into import batches under the size limits.

ChartMogul takes at most 5 MB of JSON per import and works best with 100-1,000 customers
per request (reference 5.11). A batch closes before it would pass ``max_bytes`` (measured
on the serialized records, with headroom below the hard limit) or ``max_groups``; one
group never spans two batches.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mogulsync.chartmogul.bulk_inputs import NewJsonImport
from mogulsync.sync.batch import Classified
from mogulsync.sync.bulk.payloads import Records

#: the endpoint's hard limit is 5 MB; stay clear of it
DEFAULT_MAX_BYTES = 4_500_000
#: the docs' upper bound of customers per import
DEFAULT_MAX_GROUPS = 1_000
#: the body's envelope: braces, section names, the batch external id
ENVELOPE_BYTES = 512
SECTIONS = ("customers", "plans", "invoices", "line_items", "transactions")


@dataclass(slots=True)
class Member:
    """One row and its import records."""

    item: Classified
    records: Records


@dataclass(slots=True)
class Group:
    """The rows of one customer (or plan, or invoice), imported together."""

    key: str
    members: list[Member]
    size: int


@dataclass(slots=True)
class Batch:
    """Groups sent as one import."""

    groups: list[Group] = field(default_factory=list)
    size: int = ENVELOPE_BYTES

    @property
    def members(self) -> list[Member]:
        """Every row of the batch."""
        return [member for group in self.groups for member in group.members]

    def add(self, group: Group) -> None:
        """Append a group."""
        self.groups.append(group)
        self.size += group.size

    def request(self, external_id: str) -> NewJsonImport:
        """The import body, named by ``external_id``."""
        body: dict[str, Any] = {"external_id": external_id}
        for member in self.members:
            for section, records in member.records.items():
                body.setdefault(section, []).extend(records)
        return NewJsonImport.model_validate(body)

    def halves(self) -> tuple[Batch, Batch]:
        """The batch split in two by groups (needs at least two groups)."""
        middle = len(self.groups) // 2
        first, second = Batch(), Batch()
        for group in self.groups[:middle]:
            first.add(group)
        for group in self.groups[middle:]:
            second.add(group)
        return first, second


class Packer:
    """Fills batches group by group; a batch comes out when the next group would not fit."""

    def __init__(self, *, max_bytes: int, max_groups: int) -> None:
        self.max_bytes = max_bytes
        self.max_groups = max_groups
        self._batch = Batch()

    def fits_alone(self, group: Group) -> bool:
        """Whether the group fits in an empty batch (else it cannot be imported)."""
        return ENVELOPE_BYTES + group.size <= self.max_bytes

    def add(self, group: Group) -> Batch | None:
        """Add a group; the batch it closed, if any."""
        batch = self._batch
        closed = None
        if batch.groups and (
            batch.size + group.size > self.max_bytes or len(batch.groups) >= self.max_groups
        ):
            closed, self._batch = batch, Batch()
        self._batch.add(group)
        return closed

    def finish(self) -> Batch | None:
        """The last, partly filled batch."""
        batch, self._batch = self._batch, Batch()
        return batch if batch.groups else None

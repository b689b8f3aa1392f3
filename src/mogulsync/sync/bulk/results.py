"""A finished import's ``status_details`` mapped back to the rows of its batch.

``status_details`` is keyed by ``plans`` and by customer external id; each customer entry
holds one ``{status, errors?}`` per record type (reference 5.11; the per-record ``errors``
``[{external_id, invoice_external_id?, field, message}]`` are the emulator's shape [U]).
Nothing here assumes errors are present: a row is only called imported when its entry
says so and every failure in that entry is pinned on other rows. A status other than
``imported`` / ``failed`` (or ``skipped`` for a record type the batch did not send for that
entry) is not trusted either. Otherwise the row is sent again over REST, one row per
request, where answers are precise and "already exists" means delivered.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mogulsync.chartmogul.models import JsonImport
from mogulsync.sync.apply.resolve import SYNC_CUSTOMERS_FIRST
from mogulsync.sync.bulk.batches import Batch, Member
from mogulsync.sync.child_fields import child_section, pin

#: the record's external id is taken: the record may be ours (resolved over REST)
_TAKEN = re.compile(r"already exists|already been taken", re.IGNORECASE)
#: a sibling's failure, not this record's own (the emulator's wording [U])
_CONSEQUENCE = "was not imported"
_FIX = "Fix the value in the warehouse; the row is retried on every run until it lands."
_SYNC_PLANS_FIRST = "Sync plans first, then re-run; the row is retried on every run."
_SYNC_INVOICES_FIRST = "Sync invoices first, then re-run; the row is retried on every run."
PLANS_ENTRY = "plans"
FAILED = "failed"
IMPORTED = "imported"
#: a record type with nothing to import for the entry
SKIPPED = "skipped"


class Verdict(enum.Enum):
    """What became of a row's records."""

    IMPORTED = "imported"
    #: refused with a reason the row's owner must fix
    REJECTED = "rejected"
    #: not attributable (or "already exists"): resend this row alone over REST
    RETRY = "retry"


@dataclass(frozen=True, slots=True)
class Problem:
    """One refused field of a row."""

    field: str
    message: str
    action: str


@dataclass(slots=True)
class RowVerdict:
    """A row's verdict and, when rejected, why."""

    verdict: Verdict
    problems: list[Problem] = field(default_factory=list)


@dataclass(slots=True)
class _Error:
    section: str
    external_id: str | None
    invoice_external_id: str | None
    field: str
    message: str


def judge(object_type: str, batch: Batch, result: JsonImport) -> dict[str, RowVerdict]:
    """Row key → verdict for a completed import."""
    rows = _RowIndex(object_type, batch.members)
    entries = {key: value for key, value in result.status_details.items() if _is_dict(value)}
    found, unexplained = _scan(rows, entries)
    verdicts: dict[str, RowVerdict] = {}
    for member in batch.members:
        key = member.item.row.key
        if key in found:
            verdicts[key] = _rejected(object_type, found[key], member.item.row.payload)
            continue
        owner = rows.entry_of(member)
        if owner is None:  # standalone transactions: the owning customer is unknown
            has_report = any("transactions" in entry for entry in entries.values())
            landed = has_report and not unexplained
        else:
            landed = owner in entries and owner not in unexplained
        verdicts[key] = RowVerdict(Verdict.IMPORTED if landed else Verdict.RETRY)
    return verdicts


def _scan(
    rows: _RowIndex, entries: Mapping[str, Mapping[str, Any]]
) -> tuple[dict[str, list[_Error]], set[str]]:
    """Errors pinned on rows (row key → errors), and entries whose failures are not pinned."""
    unexplained: set[str] = set()
    found: dict[str, list[_Error]] = {}
    for entry_key, entry in entries.items():
        for section, report in _sections(entry_key, entry):
            status = report.get("status")
            if status == IMPORTED or (
                status == SKIPPED and section not in rows.sent.get(entry_key, ())
            ):
                continue
            if status != FAILED:  # unknown, or nothing done with records we sent
                unexplained.add(entry_key)
                continue
            errors = [_error(section, raw) for raw in report.get("errors") or []]
            if not errors:
                unexplained.add(entry_key)
            for error in errors:
                key = rows.owner(error)
                if key is None:
                    unexplained.add(entry_key)
                else:
                    found.setdefault(key, []).append(error)
    return found, unexplained


class _RowIndex:
    """Finds the row a reported error belongs to."""

    def __init__(self, object_type: str, members: Sequence[Member]) -> None:
        self.object_type = object_type
        self.by_ref = {
            str(member.item.row.payload.get("external_id")): member.item.row.key
            for member in members
        }
        #: entry key → record types the batch sent for it
        self.sent: dict[str, set[str]] = {}
        for member in members:
            owner = self.entry_of(member)
            if owner is not None:
                self.sent.setdefault(owner, set()).update(
                    name for name, records in member.records.items() if records
                )

    def owner(self, error: _Error) -> str | None:
        kind = self.object_type
        if kind == "invoice" and error.section in ("line_items", "transactions"):
            return self.by_ref.get(error.invoice_external_id or "")
        own_section = {
            "customer": "customers",
            "plan": PLANS_ENTRY,
            "invoice": "invoices",
            "transaction": "transactions",
        }[kind]
        if error.section != own_section:
            return None
        return self.by_ref.get(error.external_id or "")

    def entry_of(self, member: Member) -> str | None:
        payload = member.item.row.payload
        if self.object_type == "customer":
            return str(payload["external_id"])
        if self.object_type == "plan":
            return PLANS_ENTRY
        if self.object_type == "invoice":
            return str(payload["customer_external_id"])
        return None


def _sections(entry_key: str, entry: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    if entry_key == PLANS_ENTRY:
        return [(PLANS_ENTRY, entry)]
    sections = [(name, value) for name, value in entry.items() if _is_dict(value)]
    status = entry.get("status")
    if status != IMPORTED and not any(value.get("status") == FAILED for _, value in sections):
        sections.append(("", {"status": status}))  # not imported, without saying where
    return sections


def _error(section: str, raw: Any) -> _Error:
    if not _is_dict(raw):
        return _Error(section, None, None, "-", str(raw))
    return _Error(
        section,
        _text(raw.get("external_id")),
        _text(raw.get("invoice_external_id")),
        _text(raw.get("field")) or "-",
        _text(raw.get("message")) or "refused by the bulk import",
    )


def _rejected(object_type: str, errors: list[_Error], payload: Mapping[str, Any]) -> RowVerdict:
    own = [error for error in errors if _CONSEQUENCE not in error.message]
    if not own or all(_TAKEN.search(error.message) for error in own):
        return RowVerdict(Verdict.RETRY)  # nothing of its own, or maybe ours: ask over REST
    if object_type == "invoice":
        own = _without_summaries(own)
    problems: list[Problem] = []
    seen: set[tuple[str, str]] = set()
    for error in own:
        name, note = error.field, ""
        if object_type == "invoice":
            child = error.section in ("line_items", "transactions")
            pinned = pin(
                payload,
                f"{error.section}.{name}" if child else name,
                error.message,
                child_id=error.external_id if child else None,
                ids_reported=child,
            )
            if not pinned.exact:
                # over REST the row is refused one field at a time, by our own checks first
                # (a missing plan names its line item there): ask it rather than guess
                return RowVerdict(Verdict.RETRY)
            name, note = pinned.field, pinned.note
        if (name, error.message) in seen:
            continue
        seen.add((name, error.message))
        problems.append(Problem(name, f"ChartMogul: {error.message}{note}", _action(name)))
    return RowVerdict(Verdict.REJECTED, problems)


def _without_summaries(errors: list[_Error]) -> list[_Error]:
    """An invoice's errors without its own ``line_items.<field>`` copies of its children's.

    The invoice's entry repeats each refused child field under the invoice; the child's
    entry says which child (its external id), so the invoice's copy is dropped when the
    child's is there.
    """
    children = {
        (error.section, error.field)
        for error in errors
        if error.section in ("line_items", "transactions")
    }
    kept: list[_Error] = []
    for error in errors:
        section = child_section(error.field) if error.section == "invoices" else None
        if section is not None and (section, error.field.split(".", 1)[1]) in children:
            continue
        kept.append(error)
    return kept


def _action(field_name: str) -> str:
    last = field_name.rsplit(".", 1)[-1]
    if last == "customer_external_id":
        return SYNC_CUSTOMERS_FIRST
    if last == "plan_external_id":
        return _SYNC_PLANS_FIRST
    if last == "invoice_external_id":
        return _SYNC_INVOICES_FIRST
    return _FIX


def _is_dict(value: Any) -> bool:
    return isinstance(value, dict)


def _text(value: Any) -> str | None:
    return None if value in (None, "") else str(value)

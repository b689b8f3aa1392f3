"""The reference model of a customers sync: what ChartMogul must hold after each run.

The state machine in test_model_based.py drives a DuckDB warehouse and real runs; this module
predicts, from the documented rules alone (docs/sync.md), what each run sends and what
ChartMogul then holds. It never looks at the engine's state.
"""

from __future__ import annotations

import dataclasses
from typing import Any

#: the custom attribute columns and their ChartMogul types
CUSTOM = {"seats": "Integer", "tier": "String", "active": "Boolean"}
STANDARD = ("name", "email")
#: a contact's mapped fields (no custom attributes)
CONTACT = ("email", "first_name")
#: the parent customers every contacts model may name (created before the first run)
PARENTS = ("p1", "p2")
#: a String attribute that became null is sent as this on updates (docs/sync.md, Null values)
NULL_TEXT = "null"
#: "absent or the null substitute": the outcome depends on whether a faulted run's create
#: was followed by an update (a lost answer resolved by lookup, or a resend of every row)
EITHER = object()


@dataclasses.dataclass
class Row:
    """One warehouse row; ``seq`` orders the model (the first of a repeated key is kept)."""

    seq: int
    id: str | None
    name: str | None = None
    email: str | None = None
    seats: str | None = None
    tier: str | None = None
    active: bool | None = None
    #: contacts: the parent customer's external id, and a name
    parent: str | None = None
    first_name: str | None = None

    def values(self) -> tuple[Any, ...]:
        return (self.name, self.email, self.seats, self.tier, self.active, self.parent,
                self.first_name)  # fmt: skip


@dataclasses.dataclass
class Invalid:
    """A row the run must report: its key as shown, and the field named."""

    key: str
    field: str


def problem(row: Row) -> str | None:
    """The field a valid-keyed row is invalid on, or None."""
    if row.seats is not None and not row.seats.isdigit():
        return "attributes.custom.seats"
    if row.email is not None and "@" not in row.email:
        return "email"
    return None


@dataclasses.dataclass
class Classified:
    valid: dict[str, Row]
    invalid: list[Invalid]
    #: every non-null key in the model (invalid rows' keys too: they are not "removed")
    seen: set[str]


def classify(rows: list[Row]) -> Classified:
    """Split the model as the engine must: null keys, repeated keys, bad values."""
    valid: dict[str, Row] = {}
    invalid: list[Invalid] = []
    seen: set[str] = set()
    for number, row in enumerate(sorted(rows, key=lambda r: r.seq), start=1):
        if row.id is None or not row.id.strip():
            invalid.append(Invalid(f"row {number} (primary key is null)", "id"))
            continue
        if row.id in seen:
            invalid.append(Invalid(row.id, "id"))
            continue
        seen.add(row.id)
        field = problem(row)
        if field is not None:
            invalid.append(Invalid(row.id, field))
        else:
            valid[row.id] = row
    return Classified(valid, invalid, seen)


def record_values(row: Row) -> dict[str, Any]:
    """What a create stores: non-null fields only."""
    if row.parent is not None:
        found = {f: getattr(row, f) for f in CONTACT if getattr(row, f) is not None}
        return {**found, "parent": row.parent, "custom": {}}
    found: dict[str, Any] = {f: getattr(row, f) for f in STANDARD if getattr(row, f) is not None}
    custom = _custom(row)
    found["custom"] = {k: v for k, v in custom.items() if v is not None}
    return found


def _custom(row: Row) -> dict[str, Any]:
    return {
        "seats": None if row.seats is None else int(row.seats),
        "tier": row.tier,
        "active": row.active,
    }


def updated(record: dict[str, Any], row: Row) -> dict[str, Any]:
    """What an update leaves: nulls keep the old value, a null String becomes "null"."""
    result = dict(record)
    result["custom"] = dict(record["custom"])
    for name in CONTACT if row.parent is not None else STANDARD:
        if getattr(row, name) is not None:
            result[name] = getattr(row, name)
    if row.parent is not None:
        return result
    for key, value in _custom(row).items():
        if value is not None:
            result["custom"][key] = value
        elif CUSTOM[key] == "String":
            result["custom"][key] = NULL_TEXT
    return result


@dataclasses.dataclass
class Prediction:
    """What one clean run must do."""

    added: set[str] = dataclasses.field(default_factory=set)
    changed: set[str] = dataclasses.field(default_factory=set)
    unchanged: set[str] = dataclasses.field(default_factory=set)
    removed: set[str] = dataclasses.field(default_factory=set)
    #: rows ChartMogul (or the applier) refuses: retried by every later run
    rejected: set[str] = dataclasses.field(default_factory=set)
    #: changed rows insert mode leaves alone (counted as unchanged by the plan)
    ignored: set[str] = dataclasses.field(default_factory=set)
    invalid: list[Invalid] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class Model:
    """ChartMogul as the rules say it must be, and the snapshot the rules imply."""

    #: external id -> the record's fields (``custom`` holds the attributes)
    cm: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    #: key -> the row values ChartMogul last accepted
    accepted: dict[str, tuple[Any, ...]] = dataclasses.field(default_factory=dict)
    #: keys whose last attempt failed (sent again by the next run whatever their digest)
    failed: set[str] = dataclasses.field(default_factory=set)
    #: the sync's definition the last completed run saved (None: never ran)
    definition: str | None = None
    #: keys sent by a run that got no answer, never accepted: they may have landed
    maybe: set[str] = dataclasses.field(default_factory=set)

    def predict(self, rows: list[Row], mode: str, *, delete: bool) -> Prediction:
        """Apply one run to the model (cm, accepted, failed) and say what it did."""
        seen = classify(rows)
        out = Prediction(invalid=seen.invalid)
        full = self.definition != mode
        self.definition = mode
        for key in self._to_send(seen, full=full):
            row = seen.valid[key]
            known = key in self.accepted
            (out.changed if known else out.added).add(key)
            if self._apply(key, row, mode, known=known):
                self.accepted[key] = row.values()
                self.failed.discard(key)
            else:
                out.rejected.add(key)
                self.failed.add(key)
            self.maybe.discard(key)
            if mode == "insert" and known:
                out.ignored.add(key)
        out.unchanged = set(seen.valid) - out.added - out.changed
        for key in [k for k in self.accepted if k not in seen.seen]:
            out.removed.add(key)
            del self.accepted[key]
            if delete:
                self.cm.pop(key, None)
        # rows in flight that left the model: looked up and deleted with on_delete: delete
        gone = {k for k in self.maybe if k not in seen.seen}
        if delete:
            out.removed |= gone
            for key in gone:
                self.cm.pop(key, None)
        self.maybe -= gone
        # rows that never landed and left the model are forgotten
        self.failed &= seen.seen
        return out

    def _to_send(self, seen: Classified, *, full: bool) -> list[str]:
        return [
            key
            for key, row in seen.valid.items()
            if full
            or key not in self.accepted
            or key in self.failed
            or self.accepted[key] != row.values()
        ]

    def writes(self, rows: list[Row], mode: str, *, delete: bool) -> bool:
        """Whether the next run (upsert over REST) writes anything."""
        seen = classify(rows)
        if self._to_send(seen, full=self.definition != mode):
            return True
        return delete and any(k not in seen.seen for k in self.accepted)

    def outage(self, rows: list[Row], mode: str, *, delete: bool, completed: bool) -> None:
        """A run whose every write went unanswered (502: nothing landed).

        The rows it sent stay in flight (sent again by the next run; never accepted ones
        may have landed, so they are looked up first). A run that still ``completed`` (the
        lookups between the writes answered, so ChartMogul never counted as down) also
        handled the rows that left the model: forgotten, or, with ``on_delete: delete``,
        kept for the next run (their delete failed); and saved the sync's definition.
        """
        seen = classify(rows)
        for key in self._to_send(seen, full=self.definition != mode):
            self.failed.add(key)
            if key not in self.accepted:
                self.maybe.add(key)
        if not completed:
            return
        self.definition = mode
        gone = [k for k in self.accepted if k not in seen.seen]
        if not delete:
            for key in gone:
                del self.accepted[key]
        # in flight and gone: forgotten, or looked up (found nowhere: nothing landed)
        self.maybe = {k for k in self.maybe if k in seen.seen}
        self.failed &= seen.seen | set(self.accepted)

    def _apply(self, key: str, row: Row, mode: str, *, known: bool) -> bool:
        exists = key in self.cm
        if row.parent is not None and row.parent not in PARENTS:
            return False  # "Sync customers first"
        if mode == "insert":
            if exists:  # its own record: delivered; someone else's: "already exists"
                return known or key in self.maybe
            self.cm[key] = record_values(row)
            return True
        if mode == "update" and not exists:
            return False
        self.cm[key] = updated(self.cm[key], row) if exists else record_values(row)
        return True

    def blur_creates(self, rows: list[Row], before: set[str]) -> None:
        """After a faulted run: a null String attribute of a created record may be "null"."""
        for key, row in classify(rows).valid.items():
            if key in before or key not in self.cm or row.parent is not None:
                continue
            for name, value in _custom(row).items():
                if value is None and CUSTOM[name] == "String":
                    self.cm[key]["custom"][name] = EITHER

    def drifted(self, rows: list[Row]) -> set[str]:
        """Valid rows whose non-null values differ from the record (reconcile's rule)."""
        found = set()
        for key, row in classify(rows).valid.items():
            record = self.cm.get(key)
            if record is None:
                continue
            want = record_values(row)
            custom = want.pop("custom")
            if any(record.get(k) != v for k, v in want.items()) or any(
                record["custom"].get(k) != v for k, v in custom.items()
            ):
                found.add(key)
        return found


def matches(expected: dict[str, Any], actual: dict[str, Any]) -> bool:
    """Whether ChartMogul's record is the predicted one (EITHER: absent or "null")."""
    if {k: v for k, v in expected.items() if k != "custom"} != {
        k: v for k, v in actual.items() if k != "custom"
    }:
        return False
    want, got = expected["custom"], actual["custom"]
    for key in set(want) | set(got):
        if want.get(key) is EITHER:
            if got.get(key, NULL_TEXT) != NULL_TEXT:
                return False
        elif want.get(key) != got.get(key):
            return False
    return True

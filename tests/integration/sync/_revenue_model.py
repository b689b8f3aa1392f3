"""The reference model of revenue syncs (plans, invoices, transactions) for test_model_revenue.py.

From the documented rules alone (docs/sync.md, docs/configuration.md) it predicts what each
run of a plans, invoices or transactions sync does and what ChartMogul then holds. It never
looks at the engine's state.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

#: customers that exist in the data source before the first run ("cx" never does)
CUSTOMERS = ("c1", "c2")
UNITS = ("day", "month", "year")
#: the plan of a line item whose plan is not listed (ChartMogul refuses to delete a plan in
#: use, so seeing it is a discrepancy)
GONE = "(deleted plan)"
#: ChartMogul's date format: ISO 8601
DATE = "2025-01-0{}"


@dataclasses.dataclass
class Line:
    """One line item of an invoice row (a JSON object of its ``lines`` column)."""

    type: str
    amount: Any  # cents, or a bad value
    quantity: int = 1
    plan: str | None = None
    discount: int = 0
    tax: int = 0
    prorated: bool = False

    def payload(self, invoice: str, index: int) -> dict[str, Any]:
        item: dict[str, Any] = {"type": self.type, "amount_in_cents": self.amount,
                                "quantity": self.quantity}  # fmt: skip
        if self.discount:
            item["discount_amount_in_cents"] = self.discount
        if self.tax:
            item["tax_amount_in_cents"] = self.tax
        if self.type == "subscription":
            item.update(
                plan_external_id=self.plan,
                subscription_external_id=f"s-{invoice}-{index}",
                service_period_start="2025-01-01",
                service_period_end="2025-02-01",
                prorated=self.prorated,
            )
        else:
            item["description"] = f"setup {index}"
        return item


@dataclasses.dataclass
class Row:
    """One warehouse row of any of the three models; ``seq`` orders each model."""

    seq: int
    id: str | None
    # plans
    name: str | None = None
    count: int | None = None
    unit: str | None = None
    # invoices
    customer: str | None = None
    date: str | None = None
    currency: str | None = None
    lines: list[Line] = dataclasses.field(default_factory=list)
    # transactions
    invoice: str | None = None
    type: str | None = None
    result: str | None = None
    amount: Any = None
    #: transactions by uuid: the invoice's ChartMogul uuid when the row was written, and which
    #: of the invoice's lives (a deleted and re-created invoice has a new uuid) it named
    invoice_uuid: str | None = None
    life: int = 0

    def lines_json(self) -> str:
        return json.dumps([line.payload(self.id or "", i) for i, line in enumerate(self.lines)])

    def values(self) -> tuple[Any, ...]:
        return (self.name, self.count, self.unit, self.customer, self.date, self.currency,
                self.lines_json(), self.invoice, self.type, self.result, self.amount,
                self.invoice_uuid)  # fmt: skip


@dataclasses.dataclass(frozen=True)
class Invalid:
    key: str
    field: str


def _is_cents(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_date(value: str | None) -> bool:
    return value is not None and len(value) == 10 and value[4] == "-" and value[7] == "-"


def problem(kind: str, row: Row) -> str | None:
    """The field a valid-keyed row is invalid on (mapping and validation), or None."""
    if kind == "plan":
        return None if row.unit in UNITS else "interval_unit"
    if kind == "invoice":
        if not _is_date(row.date):
            return "date"
        if row.currency is None or len(row.currency) != 3 or not row.currency.isupper():
            return "currency"
        for index, line in enumerate(row.lines):
            if not _is_cents(line.amount):
                return f"line_items[{index}].amount_in_cents"
        return None
    if not _is_date(row.date):
        return "date"
    return None if _is_cents(row.amount) else "amount_in_cents"


@dataclasses.dataclass
class Classified:
    valid: dict[str, Row]
    invalid: list[Invalid]
    seen: set[str]


def classify(kind: str, rows: list[Row]) -> Classified:
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
        field = problem(kind, row)
        if field is None:
            valid[row.id] = row
        else:
            invalid.append(Invalid(row.id, field))
    return Classified(valid, invalid, seen)


@dataclasses.dataclass
class Prediction:
    added: set[str] = dataclasses.field(default_factory=set)
    changed: set[str] = dataclasses.field(default_factory=set)
    unchanged: set[str] = dataclasses.field(default_factory=set)
    removed: set[str] = dataclasses.field(default_factory=set)
    rejected: dict[str, str] = dataclasses.field(default_factory=dict)  # key -> field
    ignored: set[str] = dataclasses.field(default_factory=set)
    invalid: list[Invalid] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class Snapshot:
    """One sync's snapshot as the rules imply it."""

    accepted: dict[str, tuple[Any, ...]] = dataclasses.field(default_factory=dict)
    failed: set[str] = dataclasses.field(default_factory=set)
    definition: str | None = None


@dataclasses.dataclass
class Revenue:
    """ChartMogul's plans, invoices and transactions as the rules say they must be."""

    plans: dict[str, tuple[Any, ...]] = dataclasses.field(default_factory=dict)
    #: invoice external id -> (customer, date, currency, line items as ChartMogul keeps them)
    invoices: dict[str, tuple[Any, ...]] = dataclasses.field(default_factory=dict)
    #: transaction external id -> (invoice external id, type, result, amount)
    transactions: dict[str, tuple[Any, ...]] = dataclasses.field(default_factory=dict)
    snapshots: dict[str, Snapshot] = dataclasses.field(default_factory=dict)
    #: invoice external id -> how many times it was created (its uuid changes each time)
    lives: dict[str, int] = dataclasses.field(default_factory=dict)
    #: the customers the data source has now (one may be deleted in ChartMogul, and return)
    customers: set[str] = dataclasses.field(default_factory=lambda: set(CUSTOMERS))

    def deleted_in_chartmogul(self, kind: str, key: str) -> None:
        """Someone deleted a plan or a customer in ChartMogul; no sync's snapshot knows.

        A plan's invoices keep naming its (now unlisted) uuid; a customer takes its invoices
        and their transactions with it.
        """
        if kind == "plan":
            self._delete("plan", key)
            return
        self.customers.discard(key)
        for invoice in [k for k, v in self.invoices.items() if v[0] == key]:
            self._delete("invoice", invoice)

    def predict(self, kind: str, rows: list[Row], mode: str, *, delete: bool) -> Prediction:
        snap = self.snapshots.setdefault(kind, Snapshot())
        seen = classify(kind, rows)
        out = Prediction(invalid=seen.invalid)
        full = snap.definition != mode
        snap.definition = mode
        for key, row in seen.valid.items():
            known = key in snap.accepted
            if not (full or not known or key in snap.failed or snap.accepted[key] != row.values()):
                continue
            (out.changed if known else out.added).add(key)
            if known and mode == "insert":
                out.ignored.add(key)  # insert-only: delivered once is enough
                snap.accepted[key] = row.values()
                snap.failed.discard(key)
                continue
            field = self._apply(kind, key, row, mode, known=known)
            if field is None:
                snap.accepted[key] = row.values()
                snap.failed.discard(key)
            else:
                out.rejected[key] = field
                snap.failed.add(key)
        out.unchanged = set(seen.valid) - out.added - out.changed
        for key in [k for k in snap.accepted if k not in seen.seen]:
            out.removed.add(key)
            if delete and kind == "plan" and self.plan_in_use(key):
                # ChartMogul deletes a plan only when no invoice uses it: a failed row, and
                # still in the snapshot, so the next run tries again
                out.rejected[key] = "plan_uuid"
                continue
            del snap.accepted[key]
            if delete:
                self._delete(kind, key)
        snap.failed &= seen.seen
        return out

    def plan_in_use(self, key: str) -> bool:
        """Whether a line item of an invoice ChartMogul holds names the plan."""
        return any(line[3] == key for *_, lines in self.invoices.values() for line in lines)

    def _delete(self, kind: str, key: str) -> None:
        if kind == "plan":
            self.plans.pop(key, None)
        elif kind == "invoice":
            self.invoices.pop(key, None)
            for txn in [t for t, v in self.transactions.items() if v[0] == key]:
                del self.transactions[txn]

    def _apply(self, kind: str, key: str, row: Row, mode: str, *, known: bool) -> str | None:
        """Apply one row; the field ChartMogul (or the applier) refuses it on, or None."""
        if kind == "plan":
            if mode == "insert" and key in self.plans and not known:
                return "external_id"  # "already exists": use upsert
            self.plans[key] = (row.name, row.count, row.unit)
            return None
        if kind == "invoice":
            if row.customer not in self.customers:
                return "customer_external_id"
            for index, line in enumerate(row.lines):
                if line.type == "subscription" and line.plan not in self.plans:
                    return f"line_items[{index}].plan_external_id"
            if key not in self.invoices:
                self.invoices[key] = invoice_record(row)
                self.lives[key] = self.lives.get(key, 0) + 1
            return None
        if kind == "transaction_uuid":
            if row.invoice not in self.invoices or self.lives.get(row.invoice or "") != row.life:
                return "invoice_uuid"  # ChartMogul has no invoice with that uuid (any more)
        elif row.invoice not in self.invoices:
            return "invoice_external_id"
        if key not in self.transactions:
            self.transactions[key] = (row.invoice, row.type, row.result, row.amount)
        return None


def invoice_record(row: Row) -> tuple[Any, ...]:
    lines = tuple(
        sorted(
            (line.type, line.amount, line.quantity, line.plan, line.discount, line.tax)
            for line in row.lines
        )
    )
    return (row.customer, row.date, row.currency, lines)

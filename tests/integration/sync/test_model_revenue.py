"""Model-based test of reverse ETL for revenue data: plans, invoices with line items, transactions.

The sibling of test_model_based.py (same shape, same helpers): a hypothesis state machine edits
three warehouse models — plans, invoices (one to three subscription or one-time line items in
a JSON column: quantities, discounts, taxes, prorations) and standalone transactions (payment
or refund, successful or failed, naming their invoice by external id) — adds and fixes bad rows
(amount not a number, unknown plan, unknown currency code, a date in a wrong format, a missing
customer, null and repeated keys), deletes plans and customers in ChartMogul behind the syncs'
backs (their uuids stay in the registries; a deleted customer may be created again) and runs
the syncs in their supported modes, over REST or the bulk import, sometimes under injected
429/5xx/resets/lost answers (then a clean run). After every run the reference model
(_revenue_model.py) says what must hold:

- ChartMogul (read through the official ``chartmogul`` client) holds exactly the predicted
  plans, invoices, line items (amounts in cents) and transactions, each once;
- bad rows are reported with their row and exact field (a line item's with its index, over
  REST and bulk alike) and never block the others;
- the dry-run plan predicted the run; a re-run with no change writes nothing;
- ``reconcile`` agrees; the run history agrees; the API key is nowhere.

One machine uses DuckDB, one the suite's PostgreSQL (``postgres_server``) as the warehouse.
``MOGULSYNC_REVENUE_EXAMPLES=200`` (and ``MOGULSYNC_REVENUE_STEPS``) runs a longer hunt by hand.
"""

from __future__ import annotations

import asyncio
import base64
import os
import re
import shutil
import tempfile
import uuid
from collections import Counter
from pathlib import Path
from typing import Any, ClassVar

import chartmogul
import duckdb
import httpx
import psycopg
import pytest
from hypothesis import Phase
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)
from tests.integration.sync._revenue_model import (
    CUSTOMERS,
    DATE,
    GONE,
    Line,
    Prediction,
    Revenue,
    Row,
    classify,
)
from tests.integration.sync._support import engine, project
from tests.integration.sync.test_model_based import FAULTS, _Leaks, hunt

from mogulsync.chartmogul.limiter import forget_limiters
from mogulsync.emulator.server import EmulatorServer
from mogulsync.reconcile import reconcile
from mogulsync.runs import RunStore
from mogulsync.sync.bulk.runner import BulkSettings
from mogulsync.sync.connect import client_settings
from mogulsync.sync.plan import plan_sync
from mogulsync.testing.postgres import PostgresServer

SECRET = "sk-revenue-5e1b0c7d93a84f26"
PLAN_KEYS = ("gold", "silver", "bronze")
INVOICE_KEYS = ("i1", "i2", "i3", "i4")
TXN_KEYS = ("t1", "t2", "t3")
KINDS = ("plan", "invoice", "transaction", "transaction_uuid")
#: the sync of each kind, its model and its columns in the warehouse
SYNCS = {"plan": "plans", "invoice": "invoices", "transaction": "txns",
         "transaction_uuid": "txns_by_uuid"}  # fmt: skip
COLUMNS = {
    "plan": ("name", "count", "unit"),
    "invoice": ("customer", "date", "currency", "lines"),
    "transaction": ("invoice", "type", "result", "date", "amount"),
    "transaction_uuid": ("invoice_uuid", "type", "result", "date", "amount"),
}
KEYS = {"plan": PLAN_KEYS, "invoice": INVOICE_KEYS, "transaction": TXN_KEYS,
        "transaction_uuid": ("u1", "u2", "u3")}  # fmt: skip
CENTS = st.sampled_from([0, 990, 1000, 12345])


@st.composite
def lines(draw: Any) -> list[Line]:
    found = []
    for _ in range(draw(st.integers(1, 3))):
        if draw(st.booleans()):
            found.append(Line("subscription", draw(CENTS), draw(st.sampled_from([1, 3])),
                              draw(st.sampled_from(PLAN_KEYS)), draw(st.sampled_from([0, 100])),
                              draw(st.sampled_from([0, 50])), prorated=draw(st.booleans())))  # fmt: skip
        else:
            found.append(Line("one_time", draw(CENTS), draw(st.sampled_from([1, 2])),
                              discount=draw(st.sampled_from([0, 10])),
                              tax=draw(st.sampled_from([0, 7]))))  # fmt: skip
    return found


class RevenueEtl(RuleBasedStateMachine):
    """Three models in one warehouse, one emulator account, the plans/invoices/txns syncs."""

    server: EmulatorServer
    leaks: _Leaks

    def __init__(self) -> None:
        super().__init__()
        self.tmp = Path(tempfile.mkdtemp(prefix="mogulsync-revenue-"))
        self.rows: dict[str, list[Row]] = {kind: [] for kind in KINDS}
        self.seq = 0
        self.model = Revenue()
        self.admin = httpx.Client(base_url=f"{self.server.base_url}/_emulator", timeout=30)
        self.admin.post("/reset").raise_for_status()
        self.admin.delete("/faults").raise_for_status()
        self.cm = chartmogul.Config(SECRET)
        self.cm.uri = f"{self.server.base_url}/v1"
        source = chartmogul.DataSource.create(self.cm, data={"name": "W"}).get()
        self.source = str(source.uuid)
        self.customers: dict[str, str] = {}
        for key in CUSTOMERS:
            data = {"data_source_uuid": self.source, "external_id": key, "name": key}
            self.customers[chartmogul.Customer.create(self.cm, data=data).get().uuid] = key
        self.runs = 0
        self._open()

    def teardown(self) -> None:
        self.admin.delete("/faults")
        self.admin.close()
        self._close()
        shutil.rmtree(self.tmp, ignore_errors=True)
        forget_limiters()

    # ------------------------------------------------------------------ the warehouse

    URL: str

    def _open(self) -> None:
        self.path = self.tmp / "w.duckdb"
        self.url = f"duckdb:///{self.path}"
        self.prefix = ""
        for kind in KINDS:
            self._write(kind)

    def _close(self) -> None:
        pass

    def _table_sql(self, kind: str) -> str:
        types = {"count": "integer", "amount": "varchar"}
        columns = ", ".join(f"{c} {types.get(c, 'varchar')}" for c in COLUMNS[kind])
        return f"create table {self.prefix}{SYNCS[kind]}(seq integer, id varchar, {columns})"

    def _values(self, kind: str) -> list[list[Any]]:
        found = []
        for row in self.rows[kind]:
            values = {"lines": row.lines_json(),
                      "amount": None if row.amount is None else str(row.amount)}  # fmt: skip
            found.append(
                [row.seq, row.id, *(values.get(c, getattr(row, c)) for c in COLUMNS[kind])]
            )
        return found

    def _write(self, kind: str) -> None:
        db = duckdb.connect(str(self.path))
        try:
            db.execute(f"drop table if exists {SYNCS[kind]}")
            db.execute(self._table_sql(kind))
            marks = ", ".join("?" * (len(COLUMNS[kind]) + 2))
            for values in self._values(kind):
                db.execute(f"insert into {SYNCS[kind]} values ({marks})", values)
        finally:
            db.close()

    def _add(self, kind: str, key: str | None, **values: Any) -> None:
        self.seq += 1
        self.rows[kind].append(Row(self.seq, key, **values))
        self._write(kind)

    def _has(self, kind: str, key: str) -> bool:
        return any(row.id == key for row in self.rows[kind])

    # ------------------------------------------------------------------ model changes

    def _fresh(self, kind: str, key: str, data: st.DataObject) -> dict[str, Any]:
        if kind == "plan":
            return {"name": data.draw(st.sampled_from(["Gold", "Silver", "Pro"])),
                    "count": data.draw(st.sampled_from([1, 3, 12])),
                    "unit": data.draw(st.sampled_from(["day", "month", "year"]))}  # fmt: skip
        if kind == "invoice":
            return {"customer": data.draw(st.sampled_from(CUSTOMERS)),
                    "date": DATE.format(data.draw(st.integers(1, 9))),
                    "currency": data.draw(st.sampled_from(["USD", "EUR"])),
                    "lines": data.draw(lines())}  # fmt: skip
        invoice = data.draw(st.sampled_from(INVOICE_KEYS))
        named = self._named(invoice) if kind == "transaction_uuid" else {}
        return {"invoice": invoice, **named,
                "type": data.draw(st.sampled_from(["payment", "refund"])),
                "result": data.draw(st.sampled_from(["successful", "failed"])),
                "date": DATE.format(data.draw(st.integers(1, 9))),
                "amount": data.draw(CENTS)}  # fmt: skip

    def _named(self, invoice: str) -> dict[str, Any]:
        """A transaction naming ``invoice`` by its ChartMogul uuid, read now (or a made-up one)."""
        found = _listed(chartmogul.Invoice, "invoices", self.cm, data_source_uuid=self.source)
        uuid = next((i.uuid for i in found if i.external_id == invoice), None)
        if uuid is None:
            return {"invoice_uuid": "inv_00000000-dead-beef-0000-000000000000", "life": -1}
        return {"invoice_uuid": uuid, "life": self.model.lives[invoice]}

    @initialize(data=st.data())
    def start(self, data: st.DataObject) -> None:
        for key in data.draw(st.lists(st.sampled_from(PLAN_KEYS), unique=True, max_size=2)):
            self._add("plan", key, **self._fresh("plan", key, data))
        for key in data.draw(st.lists(st.sampled_from(INVOICE_KEYS), unique=True, max_size=2)):
            self._add("invoice", key, **self._fresh("invoice", key, data))

    @rule(kind=st.sampled_from(KINDS), data=st.data())
    def insert_row(self, kind: str, data: st.DataObject) -> None:
        keys = KEYS[kind]
        key = data.draw(st.sampled_from(keys))
        if not self._has(kind, key):
            self._add(kind, key, **self._fresh(kind, key, data))

    @precondition(lambda self: any(self.rows.values()))
    @rule(data=st.data())
    def change_row(self, data: st.DataObject) -> None:
        """A row's values change (ChartMogul keeps an invoice's or transaction's first ones)."""
        kind = data.draw(st.sampled_from([k for k in KINDS if self.rows[k]]))
        row = data.draw(st.sampled_from(self.rows[kind]))
        fresh = self._fresh(kind, row.id or "x", data)
        for name, value in fresh.items():
            if name in ("invoice_uuid", "life"):
                continue  # they change with ``invoice``
            if data.draw(st.booleans()):
                setattr(row, name, value)
                if name == "invoice" and "life" in fresh:
                    row.invoice_uuid, row.life = fresh["invoice_uuid"], fresh["life"]
        self._write(kind)

    @precondition(lambda self: bool(self.rows["plan"] or self.rows["invoice"]))
    @rule(data=st.data())
    def delete_row(self, data: st.DataObject) -> None:
        kind = data.draw(st.sampled_from([k for k in ("plan", "invoice") if self.rows[k]]))
        self.rows[kind].remove(data.draw(st.sampled_from(self.rows[kind])))
        self._write(kind)

    @precondition(lambda self: self.runs > 0)
    @rule(data=st.data())
    def delete_in_chartmogul(self, data: st.DataObject) -> None:
        """Someone deletes a plan or a customer in ChartMogul, not through a sync: the syncs'
        uuid registries still name it (a row naming it must not be refused on a field the
        user never mapped, nor land on the deleted record)."""
        # ChartMogul refuses to delete a plan an invoice still uses
        found = [
            ("plan", key) for key in sorted(self.model.plans) if not self.model.plan_in_use(key)
        ]
        found += [("customer", key) for key in sorted(self.model.customers)]
        if not found:
            return
        kind, key = data.draw(st.sampled_from(found))
        if kind == "plan":
            plans = _listed(chartmogul.Plan, "plans", self.cm, data_source_uuid=self.source)
            (uuid,) = [plan.uuid for plan in plans if plan.external_id == key]
            chartmogul.Plan.destroy(self.cm, uuid=uuid).get()
        else:
            (uuid,) = [uuid for uuid, name in self.customers.items() if name == key]
            chartmogul.Customer.destroy(self.cm, uuid=uuid).get()
            del self.customers[uuid]
        self.model.deleted_in_chartmogul(kind, key)
        REACHED.update([f"{kind} deleted in ChartMogul"])

    @precondition(lambda self: set(CUSTOMERS) - self.model.customers)
    @rule()
    def recreate_customer(self) -> None:
        """A customer deleted in ChartMogul is created again (a new uuid) by someone else."""
        key = min(set(CUSTOMERS) - self.model.customers)
        data = {"data_source_uuid": self.source, "external_id": key, "name": key}
        self.customers[chartmogul.Customer.create(self.cm, data=data).get().uuid] = key
        self.model.customers.add(key)

    BAD: ClassVar[dict[str, tuple[str, ...]]] = {
        "plan": ("null_key", "duplicate", "unit"),
        "invoice": ("null_key", "duplicate", "amount", "plan", "currency", "date", "customer"),
        "transaction": ("null_key", "amount", "date", "invoice"),
        "transaction_uuid": ("amount", "date", "invoice"),
    }

    @rule(kind=st.sampled_from(KINDS), data=st.data())
    def add_bad_row(self, kind: str, data: st.DataObject) -> None:
        bad = data.draw(st.sampled_from(self.BAD[kind]))
        keys = KEYS[kind]
        key = data.draw(st.sampled_from(keys))
        values = self._fresh(kind, key, data)
        if bad == "null_key":
            self._add(kind, None, **values)
            return
        if bad == "duplicate":
            self._add(kind, key, **values)
            return
        key = key if not self._has(kind, key) else f"{key}{bad[0]}"
        if self._has(kind, key):
            return
        if bad == "unit":
            values["unit"] = "fortnight"
        elif bad == "amount" and kind == "invoice":
            values["lines"][-1].amount = "12.5x"
        elif bad == "amount":
            values["amount"] = "ten"
        elif bad == "plan":
            values["lines"].append(Line("subscription", 500, plan="nosuchplan"))
        elif bad == "currency":
            values["currency"] = "usd1"
        elif bad == "date":
            values["date"] = "05/01/2025"
        elif bad == "customer":
            values["customer"] = "cx"
        elif bad == "invoice" and kind == "transaction":
            values["invoice"] = "ix"
        elif bad == "invoice":
            values.update(invoice="ix", invoice_uuid="inv_00000000-0000-0000-0000-00000000000f",
                          life=-1)  # fmt: skip
        self._add(kind, key, **values)

    def _bad_rows(self, kind: str) -> list[Row]:
        valid = classify(kind, self.rows[kind]).valid
        return [row for row in self.rows[kind] if valid.get(row.id or "") is not row]

    @precondition(lambda self: any(self._bad_rows(k) for k in KINDS))
    @rule(data=st.data())
    def fix_bad_row(self, data: st.DataObject) -> None:
        """The bad row gets a free key and good values (or, with no key free, leaves)."""
        kind = data.draw(st.sampled_from([k for k in KINDS if self._bad_rows(k)]))
        row = data.draw(st.sampled_from(self._bad_rows(kind)))
        valid = classify(kind, self.rows[kind]).valid
        if row.id is None or row.id in valid:
            free = [k for k in ("f1", "f2", "f3") if not self._has(kind, k)]
            if not free:
                self.rows[kind].remove(row)
                self._write(kind)
                return
            row.id = data.draw(st.sampled_from(free))
        for name, value in self._fresh(kind, row.id, data).items():
            setattr(row, name, value)
        self._write(kind)

    # ------------------------------------------------------------------ runs

    def _config(self, modes: dict[str, str], *, delete: bool) -> Any:
        models = {}
        for kind in KINDS:
            columns = ", ".join(("id", *COLUMNS[kind]))
            sql = f"select {columns} from {self.prefix}{SYNCS[kind]} order by seq"
            models[SYNCS[kind]] = {"sql": sql, "primary_key": "id"}
        base = {"data_source": "W"}
        syncs = {
            "plans": {**base, "model": "plans", "object": "plan", "mode": modes["plan"],
                      "on_delete": "delete" if delete else "ignore",
                      "mapping": {"external_id": "id", "name": "name", "interval_count": "count",
                                  "interval_unit": "unit"}},
            "invoices": {**base, "model": "invoices", "object": "invoice", "mode": "insert",
                         "on_delete": "delete" if delete else "ignore",
                         "mapping": {"external_id": "id", "customer_external_id": "customer",
                                     "date": "date", "currency": "currency"},
                         "line_items": {"column": "lines"}},
            "txns": {**base, "model": "txns", "object": "transaction", "mode": "insert",
                     "mapping": {"external_id": "id", "invoice_external_id": "invoice",
                                 "type": "type", "result": "result", "date": "date",
                                 "amount_in_cents": "amount"}},
            "txns_by_uuid": {**base, "model": "txns_by_uuid", "object": "transaction",
                             "mode": "insert",
                             "mapping": {"external_id": "id", "invoice_uuid": "invoice_uuid",
                                         "type": "type", "result": "result", "date": "date",
                                         "amount_in_cents": "amount"}},
        }  # fmt: skip
        return project(self.server, self.tmp, self.url, models, syncs)  # type: ignore[arg-type]

    def _run(self, config: Any, kind: str, *, bulk: bool) -> tuple[Any, list[Any]]:
        requests: list[Any] = []
        runner = engine(config, bulk=BulkSettings(min_rows=2))
        record = asyncio.run(runner.run(SYNCS[kind], bulk=bulk, request_hooks=[requests.append]))
        self.runs += 1
        return record, requests

    @rule(
        kinds=st.sampled_from(
            [KINDS, ("plan",), ("invoice",), ("transaction",), ("transaction_uuid",)]
        ),
        plan_mode=st.sampled_from(["upsert", "insert"]),
        delete=st.booleans(),
        bulk=st.booleans(),
    )
    def run_syncs(self, kinds: tuple[str, ...], plan_mode: str, *, delete: bool,
                  bulk: bool) -> None:  # fmt: skip
        config = self._config({"plan": plan_mode}, delete=delete)
        for kind in kinds:
            mode = plan_mode if kind == "plan" else "insert"
            name = SYNCS[kind]
            plan = asyncio.run(plan_sync(config, name, client_settings(config), sample=100))
            record, requests = self._run(config, kind, bulk=bulk)
            deletes = delete and not kind.startswith("transaction")
            expected = self.model.predict(kind, self.rows[kind], mode, delete=deletes)
            self._check_record(record, requests, expected)
            _events(kind, expected, requests)
            self._check_plan(plan, record, expected, mode=mode, delete=deletes)
            if not expected.rejected:
                again, requests = self._run(config, kind, bulk=bulk)
                writes = [r for r in requests if r.method != "GET"]
                assert writes == [], f"a re-run of {name} with no change wrote: {writes}"
                assert (again.rows.added, again.rows.changed, again.rows.removed) == (0, 0, 0)
            self._check_reconcile(config, kind)

    @rule(
        kind=st.sampled_from(KINDS),
        plan_mode=st.sampled_from(["upsert", "insert"]),
        delete=st.booleans(),
        bulk=st.booleans(),
        seed=st.integers(0, 1000),
    )
    def run_under_faults(self, kind: str, plan_mode: str, *, delete: bool, bulk: bool,
                         seed: int) -> None:  # fmt: skip
        """A run under faults, then a clean one: together they equal one clean run."""
        config = self._config({"plan": plan_mode}, delete=delete)
        self.admin.put("/faults", json={**FAULTS, "seed": seed}).raise_for_status()
        try:
            faulted, _ = self._run(config, kind, bulk=bulk)
        finally:
            self.admin.delete("/faults").raise_for_status()
        assert faulted.status.value in ("success", "partial", "failed")
        self._run(config, kind, bulk=bulk)
        mode = plan_mode if kind == "plan" else "insert"
        self.model.predict(
            kind, self.rows[kind], mode, delete=delete and not kind.startswith("transaction")
        )
        self._check_reconcile(config, kind)

    # ------------------------------------------------------------------ checks

    def _check_record(self, record: Any, requests: list[Any], expected: Prediction) -> None:
        rows = record.rows
        want_status = "success" if not (expected.rejected or expected.invalid) else "partial"
        assert record.status.value == want_status, (record.status, record.message, expected)
        counts = (rows.added, rows.changed, rows.unchanged, rows.removed, rows.invalid)
        want = (len(expected.added), len(expected.changed), len(expected.unchanged),
                len(expected.removed), len(expected.invalid))  # fmt: skip
        assert counts == want, (counts, want, expected)
        assert rows.failed == len(expected.invalid) + len(expected.rejected)
        store = RunStore(self.tmp / "state")
        try:
            stored = store.get(record.run_id)
            errors = store.errors(record.run_id)
            logged = store.request_count(record.run_id)
        finally:
            store.close()
        assert stored.rows.as_dict() == rows.as_dict()
        assert stored.api_calls == record.api_calls == sum(r.reached_server for r in requests)
        assert logged == len(requests)
        found = {(e.key, e.field) for e in errors if e.kind == "invalid"}
        assert found == {(i.key, i.field) for i in expected.invalid}, (found, expected.invalid)
        # over REST and the bulk import alike, a line item's field names its index
        rejected: dict[str, set[str]] = {}
        for error in errors:
            if error.kind != "invalid":
                rejected.setdefault(error.key, set()).add(error.field)
        want = {key: {field} for key, field in expected.rejected.items()}
        assert rejected == want, (rejected, expected.rejected)

    def _check_plan(
        self, plan: Any, record: Any, expected: Prediction, *, mode: str, delete: bool
    ) -> None:
        keys = {name: {s["key"] for s in plan.samples[name]} for name in plan.samples}
        assert keys["creates"] == expected.added, (keys, expected)
        assert keys["updates"] == expected.changed - expected.ignored, (keys, expected)
        assert keys["unchanged"] == expected.unchanged | expected.ignored
        assert keys["deletes"] == (expected.removed if delete else set())
        assert plan.counts["invalid"] == record.rows.invalid
        assert plan.changes_ignored == len(expected.ignored)

    def _check_reconcile(self, config: Any, kind: str) -> None:
        report = asyncio.run(reconcile(config, SYNCS[kind]))
        valid = classify(kind, self.rows[kind])
        held = {"plan": self.model.plans, "invoice": self.model.invoices,
                "transaction": self.model.transactions,
                "transaction_uuid": self.model.transactions}[kind]  # fmt: skip
        missing = {k for k in valid.valid if k not in held}
        assert report.missing == len(missing), (report.summary(), missing)
        assert report.invalid == len(valid.invalid), report.summary()

    # ------------------------------------------------------------------ ChartMogul

    def _read(self) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        plans: dict[str, Any] = {}
        uuids: dict[str, str] = {}
        for plan in _listed(chartmogul.Plan, "plans", self.cm, data_source_uuid=self.source):
            assert plan.external_id not in plans, f"plan {plan.external_id} twice"
            plans[plan.external_id] = (plan.name, plan.interval_count, plan.interval_unit)
            uuids[plan.uuid] = plan.external_id
        invoices: dict[str, Any] = {}
        transactions: dict[str, Any] = {}
        for invoice in _listed(
            chartmogul.Invoice, "invoices", self.cm, data_source_uuid=self.source
        ):
            key = invoice.external_id
            assert key not in invoices, f"invoice {key} twice"
            lines = tuple(
                sorted(
                    (item.type, item.amount_in_cents, item.quantity,
                     _plan(uuids, item), getattr(item, "discount_amount_in_cents", 0),
                     getattr(item, "tax_amount_in_cents", 0))
                    for item in invoice.line_items
                )
            )  # fmt: skip
            customer = self.customers.get(invoice.customer_uuid, invoice.customer_uuid)
            invoices[key] = (customer, invoice.date.date().isoformat(), invoice.currency, lines)
            for txn in invoice.transactions:
                assert txn.external_id not in transactions, f"transaction {txn.external_id} twice"
                amount = getattr(txn, "amount_in_cents", None)
                transactions[txn.external_id] = (key, txn.type, txn.result, amount)
        return plans, invoices, transactions

    @invariant()
    def chartmogul_equals_the_model(self) -> None:
        if self.runs == 0:
            return
        plans, invoices, transactions = self._read()
        assert plans == self.model.plans
        assert invoices == self.model.invoices
        assert transactions == self.model.transactions

    @invariant()
    def no_secret_anywhere(self) -> None:
        basic = base64.b64encode(f"{SECRET}:".encode()).decode()
        for line in self.leaks.lines:
            assert SECRET not in line
            assert basic not in line
        for path in (self.tmp / "state").glob("*"):
            if path.is_file():
                assert SECRET.encode() not in path.read_bytes(), path
                assert basic.encode() not in path.read_bytes(), path


#: what the runs went through, over all examples (printed with ``-s``: is the hunt reaching it?)
REACHED: Counter[str] = Counter()


def _events(kind: str, expected: Prediction, requests: list[Any]) -> None:
    """Count what a run went through."""
    event = REACHED.update
    if any("json_imports" in r.path for r in requests):
        event([f"{kind}: bulk import"])
    for field in expected.rejected.values():
        event([f"{kind}: rejected on {_unindexed(field)}"])
    for invalid in expected.invalid:
        event([f"{kind}: invalid on {_unindexed(invalid.field)}"])
    if expected.ignored:
        event([f"{kind}: changed row ignored (insert)"])
    if expected.removed:
        event([f"{kind}: removed"])


def _plan(uuids: dict[str, str], item: Any) -> str | None:
    """The external id of a line item's plan (its uuid if the plan is not listed)."""
    found = getattr(item, "plan_uuid", None)
    return uuids.get(found, GONE) if found else None


def _unindexed(field: str) -> str:
    return re.sub(r"\[\d+\]", "", field)


def _listed(resource: Any, key: str, config: chartmogul.Config, **params: Any) -> list[Any]:
    """Every item of a cursor-paginated list of the official client (items under ``key``)."""
    items: list[Any] = []
    cursor: dict[str, Any] = {}
    while True:
        page = resource.all(config, per_page=200, **params, **cursor).get()
        items.extend(getattr(page, key))
        if not page.has_more:
            return items
        cursor = {"cursor": page.cursor}


class PostgresRevenueEtl(RevenueEtl):
    """The same machine with the suite's PostgreSQL as the warehouse."""

    postgres: PostgresServer

    def _open(self) -> None:
        self.url = self.postgres.url
        self.schema = f"rev_{uuid.uuid4().hex[:10]}"
        self.prefix = f"{self.schema}."
        with psycopg.connect(self.postgres.dsn, autocommit=True) as db:
            db.execute(f"create schema {self.schema}")
        for kind in KINDS:
            self._write(kind)

    def _close(self) -> None:
        with psycopg.connect(self.postgres.dsn, autocommit=True) as db:
            db.execute(f"drop schema {self.schema} cascade")

    def _write(self, kind: str) -> None:
        with psycopg.connect(self.postgres.dsn, autocommit=True) as db:
            db.execute(f"drop table if exists {self.prefix}{SYNCS[kind]}")
            db.execute(self._table_sql(kind))
            marks = ", ".join(["%s"] * (len(COLUMNS[kind]) + 2))
            for values in self._values(kind):
                db.execute(f"insert into {self.prefix}{SYNCS[kind]} values ({marks})", values)


EXAMPLES = int(os.environ.get("MOGULSYNC_REVENUE_EXAMPLES", "8"))
STEPS = int(os.environ.get("MOGULSYNC_REVENUE_STEPS", "16"))
#: MOGULSYNC_REVENUE_NOSHRINK=1 reports the first failure as found (a faster hunt)
PHASES = [
    p for p in Phase if not (os.environ.get("MOGULSYNC_REVENUE_NOSHRINK") and p == Phase.shrink)
]


def _hunt(machine: type[RevenueEtl]) -> None:
    try:
        hunt(machine, examples=EXAMPLES, steps=STEPS, phases=PHASES, api_key=SECRET)
    finally:
        print(f"{machine.__name__} reached: {dict(sorted(REACHED.items()))}")
        REACHED.clear()


def test_revenue_in_chartmogul_equals_the_model() -> None:
    """Random plans/invoices/transactions changes and runs (DuckDB); invariants every step."""
    _hunt(RevenueEtl)


@pytest.mark.postgres
def test_revenue_from_postgres_equals_the_model(postgres_server: PostgresServer) -> None:
    """The same machine, the suite's PostgreSQL as the warehouse."""
    PostgresRevenueEtl.postgres = postgres_server
    _hunt(PostgresRevenueEtl)


pytestmark = pytest.mark.timeout(0 if EXAMPLES > 20 else 300)

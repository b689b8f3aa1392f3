"""Model-based test of reverse ETL: random model changes and runs; ChartMogul must equal the model.

A hypothesis state machine edits a real DuckDB warehouse (insert, update, delete rows; add
and fix bad rows: null or blank key, repeated key, wrong type, bad email, missing parent) and
runs a sync against the emulator over loopback: customers with typed custom attributes, or
contacts (whose emails change); upsert, update or insert, with or without ``on_delete:
delete``, over REST or the bulk import, sometimes under injected 429/5xx/resets/lost
answers (then a clean run), or during an outage of writes (every write answered 502: rows
stay in flight for later runs). After every run, the invariants of docs/sync.md are checked
against a reference model (tests/integration/sync/_model.py) that knows only the rules:

- ChartMogul (read through the official ``chartmogul`` client) holds exactly the predicted
  records with exactly the predicted values;
- bad rows are reported with their row and field and never block the others;
- a row that left the model is gone from ChartMogul iff ``on_delete: delete``;
- the dry-run plan predicted what the run did; a re-run with no change writes nothing;
- ``reconcile`` agrees; the run history agrees; the API key is in no log and no history.

``MOGULSYNC_MODEL_EXAMPLES=200`` (and ``MOGULSYNC_MODEL_STEPS``) runs a longer hunt by hand.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import chartmogul
import duckdb
import httpx
import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from tests.conftest import unlimited_settings
from tests.integration.sync._model import (
    CONTACT,
    CUSTOM,
    PARENTS,
    STANDARD,
    Model,
    Prediction,
    Row,
    classify,
    matches,
)
from tests.integration.sync._support import engine, project

from mogulsync.chartmogul.limiter import forget_limiters
from mogulsync.emulator.server import EmulatorServer
from mogulsync.reconcile import reconcile
from mogulsync.runs import RunStore
from mogulsync.sync.bulk.runner import BulkSettings
from mogulsync.sync.connect import client_settings
from mogulsync.sync.plan import plan_sync

#: an API key no other text contains, so finding it anywhere is a leak
SECRET = "sk-model-8f3a1c9e77d24b51"
KEYS = ("a1", "a2", "a3", "a4", "a5")
NAMES = st.sampled_from(["Acme", "Beta", "Gamma", None])
EMAILS = st.sampled_from(["ops@acme.io", "bill@beta.io", None])
CONTACT_EMAILS = st.sampled_from(["ann@acme.io", "bob@acme.io", "new@beta.io", None])
SEATS = st.sampled_from(["0", "1", "12", None])
TIERS = st.sampled_from(["gold", "silver", None])
ACTIVE = st.sampled_from([True, False, None])
#: ChartMogul down for writes: every write is answered 502 and processes nothing
OUTAGE = {"error_rate": 1.0, "error_statuses": [502], "methods": ["POST", "PATCH", "DELETE"]}
FAULTS = {"error_rate": 0.15, "rate_limit_rate": 0.1, "drop_rate": 0.05,
          "lost_response_rate": 0.1}  # fmt: skip


class _Leaks(logging.Handler):
    """Every log line of the runs, formatted, to look for the key."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


class ReverseEtl(RuleBasedStateMachine):
    """One warehouse, one emulator account, a customers sync; the model says what must hold."""

    server: EmulatorServer
    leaks: _Leaks

    def __init__(self) -> None:
        super().__init__()
        self.tmp = Path(tempfile.mkdtemp(prefix="mogulsync-model-"))
        self.path = self.tmp / "w.duckdb"
        self.rows: list[Row] = []
        self.seq = 0
        self.model = Model()
        self.admin = httpx.Client(base_url=f"{self.server.base_url}/_emulator", timeout=30)
        self.admin.post("/reset").raise_for_status()
        self.admin.delete("/faults").raise_for_status()
        self.cm = chartmogul.Config(SECRET)
        self.cm.uri = f"{self.server.base_url}/v1"
        self.runs = 0

    def teardown(self) -> None:
        self.admin.delete("/faults")
        self.admin.close()
        shutil.rmtree(self.tmp, ignore_errors=True)
        forget_limiters()

    # ------------------------------------------------------------------ the warehouse

    def _write(self) -> None:
        db = duckdb.connect(str(self.path))
        try:
            db.execute(
                "create or replace table accounts(seq integer, id varchar, name varchar,"
                " email varchar, seats varchar, tier varchar, active boolean, parent varchar,"
                " first_name varchar)"
            )
            for row in self.rows:
                db.execute(
                    "insert into accounts values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [row.seq, row.id, *row.values()],
                )
        finally:
            db.close()

    def _add(self, key: str | None, **values: Any) -> None:
        self.seq += 1
        self.rows.append(Row(self.seq, key, **values))
        self._write()

    # what differs between objects (customers here; contacts below)
    FIELDS: ClassVar[dict[str, st.SearchStrategy[Any]]] = {"name": NAMES, "email": EMAILS, "seats": SEATS,
                                                 "tier": TIERS, "active": ACTIVE}  # fmt: skip
    BAD = ("null_key", "blank_key", "duplicate", "wrong_type", "email")

    def _fresh(self, key: str, data: st.DataObject) -> dict[str, Any]:
        return {name: data.draw(strategy) for name, strategy in self.FIELDS.items()}

    def _bad(self, kind: str, key: str) -> dict[str, Any]:
        return {"wrong_type": {"name": "Typo", "seats": "many"}}.get(kind, {"name": "Bad"})

    def _fix(self, row: Row) -> None:
        if row.seats is not None and not row.seats.isdigit():
            row.seats = "5"

    def _bad_rows(self) -> list[Row]:
        valid = classify(self.rows).valid
        return [row for row in self.rows if valid.get(row.id or "") is not row]

    @initialize(keys=st.lists(st.sampled_from(KEYS), unique=True, max_size=3), data=st.data())
    def start(self, keys: list[str], data: st.DataObject) -> None:
        for key in keys:
            self._add(key, **self._fresh(key, data))
        self._write()  # the warehouse exists even when empty

    @rule(key=st.sampled_from(KEYS), data=st.data())
    def insert_row(self, key: str, data: st.DataObject) -> None:
        if self._has(key):
            return  # a repeated key is its own rule
        self._add(key, **self._fresh(key, data))

    @precondition(lambda self: bool(self.rows))
    @rule(data=st.data())
    def update_field(self, data: st.DataObject) -> None:
        row = data.draw(st.sampled_from(self.rows))
        field = data.draw(st.sampled_from(sorted(self.FIELDS)))
        setattr(row, field, data.draw(self.FIELDS[field]))
        self._write()

    @precondition(lambda self: bool(self.rows))
    @rule(data=st.data())
    def delete_row(self, data: st.DataObject) -> None:
        self.rows.remove(data.draw(st.sampled_from(self.rows)))
        self._write()

    @rule(data=st.data(), key=st.sampled_from(KEYS))
    def add_bad_row(self, data: st.DataObject, key: str) -> None:
        kind = data.draw(st.sampled_from(self.BAD))
        values = self._bad(kind, key)
        if kind == "null_key":
            self._add(None, **values)
        elif kind == "blank_key":
            self._add("  ", **values)
        elif kind == "duplicate":
            self._add(key, **self._fresh(key, data))
        elif kind == "email":
            self._add(key if not self._has(key) else f"{key}e", **{**values, "email": "nope"})
        else:
            self._add(key if not self._has(key) else f"{key}w", **values)

    def _has(self, key: str) -> bool:
        return any(row.id == key for row in self.rows)

    @precondition(lambda self: bool(self._bad_rows()))
    @rule(data=st.data())
    def fix_bad_row(self, data: st.DataObject) -> None:
        valid = classify(self.rows).valid
        row = data.draw(st.sampled_from(self._bad_rows()))
        if row.id is None or not row.id.strip() or row.id in valid:
            free = [k for k in (*KEYS, "b1", "b2", "b3") if not self._has(k)]
            if not free:
                self.rows.remove(row)
                self._write()
                return
            row.id = data.draw(st.sampled_from(free))
        self._fix(row)
        if row.email is not None and "@" not in row.email:
            row.email = "fixed@x.io"
        self._write()

    # ------------------------------------------------------------------ runs

    SQL = "select id, name, email, seats, tier, active from accounts order by seq"
    SYNC: ClassVar[dict[str, Any]] = {
        "object": "customer",
        "mapping": {"external_id": "id", "name": "name", "email": "email"},
        "custom_attributes": list(CUSTOM),
        "custom_attribute_types": {"seats": "Integer"},
    }

    def _config(self, mode: str, *, delete: bool) -> Any:
        sync = {
            **self.SYNC,
            "model": "accounts",
            "mode": mode,
            "data_source": "W",
            "on_delete": "delete" if delete else "ignore",
        }
        return project(
            self.server,  # type: ignore[arg-type]
            self.tmp,
            f"duckdb:///{self.path}",
            {"accounts": {"sql": self.SQL, "primary_key": "id"}},
            {"customers": sync},
        )

    def _run(self, config: Any, *, bulk: bool) -> tuple[Any, list[Any]]:
        requests: list[Any] = []
        runner = engine(config, bulk=BulkSettings(min_rows=2))
        record = asyncio.run(runner.run("customers", bulk=bulk, request_hooks=[requests.append]))
        self.runs += 1
        return record, requests

    @rule(
        mode=st.sampled_from(["upsert", "upsert", "update", "insert"]),
        delete=st.booleans(),
        bulk=st.booleans(),
    )
    def run_sync(self, mode: str, *, delete: bool, bulk: bool) -> None:
        config = self._config(mode, delete=delete)
        plan = asyncio.run(plan_sync(config, "customers", client_settings(config), sample=100))
        record, requests = self._run(config, bulk=bulk)
        expected = self.model.predict(self.rows, mode, delete=delete)
        self._check_record(record, requests, expected)
        self._check_plan(plan, record, expected, mode=mode, delete=delete)
        if not expected.rejected:
            again, requests = self._run(config, bulk=bulk)
            writes = [r for r in requests if r.method != "GET"]
            assert writes == [], f"a re-run with no change wrote: {writes}"
            assert (again.rows.added, again.rows.changed, again.rows.removed) == (0, 0, 0)
        self._check_reconcile(config)

    @rule(
        mode=st.sampled_from(["upsert", "update", "insert"]),
        delete=st.booleans(),
        bulk=st.booleans(),
        seed=st.integers(0, 1000),
    )
    def run_under_faults(self, mode: str, *, delete: bool, bulk: bool, seed: int) -> None:
        """A run under faults, then a clean one: together they equal one clean run."""
        config = self._config(mode, delete=delete)
        before = set(self.model.cm)
        self.admin.put("/faults", json={**FAULTS, "seed": seed}).raise_for_status()
        try:
            faulted, _ = self._run(config, bulk=bulk)
        finally:
            self.admin.delete("/faults").raise_for_status()
        assert faulted.status.value in ("success", "partial", "failed")
        self._run(config, bulk=bulk)
        self.model.predict(self.rows, mode, delete=delete)
        self.model.blur_creates(self.rows, before)
        self._check_reconcile(config)

    #: the outage rule runs upsert over REST only: there every row sent is a write, so which
    #: rows are left in flight does not depend on the order the run's tasks end in
    OUTAGE = True

    @precondition(lambda self: self.OUTAGE and self.runs > 0)  # the data source exists
    @rule(delete=st.booleans())
    def run_during_outage(self, *, delete: bool) -> None:
        """Every write answered 502 (nothing processed): nothing lands, rows stay in flight."""
        config = self._config("upsert", delete=delete)
        writes = self.model.writes(self.rows, "upsert", delete=delete)
        self.admin.put("/faults", json=OUTAGE).raise_for_status()
        try:
            record, _ = self._run(config, bulk=False)
        finally:
            self.admin.delete("/faults").raise_for_status()
        if not writes:
            expected = self.model.predict(self.rows, "upsert", delete=delete)
            self._check_record(record, [], expected, calls=False)
            return
        # failed: ChartMogul counted as down (one call spent its retries with no other
        # answer in between); partial: the run completed with the writes as row errors
        assert record.status.value in ("failed", "partial"), (record.status, record.message)
        assert record.rows.succeeded == 0, record.rows
        self.model.outage(
            self.rows, "upsert", delete=delete, completed=record.status.value == "partial"
        )

    # ------------------------------------------------------------------ checks

    def _check_record(
        self, record: Any, requests: list[Any], expected: Prediction, *, calls: bool = True
    ) -> None:
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
        assert stored.status == record.status
        if calls:
            assert stored.api_calls == record.api_calls == sum(r.reached_server for r in requests)
            assert logged == len(requests)
        found = {(e.key, e.field) for e in errors if e.kind == "invalid"}
        assert found == {(i.key, i.field) for i in expected.invalid}
        assert {e.key for e in errors if e.kind != "invalid"} == expected.rejected

    def _check_plan(
        self, plan: Any, record: Any, expected: Prediction, *, mode: str, delete: bool
    ) -> None:
        keys = {name: {s["key"] for s in plan.samples[name]} for name in plan.samples}
        creates = expected.added if mode != "update" else set()
        updates = (expected.changed - expected.ignored) | (expected.added - creates)
        assert keys["creates"] == creates, (keys, expected)
        assert keys["updates"] == updates, (keys, expected)
        assert keys["unchanged"] == expected.unchanged | expected.ignored
        assert keys["deletes"] == (expected.removed if delete else set())
        assert plan.counts["invalid"] == record.rows.invalid
        assert plan.changes_ignored == len(expected.ignored)
        assert plan.removed_ignored == (0 if delete else len(expected.removed))

    def _check_reconcile(self, config: Any) -> None:
        report = asyncio.run(reconcile(config, "customers"))
        valid = classify(self.rows)
        missing = {k for k in valid.valid if k not in self.model.cm}
        assert report.missing == len(missing), (report.summary(), missing)
        assert report.drifted == len(self.model.drifted(self.rows)), report.summary()
        assert report.invalid == len(valid.invalid)
        extra = {k for k in self.model.cm if k not in valid.seen}  # what a delete would remove
        assert report.extra == len(extra), (report.summary(), extra)

    def _source(self) -> str:
        (source,) = chartmogul.DataSource.all(self.cm, name="W").get().data_sources
        return str(source.uuid)

    def _read(self) -> dict[str, dict[str, Any]]:
        """The data source's customers, by external id, as the model describes them."""
        found: dict[str, dict[str, Any]] = {}
        for customer in _every(chartmogul.Customer, self.cm, data_source_uuid=self._source()):
            assert customer.external_id not in found, "a customer created twice"
            record = {n: v for n in STANDARD if (v := getattr(customer, n, None))}
            custom = dict(getattr(customer.attributes, "custom", None) or {})
            record["custom"] = {k: v for k, v in custom.items() if k in CUSTOM}
            found[customer.external_id] = record
        return found

    @invariant()
    def chartmogul_equals_the_model(self) -> None:
        if self.runs == 0:
            return
        actual = self._read()
        assert set(actual) == set(self.model.cm), (actual, self.model.cm)
        for key, record in self.model.cm.items():
            assert matches(record, actual[key]), (key, record, actual[key])

    @invariant()
    def no_secret_anywhere(self) -> None:
        basic = base64.b64encode(f"{SECRET}:".encode()).decode()
        for line in self.leaks.lines:
            assert SECRET not in line
            assert basic not in line
        for path in (self.tmp / "state").glob("*"):
            if path.is_file():
                data = path.read_bytes()
                assert SECRET.encode() not in data, path
                assert basic.encode() not in data, path


def _every(resource: Any, config: chartmogul.Config, **params: Any) -> list[Any]:
    """Every item of a cursor-paginated list of the official client."""
    items: list[Any] = []
    cursor: dict[str, Any] = {}
    while True:
        page = resource.all(config, per_page=200, **params, **cursor).get()
        items.extend(page.entries)
        if not page.has_more:
            return items
        cursor = {"cursor": page.cursor}


class ContactsEtl(ReverseEtl):
    """The same machine on a contacts sync (email changes, missing parents, no bulk path)."""

    OUTAGE = False  # a missing parent is refused before any write: the order would matter

    FIELDS: ClassVar[dict[str, st.SearchStrategy[Any]]] = {
        "email": CONTACT_EMAILS,
        "first_name": NAMES,
    }
    BAD = ("null_key", "duplicate", "email", "orphan")
    SQL = "select id, parent, email, first_name from accounts order by seq"
    SYNC: ClassVar[dict[str, Any]] = {
        "object": "contact",
        "mapping": {"external_id": "id", "customer_external_id": "parent", "email": "email",
                    "first_name": "first_name"},
        "custom_attributes": "none",
    }  # fmt: skip

    def __init__(self) -> None:
        super().__init__()
        source = chartmogul.DataSource.create(self.cm, data={"name": "W"}).get()
        self.parents: dict[str, str] = {}
        for key in PARENTS:
            data = {"data_source_uuid": source.uuid, "external_id": key, "name": key}
            self.parents[chartmogul.Customer.create(self.cm, data=data).get().uuid] = key

    def _fresh(self, key: str, data: st.DataObject) -> dict[str, Any]:
        values = super()._fresh(key, data)
        return {**values, "parent": PARENTS[KEYS.index(key) % 2] if key in KEYS else PARENTS[0]}

    def _bad(self, kind: str, key: str) -> dict[str, Any]:
        return {"parent": "px" if kind == "orphan" else PARENTS[0], "first_name": "Bad"}

    def _fix(self, row: Row) -> None:
        if row.parent not in PARENTS:
            row.parent = PARENTS[0]

    def _bad_rows(self) -> list[Row]:
        return [*super()._bad_rows(), *(r for r in self.rows if r.parent not in PARENTS)]

    def _read(self) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        for contact in _every(chartmogul.Contact, self.cm, data_source_uuid=self._source()):
            assert contact.external_id not in found, f"contact {contact.external_id} twice"
            record = {n: v for n in CONTACT if (v := getattr(contact, n, None))}
            found[contact.external_id] = {
                **record,
                "parent": self.parents[contact.customer_uuid],
                "custom": {},
            }
        return found


EXAMPLES = int(os.environ.get("MOGULSYNC_MODEL_EXAMPLES", "6"))
STEPS = int(os.environ.get("MOGULSYNC_MODEL_STEPS", "12"))


def hunt(
    machine: type[Any],
    *,
    examples: int,
    steps: int,
    phases: Sequence[Phase] | None = None,
    api_key: str = SECRET,
) -> None:
    """Run ``machine``'s sequences on a fresh emulator (accepting ``api_key``), every log
    record watched for leaks."""
    leaks = _Leaks()
    root = logging.getLogger()
    root.addHandler(leaks)
    ours = logging.getLogger("mogulsync")
    level = ours.level
    ours.setLevel(logging.DEBUG)
    try:
        with EmulatorServer(unlimited_settings(json_import_step_s=0.01,
                                               api_keys=[api_key])) as server:  # fmt: skip
            machine.server = server
            machine.leaks = leaks
            run_state_machine_as_test(
                machine,
                settings=settings(
                    max_examples=examples,
                    stateful_step_count=steps,
                    deadline=None,
                    derandomize=examples <= 20,  # CI: the same sequences every time
                    database=None,
                    suppress_health_check=[HealthCheck.too_slow],
                    print_blob=True,
                    phases=tuple(phases) if phases is not None else tuple(Phase),
                ),
            )
    finally:
        root.removeHandler(leaks)
        ours.setLevel(level)


@pytest.mark.parametrize("machine", [ReverseEtl, ContactsEtl], ids=["customers", "contacts"])
def test_chartmogul_ends_equal_to_the_model(machine: type[ReverseEtl]) -> None:
    """Random sequences of model changes and runs; every invariant after every step."""
    hunt(machine, examples=EXAMPLES, steps=STEPS)


# a hunt by hand may run for hours; in CI the file takes seconds
pytestmark = pytest.mark.timeout(0 if EXAMPLES > 20 else 300)

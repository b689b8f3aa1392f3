"""Model-based: random changes to an account between incremental extracts end where a
full refresh would.

A hypothesis state machine changes an emulated account (customers, invoices and so
activities, cancellations, subscription events, contacts, merges, deletions), drives the
emulator's clock, and runs ``extract run --mode incremental`` (in process) into a DuckDB
file or the suite's PostgreSQL, now and then failing (injected faults), cancelled while
fetching, or crashed between dlt's extract and load. After every successful run:

- every table equals what a fresh full refresh (``overwrite``, a new dataset) loads;
- the run's reported records are the rows that landed (rows of its load for merged
  streams, the table for replaced ones);
- an Airbyte ``read`` from the previous STATE emits exactly the activities and events that
  are new or changed since, and a read from its own final STATE emits none.

A failed or cancelled run leaves the warehouse as it was; the next run catches up.

ChartMogul rewriting past activities (a paying customer merged or deleted) is not seen by
an incremental run, as docs/extract.md says; the model then does what the docs advise
(``--mode overwrite --streams activities``) before comparing activities.

Small by default (``make test``); ``MOGULSYNC_MODEL_EXAMPLES`` and
``MOGULSYNC_MODEL_STEPS`` make a longer hunt, ``MOGULSYNC_MODEL_SEED`` another sequence.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import os
import tempfile
import threading
import uuid
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from hypothesis import HealthCheck, Phase, Verbosity, seed, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)
from pydantic import SecretStr
from tests.conftest import unlimited_settings
from tests.integration.extract._model import Account, Snapshot, Warehouse, differences, keys_of

from mogulsync.chartmogul import ClientSettings
from mogulsync.chartmogul.settings import RetryPolicy
from mogulsync.emulator.server import EmulatorServer
from mogulsync.errors import MogulsyncError
from mogulsync.extract.airbyte import AirbyteSource
from mogulsync.extract.runner import (
    ExtractCancelledError,
    ExtractOptions,
    ExtractReport,
    Stage,
    run_extract,
)
from mogulsync.testing import PostgresServer

EXAMPLES = int(os.environ.get("MOGULSYNC_MODEL_EXAMPLES", "2"))
STEPS = int(os.environ.get("MOGULSYNC_MODEL_STEPS", "12"))
SEED = int(os.environ.get("MOGULSYNC_MODEL_SEED", "20261205"))
START = dt.datetime(2024, 3, 4, 9, 30, tzinfo=dt.UTC)
#: last day of the metrics series: fixed, so no run depends on today's date
END_DATE = dt.date(2026, 12, 31)
STREAMS = (
    "data_sources",
    "customers",
    "contacts",
    "plans",
    "invoices",
    "subscriptions",
    "subscription_events",
    "activities",
    "customer_count",
)
INCREMENTAL = {"activities": "uuid", "subscription_events": "id"}
#: a failing stream: its requests all answer 500
MAX_SOURCES = 3
#: the changes the ``change`` rule makes (each a method ``_<name>``, add_customer aside)
CHANGES = (
    "add_customer",
    "add_source",
    "invoice",
    "update_customer",
    "add_contact",
    "delete_customer",
    "merge_customers",
    "cancel_subscription",
    "add_event",
    "update_event",
    "disable_event",
    "delete_event",
    "rename_plan",
)
#: how long passes before a run (0: another change in the same second as the last run)
SECONDS = (0, 1, 59, 3600, 86_399, 86_400, 10 * 86_400, 40 * 86_400)
RUNS = (
    "incremental_run",
    "incremental_run",
    "failing_run",
    "cancelled_run",
    "crashed_run",
    "airbyte_read",
)
FAILING_PATHS = ("/v1/activities", "/v1/subscription_events", "/v1/customers$", "/v1/invoices")


class _CrashError(Exception):
    """Stands for the process dying between dlt's extract and its load."""


def _client_settings(server: EmulatorServer) -> ClientSettings:
    # one retry, no waiting: an injected failure fails the run at once
    retry = RetryPolicy(max_attempts=2, initial_wait_s=0, jitter_s=0, max_total_s=5)
    return ClientSettings(
        api_key=SecretStr(server.api_key), base_url=server.base_url, rate_limit=2000, retry=retry
    )


def _airbyte_read(
    server: EmulatorServer, mode: str, state: list[dict[str, Any]] | None
) -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]]]:
    """Records of ``read`` by stream and key (each key once), and its last STATE per stream."""
    config = {
        "api_key": server.api_key,
        "start_date": "2024-01-01T00:00:00Z",
        "base_url": server.base_url,
        "rate_limit": 2000,
    }
    catalog = {
        "streams": [
            {"stream": {"name": name}, "sync_mode": mode, "destination_sync_mode": "append"}
            for name in INCREMENTAL
        ]
    }
    out = io.StringIO()
    assert AirbyteSource(out).read(config, catalog, state) == 0, out.getvalue()[-2000:]
    records: dict[str, dict[str, Any]] = {name: {} for name in INCREMENTAL}
    states: dict[str, dict[str, Any]] = {}
    for line in out.getvalue().splitlines():
        message = json.loads(line)
        if message["type"] == "RECORD":
            name = message["record"]["stream"]
            key = str(message["record"]["data"][INCREMENTAL[name]])
            assert key not in records[name], f"{name} {key} emitted twice"
            records[name][key] = message["record"]["data"]
        elif message["type"] == "STATE":
            states[message["state"]["stream"]["stream_descriptor"]["name"]] = message["state"]
    return records, list(states.values())


class ExtractModel(RuleBasedStateMachine):
    """See the module's docstring."""

    postgres: PostgresServer | None = None

    def __init__(self) -> None:
        super().__init__()
        self._stack = contextlib.ExitStack()
        server = self._stack.enter_context(EmulatorServer(unlimited_settings()))
        api = self._stack.enter_context(
            httpx.Client(base_url=f"{server.base_url}/v1", auth=(server.api_key, ""), timeout=30)
        )
        self.server = server
        self.account = Account(server, api, START)
        self.account.set_clock(START)
        self.account.add_source()
        self.root = Path(self._stack.enter_context(tempfile.TemporaryDirectory(prefix="model-")))
        self.settings = _client_settings(server)
        self.warehouse = Warehouse("duckdb", f"duckdb:///{self.root}/inc.duckdb", "chartmogul")
        self.datasets: list[str] = []
        self.fulls = 0
        #: activities ChartMogul rewrote since the last comparison (see the docstring)
        self.rewritten = False
        self.rewritten_since_read = False
        #: a crashed run's package waits to be loaded by the next run
        self.pending = False
        self.airbyte_state: list[dict[str, Any]] | None = None
        self.airbyte_seen: dict[str, dict[str, Any]] = {name: {} for name in INCREMENTAL}
        self.steps: list[str] = []
        self.runs = 0

    def teardown(self) -> None:
        if os.environ.get("MOGULSYNC_MODEL_VERBOSE"):
            print("steps:", " ".join(self.steps))  # a hunt's own log
        if self.postgres is not None and self.datasets:
            with psycopg.connect(self.postgres.dsn, autocommit=True) as con:
                for dataset in self.datasets:
                    for schema in (dataset, f"{dataset}_staging"):
                        con.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")  # type: ignore[arg-type]
        self._stack.close()

    # ------------------------------------------------------------------ set-up
    # PostgreSQL first: hypothesis's first example is the simplest, the others are drawn
    @initialize(destination=st.sampled_from(["postgres", "duckdb"]))
    def choose_destination(self, destination: str) -> None:
        """DuckDB or PostgreSQL (when the suite's server is at hand) for the increments."""
        self.steps.append(f"choose_destination({destination})")
        if destination == "postgres" and self.postgres is not None:
            self.warehouse = self._postgres_dataset("inc")

    def _postgres_dataset(self, role: str) -> Warehouse:
        assert self.postgres is not None
        dataset = f"model_{role}_{uuid.uuid4().hex[:8]}"
        self.datasets.append(dataset)
        return Warehouse("postgres", self.postgres.url, dataset, self.postgres.dsn)

    def _options(self, warehouse: Warehouse, state: str, **extra: Any) -> ExtractOptions:
        return ExtractOptions(
            destination=warehouse.destination,
            dataset=warehouse.dataset,
            end_date=END_DATE,
            state_dir=self.root / state,
            activity_windows=3,  # more than one window even on a small account
            **{"streams": STREAMS, **extra},
        )

    # ------------------------------------------------------------------ changes
    @rule(
        changes=st.lists(
            st.tuples(
                st.sampled_from(CHANGES),
                st.integers(0, 30),
                st.integers(100, 5000),
                st.integers(1, 3),
                st.booleans(),
            ),
            min_size=1,  # hypothesis's first (simplest) example changes something too
            max_size=4,
        ),
        seconds=st.sampled_from(SECONDS),
        run=st.sampled_from(RUNS),
    )
    def step(self, changes: list[tuple[str, int, int, int, bool]], seconds: int, run: str) -> None:
        """A few changes, time passing, then a run.

        One rule: hypothesis's swarm testing, which leaves rules out of an example, would
        otherwise make examples of changes and no run, or of runs and no change.
        """
        for change in changes:
            self.change(*change)
        self.advance_clock(seconds)
        self.steps.append(run)
        self.runs += 1
        getattr(self, run)()

    def change(self, change: str, pick: int, amount: int, months: int, flag: bool) -> None:
        """One change to the account."""
        self.steps.append(change)
        account = self.account
        customers = list(account.customers)
        if change == "add_customer" or not customers:
            sources = account.sources
            tags = ["vip", "eu"][: pick % 3]
            customer = account.add_customer(sources[pick % len(sources)], tags=tags, seats=months)
            if not flag:  # the simplest example has paying customers (activities)
                account.invoice(customer, amount, months)
            return
        customer = customers[pick % len(customers)]
        getattr(self, f"_{change}")(customer, pick, amount, months, flag)

    def _add_source(self, *_: object) -> None:
        if len(self.account.sources) < MAX_SOURCES:
            self.account.add_source()

    def _invoice(self, customer: str, pick: int, amount: int, months: int, flag: bool) -> None:
        """Activity on an existing customer (a new subscription dated now)."""
        del pick, flag
        self.account.invoice(customer, amount, months)

    def _update_customer(
        self, customer: str, pick: int, amount: int, months: int, flag: bool
    ) -> None:
        del amount
        tags = ["changed"] if flag else []
        changes = {
            "name": f"Renamed {pick}",
            "attributes": {"custom": {"seats": months}, "tags": tags},
        }
        self.account.patch(f"/customers/{customer}", changes)
        if customer in self.account.paying:
            # activities carry the customer's name as it is now: ChartMogul rewrites
            # them all (docs/extract.md)
            self.rewritten = self.rewritten_since_read = True

    def _rename_plan(self, customer: str, pick: int, *_: object) -> None:
        plan = self.account.plans[self.account.customers[customer]]
        self.account.api.patch(f"/plans/{plan}", json={"name": f"Plan {pick}"}).raise_for_status()
        if self.account.paying:
            # an activity's description names the plan as it is now: ChartMogul rewrites
            # them all (docs/extract.md)
            self.rewritten = self.rewritten_since_read = True

    def _add_contact(self, customer: str, *_: object) -> None:
        body = {
            "data_source_uuid": self.account.customers[customer],
            "email": f"{self.account.next_key('contact')}@example.com",
        }
        self.account.post(f"/customers/{customer}/contacts", body)

    def _delete_customer(self, customer: str, *_: object) -> None:
        self.account.delete(f"/customers/{customer}")
        self._forget(customer)
        # its subscription events went with it (those of customers merged into it too)
        self.account.forget_deleted_events()

    def _merge_customers(
        self, customer: str, pick: int, amount: int, months: int, flag: bool
    ) -> None:
        del amount, months, flag
        customers = list(self.account.customers)
        target = customers[(pick + 1) % len(customers)]
        if target == customer:
            return
        body = {"from": {"customer_uuid": customer}, "into": {"customer_uuid": target}}
        self.account.post("/customers/merges", body)
        if customer in self.account.paying:
            self.account.paying.add(target)  # its invoices moved there
        self._forget(customer)

    def _forget(self, customer: str) -> None:
        if customer in self.account.paying:
            self.rewritten = self.rewritten_since_read = True
        self.account.customers.pop(customer)
        self.account.paying.discard(customer)

    def _cancel_subscription(self, customer: str, pick: int, *_: object) -> None:
        """Cancelled now (movements dated now, never in the past)."""
        del customer
        subscriptions = self.account.subscriptions
        if not subscriptions:
            return
        found = subscriptions.pop(pick % len(subscriptions))
        answer = self.account.api.patch(
            f"/import/subscriptions/{found}", json={"cancelled_at": self.account.stamp()}
        )
        # its customer may have been deleted meanwhile
        assert answer.status_code in {202, 404}, answer.text

    def _add_event(self, customer: str, pick: int, amount: int, *_: object) -> None:
        del pick
        self.account.event(customer, amount)

    def _update_event(self, customer: str, pick: int, amount: int, *_: object) -> None:
        del customer
        events = self.account.events
        if events:
            body = {
                "subscription_event": {"id": events[pick % len(events)], "amount_in_cents": amount}
            }
            self.account.patch("/subscription_events", body)

    def _disable_event(
        self, customer: str, pick: int, amount: int, months: int, flag: bool
    ) -> None:
        del customer, amount, months
        events = self.account.events
        if events:
            event = events[pick % len(events)]
            self.account.patch(f"/subscription_events/{event}/disabled_state", {"disabled": flag})

    def _delete_event(self, customer: str, pick: int, *_: object) -> None:
        del customer
        events = self.account.events
        if events:
            event = events.pop(pick % len(events))
            self.account.delete("/subscription_events", {"subscription_event": {"id": event}})

    def advance_clock(self, seconds: int) -> None:
        """Time passes (0: another change in the same second as the last run)."""
        self.steps.append(f"advance_clock({seconds})")
        self.account.set_clock(self.account.now + dt.timedelta(seconds=seconds))

    # ------------------------------------------------------------------ runs
    def incremental_run(self) -> None:
        report = run_extract(self.settings, self._options(self.warehouse, "inc"))
        self.pending = False
        self._check_counts(report)
        self._check_equals_full_refresh()

    def failing_run(self) -> None:
        """A stream fails: nothing of the run is loaded, no cursor moves."""
        before = self._snapshot_unless_pending()
        path = FAILING_PATHS[self.runs % len(FAILING_PATHS)]
        faults = {"error_rate": 1.0, "error_statuses": [500], "path_pattern": path}
        admin = f"{self.server.base_url}/_emulator/faults"
        httpx.put(admin, json=faults, timeout=30).raise_for_status()
        try:
            with pytest.raises(MogulsyncError):
                run_extract(self.settings, self._options(self.warehouse, "inc"))
        finally:
            httpx.delete(admin, timeout=30).raise_for_status()
        self.pending = False  # the run loaded what a crashed one had left first
        if before is not None:
            assert self._snapshot() == before

    def cancelled_run(self) -> None:
        """Stopped while fetching: nothing is loaded (or, stopped too late, all of it)."""
        before = self._snapshot_unless_pending()
        stop = threading.Event()
        pages = iter(range(self.runs % 5, -1, -1))

        def on_records(name: str, records: int) -> None:
            del name, records
            if next(pages, 0) == 0:
                stop.set()

        try:
            report = run_extract(
                self.settings,
                self._options(self.warehouse, "inc"),
                on_records=on_records,
                stop=stop,
            )
        except ExtractCancelledError:
            self.pending = False
            if before is not None:
                assert self._snapshot() == before
        else:
            self.pending = False
            self._check_counts(report)
            self._check_equals_full_refresh()

    def crashed_run(self) -> None:
        """Dies after dlt extracted the package, before the load: the next run loads it."""
        before = self._snapshot_unless_pending()

        def on_stage(stage: Stage) -> None:
            if stage == "extracted":
                raise _CrashError

        with pytest.raises(_CrashError):
            run_extract(self.settings, self._options(self.warehouse, "inc"), on_stage=on_stage)
        if before is not None:
            assert self._snapshot() == before
        self.pending = True

    def airbyte_read(self) -> None:
        """``read`` from the previous STATE emits what is new or changed since, then none."""
        current, _ = _airbyte_read(self.server, "full_refresh", None)
        emitted, states = _airbyte_read(self.server, "incremental", self.airbyte_state)
        for name in INCREMENTAL:
            changed = {
                key
                for key, data in current[name].items()
                if self.airbyte_seen[name].get(key) != data
            }
            if name == "activities" and self.rewritten_since_read:
                # rewritten past activities are not read again (docs/extract.md)
                assert set(emitted[name]) <= set(current[name]), name
            else:
                assert set(emitted[name]) == changed, name
        again, _ = _airbyte_read(self.server, "incremental", states)
        assert again == {name: {} for name in INCREMENTAL}
        self.airbyte_state = states
        self.airbyte_seen = current
        self.rewritten_since_read = False

    # ------------------------------------------------------------------ checks
    def _snapshot(self) -> Snapshot:
        return self.warehouse.snapshot() if self.warehouse.exists() else {}

    def _snapshot_unless_pending(self) -> Snapshot | None:
        """The warehouse now; None when a crashed run's package will load first."""
        return None if self.pending else self._snapshot()

    def _check_counts(self, report: ExtractReport) -> None:
        (load_id,) = report.load_ids
        snapshot = self._snapshot()
        for stream in report.streams:
            if stream.name in INCREMENTAL:
                landed = self.warehouse.loaded_rows(stream.name, load_id) if stream.records else 0
            else:
                landed = sum(snapshot.get(stream.name, {}).values())
            assert stream.records == landed, (stream.name, stream.records, landed)

    def _check_equals_full_refresh(self) -> None:
        if self.rewritten:
            # what docs/extract.md advises once past activities may have been rewritten
            run_extract(
                self.settings,
                self._options(self.warehouse, "inc", mode="overwrite", streams=("activities",)),
            )
            self.rewritten = False
        self.fulls += 1
        if self.warehouse.kind == "postgres":
            full = self._postgres_dataset("full")
        else:
            full = Warehouse(
                "duckdb", f"duckdb:///{self.root}/full{self.fulls}.duckdb", "chartmogul"
            )
        run_extract(self.settings, self._options(full, f"full{self.fulls}", mode="overwrite"))
        expected = full.snapshot()
        found = self._snapshot()
        assert found == expected, "\n".join(list(differences(found, expected))[:20])
        for name, key in INCREMENTAL.items():
            assert len(keys_of(found, name, key)) == sum(found.get(name, {}).values()), name

    @invariant()
    def clock_is_driven(self) -> None:
        assert self.server.emulator.clock() == self.account.now


def _run(machine: type[ExtractModel], examples: int, steps: int) -> None:
    config = settings(
        max_examples=examples,
        stateful_step_count=steps,
        deadline=None,
        derandomize=False,
        database=None,
        phases=(Phase.generate, Phase.shrink),
        suppress_health_check=list(HealthCheck),
        verbosity=Verbosity.verbose
        if os.environ.get("MOGULSYNC_MODEL_VERBOSE")
        else Verbosity.normal,
    )
    # the seed goes on the machine: hypothesis reads it from there (reproducible runs)
    run_state_machine_as_test(seed(SEED)(machine), settings=config)


def test_incremental_runs_end_where_a_full_refresh_would(postgres_server: PostgresServer) -> None:
    """Random changes and runs (DuckDB or PostgreSQL); see the module's docstring."""

    class Machine(ExtractModel):
        postgres = postgres_server

    _run(Machine, EXAMPLES, STEPS)

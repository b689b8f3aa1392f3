"""Every write a REST sync makes, with its answer lost once after ChartMogul applied it.

The emulator commits the write, then either resets the connection (``lost_response``) or
answers a gateway's 502/504 (``error_after_write``). Two ways on: the client retries within
the run (``retried``), or the call has a single attempt, the run ends, and the next run
sends the row again (``next_run``). Either way ChartMogul must end with exactly one record
holding the warehouse's values, and every row recorded as synced, with no row error.
"""

from __future__ import annotations

import collections
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pytest
from pydantic import SecretStr
from tests.integration.sync._support import (
    FAST_RETRY,
    all_pages,
    api,
    engine,
    errors_by_key,
    make_warehouse,
    project,
)

from mogulsync.chartmogul import ClientSettings, RetryPolicy
from mogulsync.config import AppConfig
from mogulsync.emulator.server import EmulatorServer
from mogulsync.emulator.settings import Faults, ScriptedFault
from mogulsync.runs import RunRecord
from mogulsync.sync.engine import SyncEngine
from mogulsync.sync.state import StateStore

pytestmark = pytest.mark.anyio

#: a line item and a payment with their own external ids: a re-sent invoice is refused on
#: all three ("external_id", "line_items.external_id", "transactions.external_id")
LINES = '[{"type":"one_time","amount_in_cents":1000,"external_id":"li-{n}"}]'
PAYMENTS = '[{"type":"payment","result":"successful","date":"2025-01-02","external_id":"pay-{n}"}]'
TABLES = [
    "create table accounts(id varchar, company varchar, seats integer)",
    "insert into accounts values ('a1','Acme',5),('a2','Beta',7)",
    "create table people(id varchar, account_id varchar, first_name varchar, email varchar)",
    "insert into people values ('p1','a1','Ann','ann@acme.io'),('p2','a2','Bob','bob@beta.io')",
    "create table plans(id varchar, name varchar, interval_count integer, interval_unit varchar)",
    "insert into plans values ('gold','Gold',1,'month'),('silver','Silver',1,'year')",
    (
        "create table invoices(id varchar, account_id varchar, invoice_date date,"
        " currency varchar, lines json, payments json)"
    ),
    "insert into invoices values "
    + ", ".join(
        f"('i{n}','a{n}',DATE '2025-01-01','USD',"
        f"'{LINES.replace('{n}', str(n))}','{PAYMENTS.replace('{n}', str(n))}')"
        for n in (1, 2)
    ),
    "create table txns(id varchar, invoice_id varchar, type varchar, result varchar, date date)",
    (
        "insert into txns values ('t1','i1','payment','successful',DATE '2025-01-02'),"
        " ('t2','i2','payment','successful',DATE '2025-01-02')"
    ),
]
MODELS = {
    "accounts": {"table": "accounts", "primary_key": "id"},
    "people": {"table": "people", "primary_key": "id"},
    "plans": {"table": "plans", "primary_key": "id"},
    "invoices": {"table": "invoices", "primary_key": "id"},
    "txns": {"table": "txns", "primary_key": "id"},
}
#: the answer lost after the write was applied: a reset, or a gateway's 5xx
FAULTS = [
    pytest.param({"fault": "lost_response"}, id="reset"),
    pytest.param({"fault": "error_after_write", "status": 502}, id="502"),
    pytest.param({"fault": "error_after_write", "status": 504}, id="504"),
]
#: who sends the row again: the client's retry, or the next run
MODES = ["retried", "next_run"]
ONE_ATTEMPT = RetryPolicy(
    max_attempts=1, max_total_s=30, initial_wait_s=0.01, max_wait_s=0.05, jitter_s=0.01
)


def _syncs(mode: str = "upsert", contacts_mode: str = "upsert") -> dict[str, Any]:
    return {
        "customers": {"model": "accounts", "object": "customer", "data_source": "W",
                      "mode": mode, "mapping": {"external_id": "id", "company": "company"},
                      "custom_attributes": ["seats"], "on_delete": "delete"},
        "contacts": {"model": "people", "object": "contact", "data_source": "W",
                     "mode": contacts_mode,
                     "mapping": {"external_id": "id", "customer_external_id": "account_id"},
                     "custom_attributes": "none", "on_delete": "delete"},
        "plans": {"model": "plans", "object": "plan", "data_source": "W", "mode": mode,
                  "mapping": {"external_id": "id"}, "on_delete": "delete"},
        "invoices": {"model": "invoices", "object": "invoice", "mode": "insert",
                     "data_source": "W",
                     "mapping": {"external_id": "id", "customer_external_id": "account_id",
                                 "date": "invoice_date"},
                     "line_items": {"column": "lines"}, "transactions_column": "payments",
                     "on_delete": "delete"},
        "txns": {"model": "txns", "object": "transaction", "mode": "insert", "data_source": "W",
                 "mapping": {"external_id": "id", "invoice_external_id": "invoice_id"}},
    }  # fmt: skip


@dataclass
class World:
    server: EmulatorServer
    tmp_path: Path
    config: AppConfig

    def sql(self, statement: str) -> None:
        db = duckdb.connect(str(self.tmp_path / "w.duckdb"))
        db.execute(statement)
        db.close()

    def script(self, fault: dict[str, Any], method: str, pattern: str) -> None:
        body = {**fault, "method": method, "path_pattern": pattern}
        with httpx.Client(base_url=f"{self.server.base_url}/_emulator", timeout=30) as admin:
            admin.post("/faults/script", json=[body]).raise_for_status()

    def injected(self) -> dict[str, int]:
        return dict(self.server.emulator.faults.injected)

    async def run(self, sync: str, *, attempts: RetryPolicy = FAST_RETRY) -> RunRecord:
        if attempts is FAST_RETRY:
            return await engine(self.config).run(sync, bulk=False)
        key = self.config.chartmogul.api_key.get_secret_value()
        settings = ClientSettings(
            api_key=SecretStr(key),
            base_url=self.config.chartmogul.base_url,
            rate_limit=10_000,
            max_in_flight=20,
            retry=attempts,
        )
        return await SyncEngine(self.config, settings=settings).run(sync, bulk=False)

    def listed(self, path: str, key: str) -> list[dict[str, Any]]:
        with api(self.server) as client:
            return all_pages(client, path, key)

    def one(self, path: str, key: str, external_id: str) -> dict[str, Any]:
        """The only record with this external id (fails on none or a duplicate)."""
        found = [item for item in self.listed(path, key) if item["external_id"] == external_id]
        assert len(found) == 1, found
        return found[0]

    def state_counts(self, sync: str) -> dict[str, int]:
        state = StateStore(self.config.state_dir)
        try:
            return state.counts(sync)
        finally:
            state.close()


def _world(server: EmulatorServer, tmp_path: Path, **modes: str) -> World:
    url = make_warehouse(tmp_path / "w.duckdb", TABLES)
    return World(server, tmp_path, project(server, tmp_path, url, MODELS, _syncs(**modes)))


async def _through(world: World, sync: str, mode: str) -> None:
    """Run ``sync`` with the fault scripted: retried in the run, or left to the next run."""
    if mode == "retried":
        record = await world.run(sync)
        assert record.status.value == "success", record.message
    else:
        first = await world.run(sync, attempts=ONE_ATTEMPT)
        assert first.status.value != "success", "the single attempt's answer was lost"
        record = await world.run(sync)
        assert record.status.value == "success", (record.message, _errors(world, record))
    assert sum(world.injected().values()) == 1, world.injected()
    assert _errors(world, record) == {}
    assert set(world.state_counts(sync)) == {"synced"}, world.state_counts(sync)


def _errors(world: World, record: RunRecord) -> dict[str, list[tuple[str, str, str]]]:
    return errors_by_key(world.tmp_path / "state", record)


async def _ready(world: World, *syncs: str) -> None:
    for sync in syncs:
        record = await world.run(sync)
        assert record.status.value == "success", record.message


# ---------------------------------------------------------------------- the writes
async def create_customer(world: World, fault: dict[str, Any], mode: str) -> None:
    world.script(fault, "POST", "^/v1/customers$")
    await _through(world, "customers", mode)
    customer = world.one("/customers", "entries", "a1")
    assert customer["company"] == "Acme"
    assert customer["attributes"]["custom"]["seats"] == 5
    world.one("/customers", "entries", "a2")


async def update_customer(world: World, fault: dict[str, Any], mode: str) -> None:
    await _ready(world, "customers")
    world.sql("update accounts set company = 'Acme Inc' where id = 'a1'")
    world.script(fault, "PATCH", "^/v1/customers/")
    await _through(world, "customers", mode)
    assert world.one("/customers", "entries", "a1")["company"] == "Acme Inc"


async def add_custom_attribute(world: World, fault: dict[str, Any], mode: str) -> None:
    await _ready(world, "customers")
    world.sql("update accounts set seats = 50 where id = 'a1'")
    world.script(fault, "POST", "/attributes/custom$")
    await _through(world, "customers", mode)
    assert world.one("/customers", "entries", "a1")["attributes"]["custom"]["seats"] == 50


async def delete_customer(world: World, fault: dict[str, Any], mode: str) -> None:
    await _ready(world, "customers")
    world.sql("delete from accounts where id = 'a2'")
    world.script(fault, "DELETE", "^/v1/customers/")
    await _through(world, "customers", mode)
    assert [c["external_id"] for c in world.listed("/customers", "entries")] == ["a1"]


async def create_contact(world: World, fault: dict[str, Any], mode: str) -> None:
    await _ready(world, "customers")
    world.script(fault, "POST", "^/v1/contacts$")
    await _through(world, "contacts", mode)
    assert world.one("/contacts", "entries", "p1")["customer_external_id"] == "a1"
    world.one("/contacts", "entries", "p2")


async def update_contact(world: World, fault: dict[str, Any], mode: str) -> None:
    await _ready(world, "customers", "contacts")
    world.sql("update people set first_name = 'Anne' where id = 'p1'")
    world.script(fault, "PATCH", "^/v1/contacts/")
    await _through(world, "contacts", mode)
    assert world.one("/contacts", "entries", "p1")["first_name"] == "Anne"


async def delete_contact(world: World, fault: dict[str, Any], mode: str) -> None:
    await _ready(world, "customers", "contacts")
    world.sql("delete from people where id = 'p2'")
    world.script(fault, "DELETE", "^/v1/contacts/")
    await _through(world, "contacts", mode)
    assert [c["external_id"] for c in world.listed("/contacts", "entries")] == ["p1"]


async def create_plan(world: World, fault: dict[str, Any], mode: str) -> None:
    world.script(fault, "POST", "^/v1/plans$")
    await _through(world, "plans", mode)
    assert world.one("/plans", "plans", "gold")["name"] == "Gold"
    world.one("/plans", "plans", "silver")


async def update_plan(world: World, fault: dict[str, Any], mode: str) -> None:
    await _ready(world, "plans")
    world.sql("update plans set name = 'Golden' where id = 'gold'")
    world.script(fault, "PATCH", "^/v1/plans/")
    await _through(world, "plans", mode)
    assert world.one("/plans", "plans", "gold")["name"] == "Golden"


async def delete_plan(world: World, fault: dict[str, Any], mode: str) -> None:
    await _ready(world, "plans")
    world.sql("delete from plans where id = 'silver'")
    world.script(fault, "DELETE", "^/v1/plans/")
    await _through(world, "plans", mode)
    assert [p["external_id"] for p in world.listed("/plans", "plans")] == ["gold"]


async def create_invoice(world: World, fault: dict[str, Any], mode: str) -> None:
    await _ready(world, "customers")
    world.script(fault, "POST", "^/v1/import/customers/[^/]+/invoices$")
    await _through(world, "invoices", mode)
    for n in (1, 2):
        invoice = world.one("/invoices", "invoices", f"i{n}")
        assert [item["external_id"] for item in invoice["line_items"]] == [f"li-{n}"]
        assert [t["external_id"] for t in invoice["transactions"]] == [f"pay-{n}"]


async def delete_invoice(world: World, fault: dict[str, Any], mode: str) -> None:
    await _ready(world, "customers", "invoices")
    world.sql("delete from invoices where id = 'i2'")
    world.script(fault, "DELETE", "^/v1/invoices/")
    await _through(world, "invoices", mode)
    assert [i["external_id"] for i in world.listed("/invoices", "invoices")] == ["i1"]


async def create_transaction(world: World, fault: dict[str, Any], mode: str) -> None:
    await _ready(world, "customers", "invoices")
    world.script(fault, "POST", "/transactions$")
    await _through(world, "txns", mode)
    for invoice in world.listed("/invoices", "invoices"):
        ids = [t["external_id"] for t in invoice["transactions"]]
        n = invoice["external_id"][1:]
        assert collections.Counter(ids) == {f"pay-{n}": 1, f"t{n}": 1}, invoice


async def create_data_source(world: World, fault: dict[str, Any], mode: str) -> None:
    world.script(fault, "POST", "^/v1/data_sources$")
    await _through(world, "plans", mode)
    assert [ds["name"] for ds in world.listed("/data_sources", "data_sources")] == ["W"]
    world.one("/plans", "plans", "gold")


WRITES: list[Callable[[World, dict[str, Any], str], Awaitable[None]]] = [
    create_data_source,
    create_customer,
    update_customer,
    add_custom_attribute,
    delete_customer,
    create_contact,
    update_contact,
    delete_contact,
    create_plan,
    update_plan,
    delete_plan,
    create_invoice,
    delete_invoice,
    create_transaction,
]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("write", WRITES, ids=lambda write: write.__name__)
async def test_a_lost_answer_leaves_one_record_and_a_synced_row(
    server: EmulatorServer,
    tmp_path: Path,
    write: Callable[[World, dict[str, Any], str], Awaitable[None]],
    fault: dict[str, Any],
    mode: str,
) -> None:
    """The write landed, its answer did not: one record, the row synced, no row error."""
    await write(_world(server, tmp_path), fault, mode)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("fault", FAULTS)
async def test_insert_mode_creates_survive_a_lost_answer(
    server: EmulatorServer, tmp_path: Path, fault: dict[str, Any], mode: str
) -> None:
    """Insert mode never updates, and must not call its own landed create "already exists"."""
    world = _world(server, tmp_path, mode="insert", contacts_mode="insert")
    await create_customer(world, fault, mode)
    server.emulator.faults.injected.clear()
    await create_plan(world, fault, mode)
    server.emulator.faults.injected.clear()
    await create_contact(world, fault, mode)


#: the GETs that look a lost create up (contacts: by email, unlike the listing before it)
LOOKUPS = {
    "customers": ("^/v1/customers$", "external_id="),
    "plans": ("^/v1/plans$", "external_id="),
    "contacts": ("^/v1/contacts$", "email="),
}


@pytest.mark.parametrize(
    ("sync", "path", "key", "external_id"),
    [
        ("customers", "/customers", "entries", "a1"),
        ("plans", "/plans", "plans", "gold"),
        ("contacts", "/contacts", "entries", "p1"),
    ],
    ids=["customer", "plan", "contact"],
)
async def test_a_lost_answer_then_rate_limited_lookups_keeps_the_row_in_flight(
    server: EmulatorServer, tmp_path: Path, sync: str, path: str, key: str, external_id: str
) -> None:
    """Insert mode. The create landed, its answer was lost, and every lookup that would
    have found it is answered 429 until the call's retries run out: the call ends on a
    429, which alone says "nothing happened". The row must stay in flight, so the next run
    finds the record; before the fix it was recorded failed, and every later run refused
    it as "already exists" (insert mode does not take over a record it did not send)."""
    world = _world(server, tmp_path, mode="insert", contacts_mode="insert")
    if sync == "contacts":
        await _ready(world, "customers")
    world.script({"fault": "lost_response"}, "POST", f"^/v1/{sync}$")
    lookup, query = LOOKUPS[sync]
    refusal = {"fault": "rate_limit", "method": "GET", "path_pattern": lookup}
    server.emulator.faults.faults.script.extend(
        ScriptedFault.model_validate({**refusal, "query_pattern": query}) for _ in range(500)
    )
    first = await world.run(sync)
    assert first.status.value == "partial", first.message
    assert server.emulator.faults.injected["lost_response"] == 1
    server.emulator.faults.configure(Faults())  # the refusals end
    assert world.state_counts(sync) == {"inflight": 1, "synced": 1}
    second = await world.run(sync)
    assert second.status.value == "success", (second.message, _errors(world, second))
    assert set(world.state_counts(sync)) == {"synced"}
    landed = [item["external_id"] for item in world.listed(path, key)]
    assert len(landed) == len(set(landed)) == 2, landed
    assert external_id in landed


@pytest.mark.parametrize(
    ("sync", "path", "key", "external_id"),
    [
        ("customers", "/customers", "entries", "a1"),
        ("plans", "/plans", "plans", "gold"),
        ("contacts", "/contacts", "entries", "p1"),
    ],
    ids=["customer", "plan", "contact"],
)
async def test_an_in_flight_row_refused_on_its_next_run_stays_in_flight(
    server: EmulatorServer, tmp_path: Path, sync: str, path: str, key: str, external_id: str
) -> None:
    """Insert mode. A run leaves a row in flight (its create landed, the answer was lost);
    the next run meets nothing but 429s for it: that says nothing about the record the
    first run may have created, so the row stays in flight and the run after finds it.
    Before the fix the 429 made it `failed`, and from then on insert mode refused it as
    "already exists", for ever."""
    world = _world(server, tmp_path, mode="insert", contacts_mode="insert")
    if sync == "contacts":
        await _ready(world, "customers")
    world.script({"fault": "lost_response"}, "POST", f"^/v1/{sync}$")
    first = await world.run(sync, attempts=ONE_ATTEMPT)
    assert first.status.value != "success"
    assert world.state_counts(sync)["inflight"] >= 1
    faults = server.emulator.faults
    faults.configure(Faults(rate_limit_rate=1.0, path_pattern=f"^/v1/(customers|{sync})"))
    refused = await world.run(sync)
    assert refused.status.value == "partial", refused.message
    faults.configure(Faults())
    assert world.state_counts(sync).get("failed", 0) == 0, world.state_counts(sync)
    last = await world.run(sync)
    assert last.status.value == "success", (last.message, _errors(world, last))
    assert set(world.state_counts(sync)) == {"synced"}
    landed = [item["external_id"] for item in world.listed(path, key)]
    assert len(landed) == len(set(landed)) == 2, landed
    assert external_id in landed


@pytest.mark.parametrize(
    ("fault", "landed"),
    [
        ({"fault": "lost_response"}, True),
        ({"fault": "error_after_write", "status": 504}, True),
        ({"fault": "error", "status": 503}, False),  # too many connections: nothing done
    ],
    ids=["reset", "504", "503"],
)
@pytest.mark.parametrize("write", ["create", "update"])
async def test_the_row_error_of_a_lost_answer_says_it_may_have_landed(
    server: EmulatorServer, tmp_path: Path, fault: dict[str, Any], landed: bool, write: str
) -> None:
    """The run ends before the row is settled: its row error must not read as "not in
    ChartMogul" when the write may be there (before: "not delivered" / "did not accept it
    in time", for a customer ChartMogul held)."""
    world = _world(server, tmp_path)
    if write == "update":
        await _ready(world, "customers")
        world.sql("update accounts set company = 'Acme Inc' where id = 'a1'")
    world.script(fault, "POST" if write == "create" else "PATCH", "^/v1/customers")
    first = await world.run("customers", attempts=ONE_ATTEMPT)
    assert first.status.value != "success"
    [(_, message, action)] = _errors(world, first)["a1"]
    assert ("may have landed" in message) is landed, message
    assert "retried on the next run" in action
    second = await world.run("customers")
    assert second.status.value == "success", second.message
    assert world.one("/customers", "entries", "a1")["company"] == (
        "Acme" if write == "create" else "Acme Inc"
    )

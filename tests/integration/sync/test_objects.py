"""Contacts, plans, invoices and transactions against the emulator over real HTTP."""

from __future__ import annotations

import json

import duckdb
import pytest
from tests.integration.sync._support import (
    all_pages,
    api,
    engine,
    errors_by_key,
    make_warehouse,
    project,
)

from mogulsync.reconcile import reconcile

pytestmark = pytest.mark.anyio

TABLES = [
    "create table accounts(id varchar, company varchar)",
    "insert into accounts values ('a1','Acme'),('a2','Beta')",
    "create table people(id varchar, account_id varchar, first_name varchar, email varchar)",
    (
        "insert into people values ('p1','a1','Ann','ann@acme.io'),('p2','a2','Bob','bob@beta.io'),"
        " ('p3','nope','Orphan','o@x.io')"
    ),
    "create table plans(id varchar, name varchar, interval_count integer, interval_unit varchar)",
    "insert into plans values ('gold','Gold',1,'month'),('silver','Silver',1,'year')",
    (
        "create table invoices(id varchar, account_id varchar, invoice_date date, currency varchar,"
        " lines json, payments json)"
    ),
    (
        "create table lines(invoice_id varchar, type varchar, plan_external_id varchar,"
        " subscription_external_id varchar, service_period_start date, service_period_end date,"
        " amount_in_cents integer, quantity integer)"
    ),
    "create table txns(id varchar, invoice_id varchar, type varchar, result varchar, date date)",
]
LINE = {
    "type": "subscription", "plan_external_id": "gold", "subscription_external_id": "s-a1",
    "service_period_start": "2025-01-01", "service_period_end": "2025-02-01",
    "amount_in_cents": 1000,
}  # fmt: skip


def _models():
    return {
        "accounts": {"table": "accounts", "primary_key": "id"},
        "people": {"table": "people", "primary_key": "id"},
        "plans": {"table": "plans", "primary_key": "id"},
        "invoices": {"table": "invoices", "primary_key": "id"},
        "lines": {"table": "lines", "primary_key": ["invoice_id", "subscription_external_id"]},
        "txns": {"table": "txns", "primary_key": "id"},
    }


def _syncs(**overrides):
    syncs = {
        "customers": {"model": "accounts", "object": "customer", "data_source": "W",
                      "mapping": {"external_id": "id", "name": "company"}},
        "contacts": {"model": "people", "object": "contact", "data_source": "W",
                     "mapping": {"external_id": "id", "customer_external_id": "account_id"},
                     "custom_attributes": "none"},
        "plans": {"model": "plans", "object": "plan", "data_source": "W",
                  "mapping": {"external_id": "id"}},
        "invoices": {"model": "invoices", "object": "invoice", "mode": "insert",
                     "data_source": "W",
                     "mapping": {"external_id": "id", "customer_external_id": "account_id",
                                 "date": "invoice_date"},
                     "line_items": {"column": "lines"}, "transactions_column": "payments"},
        "txns": {"model": "txns", "object": "transaction", "mode": "insert", "data_source": "W",
                 "mapping": {"external_id": "id", "invoice_external_id": "invoice_id"}},
    }  # fmt: skip
    for name, change in overrides.items():
        syncs[name] = {**syncs[name], **change}
    return syncs


def _sql(url: str, *statements: str) -> None:
    db = duckdb.connect(url.removeprefix("duckdb:///"))
    for statement in statements:
        db.execute(statement)
    db.close()


@pytest.fixture
def warehouse(tmp_path):
    return make_warehouse(tmp_path / "w.duckdb", TABLES)


async def test_contacts_need_their_customer_and_upsert_by_external_id(
    emulator_server, tmp_path, warehouse
):
    """Contacts land under their customer; a missing parent says to sync customers first."""
    config = project(emulator_server, tmp_path, warehouse, _models(), _syncs())
    early = await engine(config).run("contacts")
    assert early.status.value == "partial"  # completed; every row refused
    assert "Sync customers first" in str(errors_by_key(tmp_path / "state", early))
    await engine(config).run("customers")
    record = await engine(config).run("contacts")
    assert (record.status.value, record.rows.succeeded, record.rows.failed) == ("partial", 2, 1)
    errors = errors_by_key(tmp_path / "state", record)
    assert list(errors) == ["p3"]
    _sql(warehouse, "update people set first_name='Annie' where id='p1'")
    again = await engine(config).run("contacts")
    assert again.rows.changed == 1
    with api(emulator_server) as client:
        contacts = all_pages(client, "/contacts", "entries")
    assert sorted(c["first_name"] for c in contacts) == ["Annie", "Bob"]


async def test_contacts_insert_update_by_email_and_by_uuid(emulator_server, tmp_path, warehouse):
    """Contacts: insert never duplicates, update by email finds the parent's contact, uuid too."""
    insert = _syncs(contacts={"mode": "insert"})
    config = project(emulator_server, tmp_path, warehouse, _models(), insert)
    await engine(config).run("customers")
    await engine(config).run("contacts")
    _sql(warehouse, "update people set first_name='Changed' where id='p2'")
    again = await engine(config).run("contacts")
    assert again.rows.changed == 1
    with api(emulator_server) as client:
        contacts = all_pages(client, "/contacts", "entries")
    assert sorted(c["first_name"] for c in contacts) == ["Ann", "Bob"]  # insert never updates
    by_email = _syncs(
        contacts={
            "mode": "update",
            "match": "email",
            "mapping": {
                "customer_external_id": "account_id",
                "email": "email",
                "first_name": "first_name",
            },
        }
    )
    config = project(emulator_server, tmp_path / "e", warehouse, _models(), by_email)
    record = await engine(config).run("contacts")
    assert record.rows.succeeded == 2
    with api(emulator_server) as client:
        contacts = all_pages(client, "/contacts", "entries")
    assert sorted(c["first_name"] for c in contacts) == ["Ann", "Changed"]
    uuid = next(c["uuid"] for c in contacts if c["email"] == "ann@acme.io")
    _sql(warehouse, f"create table by_uuid as select '{uuid}' as cm, 'Ana' as first_name")
    models = {**_models(), "by_uuid": {"table": "by_uuid", "primary_key": "cm"}}
    syncs = {"c": {"model": "by_uuid", "object": "contact", "mode": "update", "match": "uuid",
                   "data_source": "W", "mapping": {"uuid": "cm"}}}  # fmt: skip
    config = project(emulator_server, tmp_path / "u", warehouse, models, syncs)
    assert (await engine(config).run("c")).status.value == "success"
    with api(emulator_server) as client:
        assert client.get(f"/contacts/{uuid}").json()["first_name"] == "Ana"


async def test_plans_insert_then_upsert(emulator_server, tmp_path, warehouse):
    """Plans are created, then updated by external id in upsert mode."""
    config = project(emulator_server, tmp_path, warehouse, _models(), _syncs())
    assert (await engine(config).run("plans")).rows.succeeded == 2
    _sql(warehouse, "update plans set name='Gold+' where id='gold'")
    record = await engine(config).run("plans")
    assert (record.rows.changed, record.rows.succeeded) == (1, 1)
    with api(emulator_server) as client:
        plans = {p["external_id"]: p for p in all_pages(client, "/plans", "plans")}
    assert plans["gold"]["name"] == "Gold+"
    assert len(plans) == 2


async def test_invoices_from_json_columns_with_inline_transactions(
    emulator_server, tmp_path, warehouse
):
    """Invoices import with JSON line items and payments; re-sending one is not a failure."""
    lines = json.dumps([LINE])
    pays = json.dumps([{"type": "payment", "result": "successful", "date": "2025-01-01",
                        "external_id": "pay-1"}])  # fmt: skip
    _sql(
        warehouse, f"insert into invoices values ('i1','a1','2025-01-01','USD','{lines}','{pays}')"
    )
    config = project(emulator_server, tmp_path, warehouse, _models(), _syncs())
    missing = await engine(config).run("invoices")
    assert "Sync customers first" in str(errors_by_key(tmp_path / "state", missing))
    await engine(config).run("customers")
    no_plan = await engine(config).run("invoices")
    assert "Sync plans first" in str(errors_by_key(tmp_path / "state", no_plan))
    await engine(config).run("plans")
    record = await engine(config).run("invoices")
    assert (record.status.value, record.rows.succeeded) == ("success", 1)
    # Forget the snapshot: the invoice is sent again and recognised as already delivered.
    fresh = project(emulator_server, tmp_path / "again", warehouse, _models(), _syncs())
    await engine(fresh).run("customers")
    await engine(fresh).run("plans")
    resent = await engine(fresh).run("invoices")
    assert (resent.status.value, resent.rows.succeeded, resent.rows.failed) == ("success", 1, 0)
    with api(emulator_server) as client:
        invoices = all_pages(client, "/invoices", "invoices")
    assert len(invoices) == 1
    assert invoices[0]["transactions"][0]["external_id"] == "pay-1"
    assert invoices[0]["line_items"][0]["amount_in_cents"] == 1000


async def test_invoices_from_child_model_and_transactions_sync(
    emulator_server, tmp_path, warehouse
):
    """Line items come from a child model joined on the invoice id; transactions attach later."""
    _sql(
        warehouse,
        "insert into invoices values ('i1','a1','2025-01-01','usd',null,null),"
        " ('i2','a2','2025-01-01','EUR',null,null)",
        "insert into lines values ('i1','subscription','gold','s1','2025-01-01','2025-02-01',500,2),"
        " ('i1','one_time',null,'x','2025-01-01','2025-01-02',50,1),"
        " ('i2','subscription','silver','s2','2025-01-01','2026-01-01',9000,1)",
        "insert into txns values ('t1','i1','payment','successful','2025-01-02'),"
        " ('t2','i404','payment','successful','2025-01-02')",
    )
    syncs = _syncs(invoices={"line_items": {"model": "lines", "join_key": "invoice_id"},
                             "transactions_column": None})  # fmt: skip
    config = project(emulator_server, tmp_path, warehouse, _models(), syncs)
    for name in ("customers", "plans", "invoices"):
        assert (await engine(config).run(name)).status.value == "success"
    record = await engine(config).run("txns")
    assert (record.rows.succeeded, record.rows.failed) == (1, 1)
    assert "Sync invoices first" in str(errors_by_key(tmp_path / "state", record)["t2"])
    with api(emulator_server) as client:
        invoices = {i["external_id"]: i for i in all_pages(client, "/invoices", "invoices")}
    assert len(invoices["i1"]["line_items"]) == 2
    assert invoices["i1"]["currency"] == "USD"
    assert [t["external_id"] for t in invoices["i1"]["transactions"]] == ["t1"]


async def test_transactions_name_their_invoice_by_chartmogul_uuid(
    emulator_server, tmp_path, warehouse
):
    """A transaction row may name its invoice by uuid (as Hightouch's do): lands once, reconciles."""
    _sql(
        warehouse,
        "insert into invoices values ('i1','a1','2025-01-01','USD',null,null)",
        "insert into lines values ('i1','one_time',null,'x','2025-01-01','2025-01-02',50,1)",
    )
    syncs = _syncs(invoices={"line_items": {"model": "lines", "join_key": "invoice_id"},
                             "transactions_column": None})  # fmt: skip
    config = project(emulator_server, tmp_path, warehouse, _models(), syncs)
    for name in ("customers", "invoices"):
        assert (await engine(config).run(name)).status.value == "success"
    with api(emulator_server) as client:
        [invoice] = all_pages(client, "/invoices", "invoices")
    _sql(
        warehouse,
        "create table by_uuid(id varchar, inv varchar, type varchar, result varchar, date date)",
        f"insert into by_uuid values ('t1','{invoice['uuid']}','payment','successful','2025-01-02'),"
        " ('t2','inv_00000000-0000-0000-0000-000000000000','payment','successful','2025-01-02'),"
        " ('t3','cus_not-an-invoice','refund','successful','2025-01-03')",
    )
    models = {**_models(), "by_uuid": {"table": "by_uuid", "primary_key": "id"}}
    syncs["tu"] = {"model": "by_uuid", "object": "transaction", "mode": "insert",
                   "data_source": "W", "mapping": {"external_id": "id", "invoice_uuid": "inv"}}  # fmt: skip
    config = project(emulator_server, tmp_path, warehouse, models, syncs)
    record = await engine(config).run("tu")
    assert (record.rows.succeeded, record.rows.failed) == (1, 2)
    errors = errors_by_key(tmp_path / "state", record)
    assert "no invoice 'inv_00000000" in str(errors["t2"])
    assert "invoice_uuid" in str(errors["t2"])
    assert "not a ChartMogul inv" in str(errors["t3"])
    # Forget the snapshot: the transaction is sent again and recognised as delivered.
    fresh = project(emulator_server, tmp_path / "again", warehouse, models, syncs)
    resent = await engine(fresh).run("tu")
    assert (resent.rows.succeeded, resent.rows.failed) == (1, 2)
    with api(emulator_server) as client:
        [invoice] = all_pages(client, "/invoices", "invoices")
    assert [t["external_id"] for t in invoice["transactions"]] == ["t1"]
    report = await reconcile(config, "tu")
    assert (report.in_both, report.drifted, report.missing, report.extra) == (1, 0, 1, 0)
    assert report.missing_samples == ["t2"]

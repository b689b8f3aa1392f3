"""The bulk JSON import path against the emulator over real HTTP: loads, upserts, errors."""

from __future__ import annotations

import collections

import pytest
from tests.integration.sync._bulk_support import (
    IMPORT_ENDPOINT,
    PLANS,
    billing_project,
    billing_warehouse,
    bulk_engine,
    calls_without_polls,
    endpoint_calls,
)
from tests.integration.sync._support import all_pages, api, errors_by_key, make_warehouse

from mogulsync.sync.plan import plan_sync

pytestmark = pytest.mark.anyio
CUSTOMERS = 150
INVOICES_PER_CUSTOMER = 2


async def test_initial_load_goes_through_bulk_imports(server, tmp_path):
    """Plans, customers, then invoices land in < rows/20 calls (import-status polls aside)."""
    url = billing_warehouse(tmp_path, CUSTOMERS, INVOICES_PER_CUSTOMER)
    config = billing_project(server, tmp_path, url)
    engine = bulk_engine(config)
    records = [await engine.run(name) for name in ("plans", "customers", "invoices")]

    rows = PLANS + CUSTOMERS + CUSTOMERS * INVOICES_PER_CUSTOMER
    assert [r.status.value for r in records] == ["success"] * 3
    assert sum(r.rows.succeeded for r in records) == rows
    # the client counts every call it made, and the emulator saw every one of them
    assert sum(r.api_calls for r in records) == sum(endpoint_calls(server).values())
    calls = calls_without_polls(server)
    assert calls < rows / 20, calls
    assert endpoint_calls(server)[IMPORT_ENDPOINT] >= 3
    with api(server) as client:
        customers = all_pages(client, "/customers", "entries")
        invoices = all_pages(client, "/invoices", "invoices")
        plans = all_pages(client, "/plans", "plans")
    assert len(plans) == PLANS
    by_id = {c["external_id"]: c for c in customers}
    assert len(customers) == len(by_id) == CUSTOMERS
    assert by_id["acct-7"]["company"] == "Company 7"
    assert len(invoices) == CUSTOMERS * INVOICES_PER_CUSTOMER
    invoice = next(i for i in invoices if i["external_id"] == "inv-7-1")
    assert invoice["customer_uuid"] == by_id["acct-7"]["uuid"]
    [item] = invoice["line_items"]
    assert (item["amount_in_cents"], item["subscription_external_id"]) == (1007, "sub-7")
    assert item["plan_uuid"] == next(p["uuid"] for p in plans if p["external_id"] == "plan-7")
    assert [t["external_id"] for t in invoice["transactions"]] == ["tr-7-1"]


async def test_rerun_after_bulk_load_sends_nothing_and_updates_by_external_id(server, tmp_path):
    """Imported rows (uuid unknown) are unchanged next run; a changed one is updated via REST."""
    url = billing_warehouse(tmp_path, CUSTOMERS, 1)
    config = billing_project(server, tmp_path, url)
    first = await bulk_engine(config).run("customers")
    assert first.rows.succeeded == CUSTOMERS
    again = await bulk_engine(config).run("customers")
    assert (again.rows.unchanged, again.api_calls) == (CUSTOMERS, 1)  # data source lookup only

    import duckdb

    db = duckdb.connect(str(tmp_path / "w.duckdb"))
    db.execute("update accounts set company = 'Renamed' where id = 'acct-3'")
    db.close()
    changed = await bulk_engine(config).run("customers")
    assert (changed.status.value, changed.rows.changed) == ("success", 1)
    with api(server) as client:
        found = client.get("/customers", params={"external_id": "acct-3"}).json()["entries"]
    assert [c["company"] for c in found] == ["Renamed"]


async def test_no_bulk_sends_one_request_per_row(server, tmp_path):
    """``bulk=False`` keeps the REST path: no import, at least one call per row."""
    url = billing_warehouse(tmp_path, CUSTOMERS, 1)
    config = billing_project(server, tmp_path, url)
    record = await bulk_engine(config).run("customers", bulk=False)
    assert (record.status.value, record.rows.succeeded) == ("success", CUSTOMERS)
    assert record.api_calls >= CUSTOMERS
    assert IMPORT_ENDPOINT not in endpoint_calls(server)


async def test_bulk_off_in_the_sync_config_forces_rest(server, tmp_path):
    """``bulk: off`` on a sync sends its rows over REST even on a large initial load."""
    url = billing_warehouse(tmp_path, CUSTOMERS, 1)
    config = billing_project(server, tmp_path, url, customers={"bulk": "off"})
    record = await bulk_engine(config).run("customers")
    assert record.rows.succeeded == CUSTOMERS
    assert IMPORT_ENDPOINT not in endpoint_calls(server)


async def test_upsert_updates_existing_customers_over_rest(server, tmp_path):
    """Customers that already exist are updated (not silently reused); new ones imported."""
    url = billing_warehouse(tmp_path, CUSTOMERS, 1)
    config = billing_project(server, tmp_path, url)
    with api(server) as client:
        ds = client.post("/data_sources", json={"name": "W"}).json()["uuid"]
        for i in range(10):
            client.post(
                "/customers",
                json={"data_source_uuid": ds, "external_id": f"acct-{i}", "company": "Old"},
            ).raise_for_status()
    before = calls_without_polls(server)
    record = await bulk_engine(config).run("customers")
    assert (record.status.value, record.rows.succeeded) == ("success", CUSTOMERS)
    # 10 REST updates by uuid, the data source's listing, the import (polls aside)
    assert calls_without_polls(server) - before < CUSTOMERS / 3
    with api(server) as client:
        customers = all_pages(client, "/customers", "entries")
    counts = collections.Counter(c["external_id"] for c in customers)
    assert len(counts) == CUSTOMERS
    assert max(counts.values()) == 1
    assert {c["company"] for c in customers if c["external_id"] == "acct-4"} == {"Company 4"}


async def test_insert_mode_reports_existing_customers(server, tmp_path):
    """In insert mode a customer that already exists is a row error, the rest import."""
    url = billing_warehouse(tmp_path, CUSTOMERS, 1)
    config = billing_project(server, tmp_path, url, customers={"mode": "insert"})
    with api(server) as client:
        ds = client.post("/data_sources", json={"name": "W"}).json()["uuid"]
        client.post(
            "/customers", json={"data_source_uuid": ds, "external_id": "acct-5", "company": "X"}
        ).raise_for_status()
    record = await bulk_engine(config).run("customers")
    assert (record.rows.succeeded, record.rows.failed) == (CUSTOMERS - 1, 1)
    errors = errors_by_key(tmp_path / "state", record)
    assert list(errors) == ["acct-5"]
    assert "already exists" in errors["acct-5"][0][1]


async def test_one_bad_invoice_fails_alone_with_its_message(server, tmp_path):
    """An invoice naming an unknown plan fails with that reason; its neighbours import."""
    url = billing_warehouse(tmp_path, CUSTOMERS, 1)
    import duckdb

    db = duckdb.connect(str(tmp_path / "w.duckdb"))
    db.execute(
        "update invoices set lines = replace(lines::varchar, 'plan-9\"', 'plan-missing\"')::json"
        " where id = 'inv-9-0'"
    )
    db.close()
    config = billing_project(server, tmp_path, url)
    engine = bulk_engine(config)
    for name in ("plans", "customers"):
        assert (await engine.run(name)).status.value == "success"
    before = calls_without_polls(server)
    record = await engine.run("invoices")
    assert (record.rows.succeeded, record.rows.failed) == (CUSTOMERS - 1, 1)
    errors = errors_by_key(tmp_path / "state", record)
    assert list(errors) == ["inv-9-0"]
    field, message, action = errors["inv-9-0"][0]
    assert field == "line_items[0].plan_external_id"
    assert "Plan not found" in message
    assert "Sync plans first" in action
    assert calls_without_polls(server) - before < CUSTOMERS / 20
    with api(server) as client:
        landed = {i["external_id"] for i in all_pages(client, "/invoices", "invoices")}
    assert len(landed) == CUSTOMERS - 1
    assert "inv-9-0" not in landed


async def test_invoices_of_missing_customers_fail_with_the_fix(server, tmp_path):
    """Without the customer sync, every invoice row says to sync customers first."""
    url = billing_warehouse(tmp_path, CUSTOMERS, 1)
    config = billing_project(server, tmp_path, url)
    engine = bulk_engine(config)
    await engine.run("plans")
    record = await engine.run("invoices")
    # completed with every row refused: partial (failed means the run could not complete)
    assert (record.status.value, record.rows.failed) == ("partial", CUSTOMERS)
    errors = errors_by_key(tmp_path / "state", record)
    field, _, action = errors["inv-3-0"][0]
    assert field == "customer_external_id"
    assert "Sync customers first" in action
    await engine.run("customers")
    retried = await engine.run("invoices")
    assert (retried.status.value, retried.rows.succeeded) == ("success", CUSTOMERS)


async def test_plan_counts_bulk_creates(server, tmp_path):
    """``sync plan`` says how many creates would go through the bulk import."""
    url = billing_warehouse(tmp_path, CUSTOMERS, 1)
    config = billing_project(server, tmp_path, url)
    settings = bulk_engine(config).settings
    result = await plan_sync(config, "customers", settings)
    assert (result.counts["creates"], result.bulk_creates) == (CUSTOMERS, CUSTOMERS)
    small = make_warehouse(
        tmp_path / "small.duckdb",
        [
            "create table accounts(id varchar, company varchar, city varchar)",
            "insert into accounts values ('a', 'A', 'X')",
        ],
    )
    few = await plan_sync(billing_project(server, tmp_path, small), "customers", settings)
    assert (few.counts["creates"], few.bulk_creates) == (1, 0)

"""Records deleted in ChartMogul by someone else while the uuid registry still names them.

The invoice and transaction syncs name a row's plans, customer and invoice by the uuids the
registry remembers. When the record behind one is gone, ChartMogul refuses the row on a field
the user never mapped (``line_items.plan_uuid``): the sync forgets the stale uuid, looks the
record up again by external id and retries the row once.
"""

from __future__ import annotations

import json

import pytest
from tests.integration.sync._revenue_support import LINE, TABLES, revenue_project, sql
from tests.integration.sync._support import (
    all_pages,
    api,
    engine,
    errors_by_key,
    make_warehouse,
)

from mogulsync.reconcile import reconcile

pytestmark = pytest.mark.anyio


def _invoice(url: str, key: str, lines: list[dict[str, object]], customer: str = "c1") -> None:
    sql(url, f"insert into invoices values ('{key}', '{customer}', '2025-01-05', 'USD',"
              f" '{json.dumps(lines)}')")  # fmt: skip


async def _synced(config, *names: str) -> None:
    for name in names:
        assert (await engine(config).run(name)).status.value == "success", name


def _delete(server, path: str, key: str, external_id: str) -> None:
    """Someone deletes the record in ChartMogul (not through the sync)."""
    with api(server) as client:
        (found,) = [r for r in all_pages(client, path, key) if r["external_id"] == external_id]
        client.delete(f"{path}/{found['uuid']}").raise_for_status()


async def test_an_invoice_naming_a_plan_deleted_in_chartmogul_says_so(emulator_server, tmp_path):
    """The registry's plan uuid is gone: the row fails naming the plan and the fix."""
    url = make_warehouse(tmp_path / "w.duckdb", TABLES)
    config = revenue_project(emulator_server, tmp_path, url, plans={"mode": "insert"})
    # no invoice in ChartMogul uses the plan yet: ChartMogul refuses to delete a plan in use
    await _synced(config, "customers", "plans")
    _delete(emulator_server, "/plans", "plans", "gold")
    _invoice(url, "i2", [{**LINE, "subscription_external_id": "s-2"}])
    record = await engine(config).run("invoices", bulk=False)
    errors = errors_by_key(tmp_path / "state", record)
    (field, message, action), *_ = errors["i2"]
    assert (field, len(errors["i2"])) == ("line_items[0].plan_external_id", 1)
    assert "gold" in message
    assert "deleted" in message
    assert "mogulsync reconcile plans --adopt" in action
    assert "mogulsync sync run plans" in action
    # the fix it names works (a plain plan sync would not: its snapshot has gold as synced)
    await reconcile(config, "plans", adopt=True)
    await _synced(config, "plans", "invoices")


async def test_an_invoice_naming_a_plan_recreated_in_chartmogul_lands_on_it(
    emulator_server, tmp_path
):
    """The plan was deleted and created again (a new uuid): the row is retried on it."""
    url = make_warehouse(tmp_path / "w.duckdb", TABLES)
    config = revenue_project(emulator_server, tmp_path, url, plans={"mode": "insert"})
    # no invoice in ChartMogul uses the plan yet: ChartMogul refuses to delete a plan in use
    await _synced(config, "customers", "plans")
    _delete(emulator_server, "/plans", "plans", "gold")
    with api(emulator_server) as client:
        (source,) = client.get("/data_sources").json()["data_sources"]
        body = {"data_source_uuid": source["uuid"], "external_id": "gold", "name": "Gold",
                "interval_count": 1, "interval_unit": "month"}  # fmt: skip
        new_uuid = client.post("/plans", json=body).json()["uuid"]
    _invoice(url, "i2", [{**LINE, "subscription_external_id": "s-2"}])
    record = await engine(config).run("invoices", bulk=False)
    assert (record.status.value, record.rows.succeeded) == ("success", 2)
    with api(emulator_server) as client:
        invoices = {i["external_id"]: i for i in all_pages(client, "/invoices", "invoices")}
    assert [invoices[key]["line_items"][0]["plan_uuid"] for key in ("i1", "i2")] == [new_uuid] * 2


async def test_an_invoice_of_a_customer_deleted_in_chartmogul_says_so(emulator_server, tmp_path):
    """The registry's customer uuid is gone: the row names the customer and the fix."""
    url = make_warehouse(tmp_path / "w.duckdb", TABLES)
    config = revenue_project(emulator_server, tmp_path, url, plans={"mode": "insert"})
    await _synced(config, "customers", "plans", "invoices")
    _delete(emulator_server, "/customers", "entries", "c1")
    _invoice(url, "i2", [{**LINE, "subscription_external_id": "s-2"}])
    record = await engine(config).run("invoices", bulk=False)
    errors = errors_by_key(tmp_path / "state", record)
    assert [field for field, _, _ in errors["i2"]] == ["customer_external_id"]
    _, message, action = errors["i2"][0]
    assert "'c1' was deleted in ChartMogul" in message
    assert "mogulsync reconcile customers --adopt" in action
    await reconcile(config, "customers", adopt=True)
    await _synced(config, "customers", "invoices")


async def test_a_transaction_of_an_invoice_deleted_in_chartmogul(emulator_server, tmp_path):
    """The registry's invoice uuid is gone: looked up again; re-created, the row lands on it."""
    url = make_warehouse(tmp_path / "w.duckdb", TABLES)
    config = revenue_project(emulator_server, tmp_path, url, plans={"mode": "insert"})
    sql(url, "insert into txns values ('t1', 'i1', 'payment', 'successful', '2025-01-02')")
    await _synced(config, "customers", "plans", "invoices", "txns")
    _delete(emulator_server, "/invoices", "invoices", "i1")
    sql(url, "insert into txns values ('t2', 'i1', 'payment', 'successful', '2025-01-03')")
    record = await engine(config).run("txns", bulk=False)
    errors = errors_by_key(tmp_path / "state", record)
    assert [field for field, _, _ in errors["t2"]] == ["invoice_external_id"]
    assert "'i1' was deleted in ChartMogul" in errors["t2"][0][1]
    assert "mogulsync reconcile invoices --adopt" in errors["t2"][0][2]
    # the documented fix: reconcile --adopt finds i1 missing, the invoice sync re-creates it
    await reconcile(config, "invoices", adopt=True)
    await _synced(config, "invoices", "txns")
    with api(emulator_server) as client:
        (invoice,) = all_pages(client, "/invoices", "invoices")
    assert sorted(t["external_id"] for t in invoice["transactions"]) == ["t2"]

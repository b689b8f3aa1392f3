"""Defects the revenue model-based test (test_model_revenue.py) found, each pinned by a test."""

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

pytestmark = pytest.mark.anyio


def _deleting_project(server, tmp_path, url):
    """The revenue syncs, plans and invoices deleting what leaves their model."""
    deleting = {"on_delete": "delete"}
    return revenue_project(server, tmp_path, url, plans=deleting, invoices=deleting)


async def test_a_plan_the_sync_deleted_is_not_named_by_its_old_uuid(emulator_server, tmp_path):
    """A line item naming a plan the plans sync deleted: "Sync plans first", not its old uuid.

    Found as: plans sync creates gold, invoices sync imports i1 (the registry learns gold's
    uuid), gold leaves the model and the plans sync (on_delete: delete) deletes it, a new
    invoice names gold -> the invoice was imported with gold's remembered uuid and refused
    by ChartMogul on ``invoices[i2].line_items.plan_uuid`` (a field the sync never maps).
    Cause: deleting a record did not forget its uuid in the registry. (ChartMogul deletes
    a plan only once no invoice uses it, so i1 goes first.)
    """
    url = make_warehouse(tmp_path / "w.duckdb", TABLES)
    config = _deleting_project(emulator_server, tmp_path, url)
    for name in ("customers", "plans", "invoices"):
        assert (await engine(config).run(name)).status.value == "success"
    sql(url, "delete from invoices")
    assert (await engine(config).run("invoices")).rows.removed == 1
    sql(url, "delete from plans")
    assert (await engine(config).run("plans")).rows.removed == 1
    line = json.dumps([{**LINE, "subscription_external_id": "s-2"}])
    sql(url, f"insert into invoices values ('i2', 'c1', '2025-01-05', 'USD', '{line}')")
    record = await engine(config).run("invoices", bulk=False)
    errors = errors_by_key(tmp_path / "state", record)
    assert [field for field, _, _ in errors["i2"]] == ["line_items[0].plan_external_id"]
    assert "Sync plans first" in errors["i2"][0][2]
    # the plan comes back (a new uuid): the invoice lands on it
    sql(url, "insert into plans values ('gold', 'Gold', 1, 'month')")
    await engine(config).run("plans")
    assert (await engine(config).run("invoices")).status.value == "success"
    with api(emulator_server) as client:
        (plan,) = all_pages(client, "/plans", "plans")
        invoices = {i["external_id"]: i for i in all_pages(client, "/invoices", "invoices")}
    assert invoices["i2"]["line_items"][0]["plan_uuid"] == plan["uuid"]


async def test_a_plan_invoices_use_is_kept_until_they_go(emulator_server, tmp_path):
    """ChartMogul deletes a plan only when no subscription or invoice uses it: the plans
    sync's delete is a failed row naming why, the plan stays, and a later run deletes it
    once the invoices are gone (the emulator deleted it at once and left i1 naming no plan).
    """
    url = make_warehouse(tmp_path / "w.duckdb", TABLES)
    config = _deleting_project(emulator_server, tmp_path, url)
    for name in ("customers", "plans", "invoices"):
        assert (await engine(config).run(name)).status.value == "success"
    sql(url, "delete from plans")
    refused = await engine(config).run("plans")
    assert (refused.status.value, refused.rows.removed, refused.rows.failed) == ("partial", 1, 1)
    ((field, message, _),) = errors_by_key(tmp_path / "state", refused)["gold"]
    assert field == "plan_uuid"
    assert "used by subscriptions or invoices" in message
    assert "1 invoice line item" in message
    with api(emulator_server) as client:
        assert [p["external_id"] for p in all_pages(client, "/plans", "plans")] == ["gold"]
    again = await engine(config).run("plans")  # still used: refused again, not forgotten
    assert (again.rows.removed, again.rows.failed) == (1, 1)
    sql(url, "delete from invoices")
    assert (await engine(config).run("invoices")).rows.removed == 1
    done = await engine(config).run("plans")
    assert (done.status.value, done.rows.removed, done.rows.failed) == ("success", 1, 0)
    with api(emulator_server) as client:
        assert all_pages(client, "/plans", "plans") == []


async def test_an_invoice_the_sync_deleted_is_not_named_by_its_old_uuid(emulator_server, tmp_path):
    """A transaction naming an invoice the invoices sync deleted: "Sync invoices first".

    The same cause as above, for invoices: the transactions sync learnt i1's uuid, the
    invoices sync deleted i1, and a new transaction was sent to the deleted invoice's uuid.
    """
    url = make_warehouse(tmp_path / "w.duckdb", TABLES)
    config = _deleting_project(emulator_server, tmp_path, url)
    sql(url, "insert into txns values ('t1', 'i1', 'payment', 'successful', '2025-01-02')")
    for name in ("customers", "plans", "invoices", "txns"):
        assert (await engine(config).run(name)).status.value == "success"
    sql(url, "delete from invoices")
    assert (await engine(config).run("invoices")).rows.removed == 1
    sql(url, "insert into txns values ('t2', 'i1', 'payment', 'successful', '2025-01-03')")
    record = await engine(config).run("txns", bulk=False)
    errors = errors_by_key(tmp_path / "state", record)
    assert [field for field, _, _ in errors["t2"]] == ["invoice_external_id"]
    assert "Sync invoices first" in errors["t2"][0][2]

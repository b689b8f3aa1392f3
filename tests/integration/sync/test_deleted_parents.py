"""A plan our sync delivered, then deleted in ChartMogul by someone else.

Over the bulk import (which names plans by external id) the row says the plan was deleted
in ChartMogul and gives the reconcile --adopt fix, as the REST path does; and the message
stays right on later runs (a tombstone in the registry), until the plan is seen again.
"""

from __future__ import annotations

import pytest
from tests.integration.sync._bulk_support import (
    IMPORT_ENDPOINT,
    billing_project,
    billing_warehouse,
    bulk_engine,
    endpoint_calls,
)
from tests.integration.sync._support import all_pages, api, engine, errors_by_key

from mogulsync.reconcile import reconcile
from mogulsync.sync.state import StateStore

pytestmark = pytest.mark.anyio


def _delete_plan(server, external_id: str) -> None:
    """Someone deletes the plan in ChartMogul (not through the sync)."""
    with api(server) as client:
        (plan,) = [
            p for p in all_pages(client, "/plans", "plans") if p["external_id"] == external_id
        ]
        client.delete(f"/plans/{plan['uuid']}").raise_for_status()


async def _delivered_then_deleted(server, tmp_path):
    """Three customers with one invoice each (on plan-0, -1, -2); plan-1 deleted behind us."""
    url = billing_warehouse(tmp_path, 3, 1)
    config = billing_project(server, tmp_path, url)
    for name in ("customers", "plans"):  # over REST: the registry learns the plans' uuids
        assert (await engine(config).run(name, bulk=False)).status.value == "success"
    # no invoice uses plan-1 yet: ChartMogul refuses to delete a plan in use
    _delete_plan(server, "plan-1")
    return config


def _tombstone(config, external_id: str = "plan-1") -> str | None:
    """The uuid the registry keeps of a plan found deleted in ChartMogul."""
    state = StateStore(config.state_dir)
    try:
        (source,) = {row[0] for row in state._db.execute("SELECT data_source_uuid FROM registry")}
        return state.known_uuid("plan:deleted", source, external_id)
    finally:
        state.close()


def _says_deleted(errors, key: str = "inv-1-0") -> None:
    ((field, message, action),) = errors[key]
    assert field == "line_items[0].plan_external_id"
    assert "the plan with external_id 'plan-1' was deleted in ChartMogul" in message
    assert "mogulsync reconcile plans --adopt" in action
    assert "mogulsync sync run plans" in action


async def test_a_bulk_invoice_naming_a_plan_deleted_in_chartmogul_says_so(server, tmp_path):
    """Not "Sync plans first" (the plan sync did deliver it): deleted, and the fix."""
    config = await _delivered_then_deleted(server, tmp_path)
    record = await bulk_engine(config, min_rows=1).run("invoices")
    assert endpoint_calls(server)[IMPORT_ENDPOINT] == 1  # the bulk import refused the row
    assert (record.rows.succeeded, record.rows.failed) == (2, 1)
    errors = errors_by_key(tmp_path / "state", record)
    _says_deleted(errors)
    # later runs say so too (the registry keeps a tombstone)
    record = await bulk_engine(config, min_rows=1).run("invoices")
    assert endpoint_calls(server)[IMPORT_ENDPOINT] == 2
    _says_deleted(errors_by_key(tmp_path / "state", record))
    # the fix it names works; the tombstone goes once the plan is seen again
    await reconcile(config, "plans", adopt=True)
    for name in ("plans", "invoices"):
        assert (await bulk_engine(config, min_rows=1).run(name)).status.value == "success"


async def test_over_rest_later_runs_still_say_the_plan_was_deleted(server, tmp_path):
    """The first run finds the uuid stale and forgets it; later runs still name the cause."""
    config = await _delivered_then_deleted(server, tmp_path)
    for landed in (2, 0):
        record = await engine(config).run("invoices", bulk=False)
        assert (record.rows.succeeded, record.rows.failed) == (landed, 1)
        _says_deleted(errors_by_key(tmp_path / "state", record))


async def test_a_plan_recreated_in_chartmogul_clears_the_tombstone(server, tmp_path):
    """Created again by hand (found by external id): the row lands, the message is gone."""
    config = await _delivered_then_deleted(server, tmp_path)
    record = await engine(config).run("invoices", bulk=False)
    _says_deleted(errors_by_key(tmp_path / "state", record))
    assert (_tombstone(config) or "").startswith("pl_")
    with api(server) as client:
        (source,) = client.get("/data_sources").json()["data_sources"]
        body = {"data_source_uuid": source["uuid"], "external_id": "plan-1", "name": "Plan 1",
                "interval_count": 1, "interval_unit": "month"}  # fmt: skip
        client.post("/plans", json=body).raise_for_status()
    record = await engine(config).run("invoices", bulk=False)
    assert (record.status.value, record.rows.succeeded) == ("success", 1)
    assert _tombstone(config) is None


async def test_a_plan_never_delivered_still_says_sync_plans_first(server, tmp_path):
    """No registry entry, no tombstone: the bulk row keeps ChartMogul's own answer."""
    url = billing_warehouse(tmp_path, 3, 1)
    config = billing_project(server, tmp_path, url)
    assert (await engine(config).run("customers", bulk=False)).status.value == "success"
    record = await bulk_engine(config, min_rows=1).run("invoices")
    errors = errors_by_key(tmp_path / "state", record)
    assert sorted(errors) == ["inv-0-0", "inv-1-0", "inv-2-0"]
    for (field, message, action), *_ in errors.values():
        assert field == "line_items[0].plan_external_id"
        assert "deleted" not in message
        assert "Sync plans first" in action


async def test_a_bulk_invoice_of_a_customer_deleted_in_chartmogul_says_so_every_run(
    server, tmp_path
):
    """The customer's cause and fix stay in the message on later runs (bulk path)."""
    url = billing_warehouse(tmp_path, 3, 1)
    config = billing_project(server, tmp_path, url)
    for name in ("customers", "plans"):
        assert (await engine(config).run(name, bulk=False)).status.value == "success"
    with api(server) as client:
        (customer,) = [
            c for c in all_pages(client, "/customers", "entries") if c["external_id"] == "acct-1"
        ]
        client.delete(f"/customers/{customer['uuid']}").raise_for_status()
    for _ in range(2):
        record = await bulk_engine(config, min_rows=1).run("invoices")
        ((field, message, action),) = errors_by_key(tmp_path / "state", record)["inv-1-0"]
        assert field == "customer_external_id"
        assert "'acct-1' was deleted in ChartMogul" in message
        assert "mogulsync reconcile customers --adopt" in action

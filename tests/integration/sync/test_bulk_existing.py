"""Bulk path details: records that already exist cost one call each; stale spools go away."""

from __future__ import annotations

import pytest
from tests.integration.sync._bulk_support import (
    PLANS,
    billing_project,
    billing_warehouse,
    bulk_engine,
    endpoint_calls,
)
from tests.integration.sync._support import all_pages, api, errors_by_key

from mogulsync.emulator.server import EmulatorServer
from mogulsync.sync.bulk import Spool
from mogulsync.sync.bulk.spool import SPOOL_DIR

pytestmark = pytest.mark.anyio
CUSTOMERS = 120
#: records created directly in ChartMogul before the first sync
EXISTING = 10


def _create(server: EmulatorServer, path: str, records: list[dict[str, object]]) -> None:
    with api(server) as client:
        ds = client.post("/data_sources", json={"name": "W"}).json()["uuid"]
        for record in records:
            client.post(path, json={"data_source_uuid": ds, **record}).raise_for_status()
        client.delete(f"{server.base_url}/_emulator/stats").raise_for_status()


async def test_existing_customers_are_updated_with_one_call_each(server, tmp_path):
    """Upserted customers found by the listing are PATCHed by uuid: no create, no lookup."""
    url = billing_warehouse(tmp_path, CUSTOMERS, 1)
    config = billing_project(server, tmp_path, url)
    _create(server, "/customers", [{"external_id": f"acct-{i}", "company": "Old"}
                                   for i in range(EXISTING)])  # fmt: skip
    record = await bulk_engine(config).run("customers")

    assert (record.status.value, record.rows.succeeded) == ("success", CUSTOMERS)
    calls = endpoint_calls(server)
    assert calls.get("POST /v1/customers", 0) == 0, calls
    assert calls["PATCH /v1/customers/{id}"] == EXISTING
    assert calls["GET /v1/customers"] == 2  # existence + uuid listings, no per-row lookups
    with api(server) as client:
        customers = all_pages(client, "/customers", "entries")
    assert len(customers) == CUSTOMERS
    assert {c["company"] for c in customers if c["external_id"] == "acct-4"} == {"Company 4"}


async def test_existing_plans_are_updated_by_uuid_and_refused_in_insert_mode(server, tmp_path):
    """A plan upsert uses the listed uuid (1 call); insert mode reports the duplicate."""
    url = billing_warehouse(tmp_path, 1, 1)
    config = billing_project(server, tmp_path, url)
    _create(server, "/plans", [{"external_id": f"plan-{i}", "name": "Old", "interval_count": 1,
                                "interval_unit": "month"} for i in range(EXISTING)])  # fmt: skip
    record = await bulk_engine(config).run("plans")

    assert (record.status.value, record.rows.succeeded) == ("success", PLANS)
    calls = endpoint_calls(server)
    assert calls.get("POST /v1/plans", 0) == 0, calls
    assert calls["PATCH /v1/plans/{id}"] == EXISTING
    assert calls["GET /v1/plans"] == 2  # existence + uuid listings
    with api(server) as client:
        plans = all_pages(client, "/plans", "plans")
    assert len(plans) == PLANS
    assert {p["name"] for p in plans if p["external_id"] == "plan-3"} == {"Plan 3"}

    inserting = billing_project(server, tmp_path / "insert", url, plans={"mode": "insert"})
    with api(server) as client:
        client.post(
            "/plans",
            json={"data_source_uuid": plans[0]["data_source_uuid"], "external_id": "plan-x",
                  "name": "X", "interval_count": 1, "interval_unit": "month"},
        ).raise_for_status()  # fmt: skip
    refused = await bulk_engine(inserting).run("plans")
    assert (refused.rows.succeeded, refused.rows.failed) == (0, PLANS)
    errors = errors_by_key(tmp_path / "insert" / "state", refused)
    assert "already exists" in errors["plan-5"][0][1]


async def test_a_killed_runs_spool_is_deleted_by_the_next_run_of_that_sync(server, tmp_path):
    """A spool file left behind by a dead run of this sync is removed; others' are kept."""
    url = billing_warehouse(tmp_path, 3, 1)
    config = billing_project(server, tmp_path, url)
    state_dir = tmp_path / "state"
    # never closed: what a kill -9 leaves behind
    ours, theirs = Spool(state_dir, "customers"), Spool(state_dir, "plans")
    assert ours.path.exists()
    record = await bulk_engine(config).run("customers")

    assert record.status.value == "success"
    left = sorted(path.name for path in (state_dir / SPOOL_DIR).iterdir())
    assert left == [theirs.path.name]
    assert not ours.path.exists()

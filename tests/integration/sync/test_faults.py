"""Under injected faults (5xx, extra 429s, drops, lost responses) nothing is lost or doubled."""

from __future__ import annotations

import collections

import duckdb
import httpx
import pytest
from tests.integration.sync._support import EmulatorProcess, all_pages, api, engine, project

pytestmark = pytest.mark.anyio
#: pinned: the test's name and docstring promise 5,000 rows (no environment override)
ROWS = 5000
FAULTS = {
    "error_rate": 0.10,
    "rate_limit_rate": 0.05,
    "drop_rate": 0.02,
    "lost_response_rate": 0.02,
    "seed": 20,
}


@pytest.fixture
def emulator_process():
    with EmulatorProcess() as server:  # its own process: the client gets a core to itself
        yield server


async def test_5000_customers_and_invoices_survive_faults(emulator_process, tmp_path):
    """A 5,000-row customers + invoices sync under faults: 0 lost, 0 duplicated."""
    emulator_server = emulator_process
    with httpx.Client(base_url=f"{emulator_server.base_url}/_emulator", timeout=30) as admin:
        await _sync_under_faults(emulator_server, admin, tmp_path)


async def _sync_under_faults(emulator_server, admin, tmp_path):
    path = tmp_path / "w.duckdb"
    db = duckdb.connect(str(path))
    db.execute(
        f"create table accounts as select 'acct-' || i as id, 'Company ' || i as name"
        f" from range({ROWS}) t(i)"
    )
    db.execute(
        "create table invoices as select 'inv-' || i as id, 'acct-' || i as account,"
        " DATE '2025-01-01' as date, 'USD' as currency,"
        ' \'[{"type":"one_time","amount_in_cents":\' || (100 + i) || \'}]\' as lines'
        f" from range({ROWS}) t(i)"
    )
    db.close()
    config = project(
        emulator_server,
        tmp_path,
        f"duckdb:///{path}",
        {
            "accounts": {"table": "accounts", "primary_key": "id"},
            "invoices": {"table": "invoices", "primary_key": "id"},
        },
        {
            "customers": {
                "model": "accounts",
                "object": "customer",
                "data_source": "W",
                "mapping": {"external_id": "id"},
            },
            "invoices": {
                "model": "invoices",
                "object": "invoice",
                "mode": "insert",
                "data_source": "W",
                "line_items": {"column": "lines"},
                "mapping": {"external_id": "id", "customer_external_id": "account"},
            },
        },
    )
    admin.put("/faults", json=FAULTS).raise_for_status()
    # the REST row path (the bulk path's faults test is in test_bulk_crash.py)
    customers = await engine(config).run("customers", bulk=False)
    invoices = await engine(config).run("invoices", bulk=False)
    admin.delete("/faults").raise_for_status()
    assert (customers.status.value, customers.rows.succeeded) == ("success", ROWS)
    assert (invoices.status.value, invoices.rows.succeeded) == ("success", ROWS)
    injected = admin.get("/stats").json()["faults_injected"]
    assert set(injected) >= {"error", "rate_limit", "drop", "lost_response"}, injected
    with api(emulator_server) as client:
        landed_customers = [c["external_id"] for c in all_pages(client, "/customers", "entries")]
        landed_invoices = [i["external_id"] for i in all_pages(client, "/invoices", "invoices")]
    for landed, prefix in ((landed_customers, "acct-"), (landed_invoices, "inv-")):
        duplicates = [key for key, count in collections.Counter(landed).items() if count > 1]
        assert duplicates == []
        assert set(landed) == {f"{prefix}{i}" for i in range(ROWS)}

"""A first end-to-end sync of customers from DuckDB into the emulator."""

from __future__ import annotations

import pytest
from tests.integration.sync._support import all_pages, api, engine, make_warehouse, project

pytestmark = pytest.mark.anyio


async def test_customers_upsert_then_no_op(emulator_server, tmp_path):
    """Rows land once; a second run sends nothing."""
    url = make_warehouse(
        tmp_path / "w.duckdb",
        [
            (
                "create table accounts(id varchar, company_name varchar, billing_email varchar,"
                " country_code varchar, seats integer)"
            ),
            (
                "insert into accounts values ('a1','Acme','a@acme.io','US',3),"
                "('a2','Beta','b@beta.io','de',5)"
            ),
        ],
    )
    config = project(
        emulator_server,
        tmp_path,
        url,
        {"accounts": {"table": "accounts", "primary_key": "id"}},
        {
            "customers": {
                "model": "accounts",
                "object": "customer",
                "data_source": "Warehouse",
                "mapping": {
                    "external_id": "id",
                    "name": "company_name",
                    "email": "billing_email",
                    "country": "country_code",
                },
            }
        },
    )
    first = await engine(config).run("customers")
    assert first.status.value == "success", first.message
    assert first.rows.added == 2
    with api(emulator_server) as client:
        customers = all_pages(client, "/customers", "entries")
    assert {c["external_id"]: c["attributes"]["custom"]["seats"] for c in customers} == {
        "a1": 3,
        "a2": 5,
    }
    second = await engine(config).run("customers")
    assert second.rows.unchanged == 2
    assert second.rows.added == second.rows.changed == 0

"""A 2xx answer the client cannot read fails its row, never the run (issue 10 §6).

The emulator's ``malformed`` fault serves the write and then cuts its JSON body in half,
as a broken proxy would. Before, the client raised a fatal error: the whole run failed with
"Report this as a bug".
"""

from __future__ import annotations

import httpx
import pytest
from tests.integration.sync._support import (
    all_pages,
    api,
    engine,
    errors_by_key,
    make_warehouse,
    project,
)

pytestmark = pytest.mark.anyio


async def test_a_truncated_answer_fails_one_row_and_lands_next_run(emulator_server, tmp_path):
    """One customer's create is answered unreadably: that row fails, the others land, and the
    next run finds the customer that did land instead of creating it twice."""
    url = make_warehouse(
        tmp_path / "w.duckdb",
        [
            "create table accounts(id varchar, name varchar)",
            "insert into accounts values ('a1','Acme'),('a2','Beta'),('a3','Gamma')",
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
                "mapping": {"external_id": "id", "name": "name"},
            }
        },
    )
    async with httpx.AsyncClient(
        base_url=f"{emulator_server.base_url}/_emulator", timeout=30
    ) as admin:
        (
            await admin.post(
                "/faults/script",
                json=[{"fault": "malformed", "method": "POST", "path_pattern": "^/v1/customers$"}],
            )
        ).raise_for_status()
    first = await engine(config).run("customers", bulk=False)
    assert first.status.value == "partial", first.message
    assert (first.rows.succeeded, first.rows.failed) == (2, 1)
    [(key, errors)] = errors_by_key(tmp_path / "state", first).items()
    [(_, message, action)] = errors
    assert "could not be read" in message
    assert "Report this as a bug" not in action
    second = await engine(config).run("customers", bulk=False)
    assert second.status.value == "success", second.message
    with api(emulator_server) as client:
        customers = all_pages(client, "/customers", "entries")
    assert sorted(c["external_id"] for c in customers) == ["a1", "a2", "a3"]
    assert key in {"a1", "a2", "a3"}

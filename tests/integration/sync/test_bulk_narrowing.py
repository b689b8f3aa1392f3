"""Whole-batch rejections are narrowed down by bisection, and unknown outcomes resolved."""

from __future__ import annotations

import collections

import pytest
from tests.integration.sync._bulk_support import (
    billing_project,
    billing_warehouse,
    bulk_engine,
    calls_without_polls,
)
from tests.integration.sync._support import all_pages, api, make_warehouse, project

from mogulsync.emulator.routes import json_imports
from mogulsync.emulator.server import EmulatorServer

pytestmark = pytest.mark.anyio
CUSTOMERS = 80
#: a tiny endpoint limit, so bisection is needed without megabytes of test data
TINY_LIMIT = 4_000


def _import_statuses(server: EmulatorServer) -> collections.Counter[int]:
    with api(server) as client:
        body = client.get(f"{server.base_url}/_emulator/stats").json()
    counts = body["by_endpoint"]["POST /v1/data_sources/{id}/json_imports"]
    return collections.Counter({int(status): n for status, n in counts.items()})


async def test_refused_batches_are_halved_and_an_oversized_row_goes_over_rest(
    server, tmp_path, monkeypatch
):
    """413s split the batch in halves; the one customer too big alone lands via REST."""
    monkeypatch.setattr(json_imports, "MAX_BODY_BYTES", TINY_LIMIT)
    big = "x" * 250
    url = make_warehouse(
        tmp_path / "w.duckdb",
        [
            (
                "create table accounts(id varchar, company varchar, a1 varchar, a2 varchar,"
                " a3 varchar, a4 varchar, a5 varchar, a6 varchar, a7 varchar, a8 varchar,"
                " a9 varchar, a10 varchar, a11 varchar, a12 varchar, a13 varchar, a14 varchar,"
                " a15 varchar, a16 varchar)"
            ),
            (
                "insert into accounts (id, company) select 'acct-' || i, 'Company ' || i"
                f" from range({CUSTOMERS}) t(i)"
            ),
            "update accounts set "
            + ", ".join(f"a{n} = '{big}'" for n in range(1, 17))
            + " where id = 'acct-42'",
        ],
    )
    config = project(
        server,
        tmp_path,
        url,
        {"accounts": {"table": "accounts", "primary_key": "id"}},
        {"customers": {"model": "accounts", "object": "customer", "data_source": "W",
                       "mapping": {"external_id": "id"}}},
    )  # fmt: skip
    # our batch limit above the endpoint's: the endpoint refuses the first batches
    record = await bulk_engine(config, max_bytes=1_000_000).run("customers")

    assert (record.status.value, record.rows.succeeded) == ("success", CUSTOMERS)
    statuses = _import_statuses(server)
    assert statuses[413] >= 2
    assert statuses[201] >= 2
    with api(server) as client:
        customers = all_pages(client, "/customers", "entries")
        [heavy] = client.get("/customers", params={"external_id": "acct-42"}).json()["entries"]
    assert len({c["external_id"] for c in customers}) == len(customers) == CUSTOMERS
    assert heavy["attributes"]["custom"]["a16"] == big
    assert calls_without_polls(server) < CUSTOMERS / 2


#: one of each kind on the import endpoints, whatever the random draws give: how many
#: requests (and so draws) a run makes depends on how many status polls its imports need
GUARANTEED_FAULTS = [
    {"fault": "lost_response", "method": "POST", "path_pattern": "/json_imports$"},
    {"fault": "drop", "method": "POST", "path_pattern": "/json_imports$"},
    {"fault": "rate_limit", "method": "POST", "path_pattern": "/json_imports$"},
    {"fault": "error", "status": 503, "method": "GET", "path_pattern": "/json_imports/"},
]


async def test_bulk_path_survives_faults_without_loss_or_duplicates(server, tmp_path):
    """5xx, 429s, drops and lost responses on imports: every record once."""
    url = billing_warehouse(tmp_path, CUSTOMERS, 1)
    config = billing_project(server, tmp_path, url)
    with api(server) as client:
        client.put(
            f"{server.base_url}/_emulator/faults",
            json={"error_rate": 0.2, "rate_limit_rate": 0.1, "drop_rate": 0.05,
                  "lost_response_rate": 0.2, "seed": 7, "script": GUARANTEED_FAULTS},
        ).raise_for_status()  # fmt: skip
    engine = bulk_engine(config, max_groups=10)  # many imports, many chances for faults
    records = [await engine.run(name) for name in ("plans", "customers", "invoices")]
    with api(server) as client:
        injected = client.get(f"{server.base_url}/_emulator/stats").json()["faults_injected"]
        client.delete(f"{server.base_url}/_emulator/faults").raise_for_status()
    # the faulted pass really met every kind of fault, and still landed rows
    assert {kind for kind, count in injected.items() if count} >= {
        "error",
        "rate_limit",
        "drop",
        "lost_response",
    }, injected
    assert sum(r.rows.succeeded for r in records) > 0
    with api(server) as client:
        # whatever stayed in flight (outcome unknown) is resolved by this second pass
        records += [await engine.run(name) for name in ("plans", "customers", "invoices")]
        customers = all_pages(client, "/customers", "entries")
        invoices = all_pages(client, "/invoices", "invoices")
    assert [r.status.value for r in records[3:]] == ["success"] * 3
    for landed in ([c["external_id"] for c in customers], [i["external_id"] for i in invoices]):
        assert len(landed) == len(set(landed)) == CUSTOMERS

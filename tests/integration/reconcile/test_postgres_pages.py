"""A PostgreSQL model over several listing pages and warehouse batches.

Equal values in other forms (a session in New York, timestamptz with microseconds, numeric
custom attributes, emails and countries in another case) match; one second, one hundredth
and a deleted record on the last pages are each found, named with both values; a repeated
or null primary key and an invalid row are invalid, never extra.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import psycopg
import pytest
from tests.integration.sync._support import all_pages, api, engine, project

from mogulsync.emulator.server import EmulatorServer
from mogulsync.reconcile import reconcile
from mogulsync.testing import PostgresServer

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]
ACCOUNTS = 1_050  # six listing pages of 200; five warehouse batches of 250


async def test_equal_values_match_and_subtle_ones_drift_across_pages(
    server: EmulatorServer, postgres_server: PostgresServer, tmp_path: Path
) -> None:
    """Counts are exact across pages and batches; samples name each field both ways."""
    schema = f"rec_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server.dsn, autocommit=True) as db:
        db.execute(f"create schema {schema}")
        db.execute(
            f"create table {schema}.accounts as select 'acct-' || i as id,"
            " 'Owner' || i || '@Example.COM' as email, 'us' as country,"
            " timestamptz '2025-03-01 12:00:00.654321-05' + i * interval '1 minute'"
            " as lead_created_at, (i * 0.01)::numeric(12, 2) as balance, i::bigint as seats"
            f" from generate_series(0, {ACCOUNTS - 1}) i"
        )
        db.execute(
            f"insert into {schema}.accounts (id, email) values"
            " ('acct-7', 'dup@x.io'), (null, 'nokey@x.io'), ('bad-1', 'not an email')"
        )
    url = postgres_server.url + "?options=-c%20timezone%3DAmerica/New_York"
    conf = project(
        server,
        tmp_path,
        url,
        {"accounts": {"sql": f"select * from {schema}.accounts", "primary_key": "id"}},
        {"customers": {"model": "accounts", "object": "customer", "data_source": "W",
                       "mapping": {"external_id": "id"}}},
    )  # fmt: skip
    main = conf.warehouses["main"].model_copy(update={"batch_size": 250})
    conf = conf.model_copy(update={"warehouses": {"main": main}})
    record = await engine(conf).run("customers")
    assert record.rows.succeeded == ACCOUNTS, record.message

    clean = await reconcile(conf, "customers")
    assert (clean.in_both, clean.drifted, clean.missing, clean.extra) == (ACCOUNTS, 0, 0, 0)
    assert clean.invalid == 3  # the repeated key, the null key, the invalid email
    assert clean.api_calls == 1 + 6  # the data source, six pages

    with api(server) as client:
        found = {c["external_id"]: c for c in all_pages(client, "/customers", "entries")}
        late = [f"acct-{i}" for i in (1_001, 1_002, 1_003)]  # on the sixth page
        client.patch(
            f"/customers/{found[late[0]]['uuid']}",
            json={"lead_created_at": "2025-03-02T09:41:01.654Z"},  # one second later
        ).raise_for_status()
        client.put(
            f"/customers/{found[late[1]]['uuid']}/attributes/custom",
            json={"custom": {"balance": 10.03}},  # one hundredth more
        ).raise_for_status()
        client.delete(f"/customers/{found[late[2]]['uuid']}").raise_for_status()

    report = await reconcile(conf, "customers")
    assert (report.in_both, report.drifted, report.missing, report.extra) == (
        ACCOUNTS - 3,
        2,
        1,
        0,
    )
    changes = {sample["key"]: sample["changes"] for sample in report.drifted_samples}
    assert changes == {
        late[0]: {
            "lead_created_at": {"before": "2025-03-02T09:41:01Z", "after": "2025-03-02T09:41:00Z"}
        },
        late[1]: {"custom.balance": {"before": 10.03, "after": 10.02}},
    }
    assert report.missing_samples == [late[2]]
    assert report.invalid == 3
    assert "bad-1" not in found  # never sent: invalid rows are not in ChartMogul

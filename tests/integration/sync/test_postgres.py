"""A real PostgreSQL warehouse: typed columns, streaming in batches, a sync end to end."""

from __future__ import annotations

import uuid

import psycopg
import pytest
from tests.integration.sync._support import all_pages, api, engine, project

from mogulsync.config import ModelConfig, WarehouseConfig
from mogulsync.warehouse import SqlAlchemySource

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]


@pytest.fixture
def table(postgres_server):
    name = f"accounts_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(postgres_server.dsn, autocommit=True) as db:
        db.execute(
            f"create table {name} (id text primary key, company text, seats integer,"
            " score numeric(10,2), vip boolean, since timestamptz, born date)"
        )
        db.execute(
            f"insert into {name} select 'a' || i, 'Company ' || i, i, i / 3.0, i % 2 = 0,"
            " now(), date '2024-01-01' from generate_series(1, 25) i"
        )
    return name


def test_postgres_columns_map_to_attribute_types_and_stream_in_batches(postgres_server, table):
    """Column types become ChartMogul attribute types; rows arrive in batch_size chunks."""
    config = WarehouseConfig(url=postgres_server.url, batch_size=10)
    source = SqlAlchemySource("pg", config)
    model = ModelConfig(warehouse="pg", table=table, primary_key="id")
    try:
        schema = source.compile(model)
        types = {column.name: column.attribute_type for column in schema.columns}
        assert types == {
            "id": "String", "company": "String", "seats": "Integer", "score": "Decimal",
            "vip": "Boolean", "since": "Timestamp", "born": "Timestamp",
        }  # fmt: skip
        sizes = [len(batch) for batch in source.stream(model)]
        assert sizes == [10, 10, 5]
        children = source.rows_matching(model, "id", ["a1", "a2", "zz"])
        assert sorted(row["id"] for row in children) == ["a1", "a2"]
    finally:
        source.close()


async def test_sync_from_postgres(emulator_server, postgres_server, table, tmp_path):
    """Customers synced from PostgreSQL land with typed custom attributes."""
    config = project(
        emulator_server,
        tmp_path,
        postgres_server.url,
        {"accounts": {"sql": f"select * from {table} where seats <= 5", "primary_key": "id"}},
        {
            "customers": {
                "model": "accounts",
                "object": "customer",
                "data_source": "PG",
                "mapping": {"external_id": "id", "name": "company"},
            }
        },
    )
    record = await engine(config).run("customers")
    assert (record.status.value, record.rows.succeeded) == ("success", 5)
    with api(emulator_server) as client:
        customers = {c["external_id"]: c for c in all_pages(client, "/customers", "entries")}
    assert customers["a3"]["attributes"]["custom"]["score"] == 1.0
    assert customers["a2"]["attributes"]["custom"]["vip"] is True

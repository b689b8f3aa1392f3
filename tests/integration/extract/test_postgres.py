"""Extract into a real PostgreSQL server through dlt's postgres destination."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from tests.integration.extract._seed import Seeded, client_settings

from mogulsync.emulator.server import EmulatorServer
from mogulsync.extract.runner import ExtractOptions, run_extract
from mogulsync.testing import PostgresServer

pytestmark = pytest.mark.postgres


def test_streams_load_into_postgres(
    seeded: tuple[EmulatorServer, Seeded], postgres_server: PostgresServer, tmp_path: Path
) -> None:
    """Customers (with tag child rows), invoices and activities land in PostgreSQL tables."""
    server, data = seeded
    options = ExtractOptions(
        destination=postgres_server.url,
        dataset="cm_extract",
        streams=("customers", "invoices", "activities"),
        state_dir=tmp_path,
    )
    report = run_extract(client_settings(server.base_url, server.api_key), options)

    assert {s.name: s.records for s in report.streams} == {
        "customers": data.customers,
        "invoices": data.customers,
        "activities": data.customers,
    }
    with psycopg.connect(postgres_server.dsn) as con:
        counts = {
            table: con.execute(f"SELECT count(*) FROM cm_extract.{table}").fetchone()[0]  # type: ignore[index]
            for table in ("customers", "customers__attributes__tags", "invoices__line_items")
        }
        schemas = {
            row[0] for row in con.execute("SELECT schema_name FROM information_schema.schemata")
        }
        columns = {
            row[0]
            for row in con.execute(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_schema = 'cm_extract' AND table_name = 'activities'"
            ).fetchall()
        }
    assert counts == {
        "customers": data.customers,
        "customers__attributes__tags": 2 * data.customers,
        "invoices__line_items": data.customers,
    }
    assert {"activity_mrr", "customer_external_id"} <= columns
    # activities were merged through dlt's staging schema, dropped once the load was done
    assert "cm_extract" in schemas
    assert "cm_extract_staging" not in schemas

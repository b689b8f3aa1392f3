"""Helpers of the incremental and crash tests: import more data, run, count rows."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import duckdb
from tests.integration.extract._seed import client_settings, import_customers

from mogulsync.chartmogul import ChartMogulClient
from mogulsync.emulator.server import EmulatorServer
from mogulsync.extract.runner import ExtractOptions, ExtractReport, run_extract

FIRST = 210
LATER = 30
STREAMS = ("activities", "subscription_events")
#: the streams of Airbyte's source-chartmogul 1.0.13, in its order
AIRBYTE_STREAMS = [
    "customers",
    "activities",
    "customer_daily_count",
    "customer_weekly_count",
    "customer_monthly_count",
    "customer_quarterly_count",
]


def import_more(
    server: EmulatorServer,
    prefix: str,
    count: int,
    first: dt.date,
    *,
    new_source: bool = False,
    days_apart: int = 1,
) -> None:
    async def run() -> None:
        settings = client_settings(server.base_url, server.api_key)
        async with ChartMogulClient(settings) as client:
            if new_source:
                source = await client.data_sources.create("Billing")
            else:
                (source,) = await client.data_sources.list()
            await import_customers(
                client, source.uuid, prefix, count, first, plans=3, days_apart=days_apart
            )

    asyncio.run(run())


def extract(server: EmulatorServer, root: Path) -> ExtractReport:
    options = ExtractOptions(
        destination=f"duckdb:///{root}/cm.duckdb", streams=STREAMS, state_dir=root / "state"
    )
    return run_extract(client_settings(server.base_url, server.api_key), options)


def records(report: ExtractReport) -> dict[str, int]:
    return {stream.name: stream.records for stream in report.streams}


def table(root: Path, table: str, key: str) -> tuple[int, int]:
    with duckdb.connect(f"{root}/cm.duckdb", read_only=True) as con:
        row = con.execute(
            f"SELECT count(*), count(DISTINCT {key}) FROM chartmogul.{table}"
        ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def schemas(root: Path) -> set[str]:
    """The schemas of the DuckDB file."""
    with duckdb.connect(f"{root}/cm.duckdb", read_only=True) as con:
        rows = con.execute("SELECT schema_name FROM information_schema.schemata").fetchall()
    return {str(row[0]) for row in rows}

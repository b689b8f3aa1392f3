"""Initial load: the default path (bulk JSON import) vs REST row by row (``--no-bulk``).

    .venv/bin/python bench/bulk_initial_load.py [--scale 1.0] [--rest-scale 1.0]

The model at ``--scale 1`` is the issue's: 10,000 customers and 30,000 invoices (one
subscription line item each), plus the 3 plans they reference. Both paths run the three
syncs in dependency order (plans → customers → invoices) from an empty state into a fresh
emulator enforcing ChartMogul's limits (40 req/s, 20 connections) with 50 ms latency. The
REST path is the baseline, measured in the same run; the script prints API calls (the
emulator's count of ``/v1`` requests, polls of imports included) and wall time of both and
their ratios, and checks both loads left every record in ChartMogul.

REST at scale 1 takes ≥ 17 minutes (40,000 rows at 40 req/s). ``--rest-scale`` measures it
on a smaller model instead and scales its calls and time linearly to ``--scale``; the output
then labels the baseline as *extrapolated*.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb
import httpx

from mogulsync.config import AppConfig, parse_config
from mogulsync.emulator.server import EmulatorServer
from mogulsync.emulator.settings import EmulatorSettings, Limits
from mogulsync.sync.engine import SyncEngine

CUSTOMERS = 10_000
INVOICES_PER_CUSTOMER = 3
PLANS = ("basic", "pro", "enterprise")
LATENCY_MS = 50.0
ORDER = ("plans", "customers", "invoices")
TARGET_CALLS = 15.0
TARGET_TIME = 10.0


@dataclass(frozen=True, slots=True)
class Load:
    """What one path cost."""

    customers: int
    invoices: int
    calls: int
    seconds: float
    failed_rows: int
    landed_customers: int
    landed_invoices: int


def write_model(path: Path, customers: int) -> None:
    """Plans, customers and their invoices with one subscription line item each."""
    db = duckdb.connect(str(path))
    plans = ", ".join(f"('{plan}', '{plan.title()}', 1, 'month')" for plan in PLANS)
    db.execute("create table plans(id varchar, name varchar, interval_count int, interval_unit varchar)")  # fmt: skip
    db.execute(f"insert into plans values {plans}")
    db.execute(
        "create table accounts as select 'acct-' || i as id, 'Company ' || i as name,"
        " 'billing' || i || '@example.com' as email, ['US', 'GB', 'DE'][i % 3 + 1] as country"
        f" from range({customers}) t(i)"
    )
    db.execute(
        "create table invoices as select 'inv-' || a || '-' || m as id, 'acct-' || a as account_id,"
        " DATE '2024-01-01' + to_months(m::INTEGER) as invoice_date, 'USD' as currency,"
        " json_array(json_object('type', 'subscription', 'plan_external_id',"
        f" ['basic', 'pro', 'enterprise'][a % {len(PLANS)} + 1],"
        " 'subscription_external_id', 'sub-' || a,"
        " 'service_period_start', strftime(DATE '2024-01-01' + to_months(m::INTEGER), '%Y-%m-%d'),"
        " 'service_period_end', strftime(DATE '2024-01-01' + to_months(m::INTEGER + 1), '%Y-%m-%d'),"
        " 'amount_in_cents', 1000 + (a % 50) * 100)) as lines"
        f" from range({customers}) s(a), range({INVOICES_PER_CUSTOMER}) t(m)"
    )
    db.close()


def project(tmp: Path, server: EmulatorServer) -> AppConfig:
    """Three syncs into one data source."""
    common = {"data_source": "bench"}
    return parse_config(
        {
            "chartmogul": {"api_key": "${K}", "base_url": server.base_url},
            "state_dir": str(tmp / "state"),
            "warehouses": {"main": f"duckdb:///{tmp / 'w.duckdb'}"},
            "models": {
                "plans": {"warehouse": "main", "table": "plans", "primary_key": "id"},
                "accounts": {"warehouse": "main", "table": "accounts", "primary_key": "id"},
                "invoices": {"warehouse": "main", "table": "invoices", "primary_key": "id"},
            },
            "syncs": {
                "plans": {
                    **common,
                    "model": "plans",
                    "object": "plan",
                    "mapping": {"external_id": "id"},
                },
                "customers": {
                    **common,
                    "model": "accounts",
                    "object": "customer",
                    "mapping": {"external_id": "id"},
                },
                "invoices": {
                    **common,
                    "model": "invoices",
                    "object": "invoice",
                    "mode": "insert",
                    "mapping": {
                        "external_id": "id",
                        "customer_external_id": "account_id",
                        "date": "invoice_date",
                    },
                    "line_items": {"column": "lines"},
                },
            },
        },
        env={"K": server.api_key},
    )


def _landed(server: EmulatorServer) -> tuple[int, int]:
    """Customers and invoices in the emulator, counted with its limits lifted."""
    unlimited = {"rate_limit": 0, "max_connections": 0, "latency_ms": 0}
    httpx.patch(f"{server.base_url}/_emulator/limits", json=unlimited).raise_for_status()
    return _count(server, "/customers"), _count(server, "/invoices")


def _count(server: EmulatorServer, path: str) -> int:
    """Records of a list endpoint: its first page's ``total_pages`` at one record per page."""
    with httpx.Client(base_url=f"{server.base_url}/v1", auth=(server.api_key, "")) as client:
        response = client.get(path, params={"per_page": 1})
        response.raise_for_status()
    return int(response.json()["total_pages"])


async def load(customers: int, *, bulk: bool) -> Load:
    """One initial load from an empty state into a fresh limited emulator."""
    limits = Limits(latency_ms=LATENCY_MS)  # ChartMogul's 40 req/s and 20 connections
    with tempfile.TemporaryDirectory() as name, EmulatorServer(EmulatorSettings(limits=limits)) as server:  # fmt: skip
        tmp = Path(name)
        write_model(tmp / "w.duckdb", customers)
        config = project(tmp, server)
        server.emulator.stats.reset()
        failed = 0
        started = time.monotonic()
        for sync in ORDER:
            record = await SyncEngine(config).run(sync, bulk=bulk)
            if record.error is not None:
                raise RuntimeError(f"{sync}: {record.message}")
            failed += record.rows.failed
        seconds = time.monotonic() - started
        calls = server.emulator.stats.requests_total
        landed = await asyncio.to_thread(_landed, server)
    return Load(customers, customers * INVOICES_PER_CUSTOMER, calls, seconds, failed, *landed)


def _line(label: str, found: Load, factor: float) -> str:
    calls, seconds = found.calls * factor, found.seconds * factor
    return (
        f"{label:<46} {found.customers:>9,} {found.invoices:>9,} {calls:>9,.0f} {seconds:>9.1f}"
        f"  landed {found.landed_customers:,}/{found.landed_invoices:,}, failed rows {found.failed_rows}"
    )


def main(scale: float, rest_scale: float) -> None:
    customers = round(CUSTOMERS * scale)
    rest_customers = round(CUSTOMERS * rest_scale)
    bulk = asyncio.run(load(customers, bulk=True))
    rest = asyncio.run(load(rest_customers, bulk=False))
    factor = customers / rest_customers
    label = "REST row by row (--no-bulk), baseline"
    print(f"{'path':<46} {'customers':>9} {'invoices':>9} {'API calls':>9} {'wall s':>9}")
    print(_line(label, rest, 1.0))
    if factor != 1.0:
        print(_line(f"  EXTRAPOLATED x{factor:g} to the bulk run's size", rest, factor))
    print(_line("default path (bulk JSON import)", bulk, 1.0))
    fewer_calls = rest.calls * factor / bulk.calls
    less_time = rest.seconds * factor / bulk.seconds
    note = " (baseline extrapolated)" if factor != 1.0 else ""
    print(
        f"ratios{note}: {fewer_calls:.1f}x fewer API calls (target ≥ {TARGET_CALLS:.0f}x:"
        f" {'met' if fewer_calls >= TARGET_CALLS else 'MISSED'}), {less_time:.1f}x less wall"
        f" time (target ≥ {TARGET_TIME:.0f}x: {'met' if less_time >= TARGET_TIME else 'MISSED'})"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--scale", type=float, default=1.0, help="1.0 = 10k customers, 30k invoices"
    )
    parser.add_argument(
        "--rest-scale", type=float, default=None, help="measure REST on this scale (extrapolated)"
    )
    arguments = parser.parse_args()
    main(arguments.scale, arguments.rest_scale or arguments.scale)

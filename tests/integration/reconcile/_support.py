"""A project with customers (custom attributes of every type) and invoices, loaded once."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import chartmogul
import httpx
from tests.integration.sync._support import engine, make_warehouse, project

from mogulsync.config import AppConfig
from mogulsync.emulator.server import EmulatorServer

CUSTOMERS = 40


def warehouse(tmp_path: Path, customers: int = CUSTOMERS) -> str:
    """Accounts with one custom attribute of each type, and one invoice per account."""
    lines = json.dumps(
        [
            {
                "type": "one_time",
                "amount_in_cents": 500,
                "external_id": "li-X",
                "description": "Setup",
            }
        ]
    )
    return make_warehouse(
        tmp_path / "w.duckdb",
        [
            (
                "create table accounts as select 'acct-' || i as id, 'Customer ' || i as name,"
                " 'Company ' || i as company,"
                " 'gold' as tier, i as seats, i * 1.5 as score, i % 2 = 0 as vip,"
                " TIMESTAMP '2026-01-01 00:00:00' + to_days(i) as renewal"
                f" from range({customers}) t(i)"
            ),
            (
                "create table invoices as select 'inv-' || i as id, 'acct-' || i as account,"
                " DATE '2025-01-01' as date, 'USD' as currency,"
                f" replace('{lines}', 'li-X', 'li-' || i) as lines from range({customers}) t(i)"
            ),
        ],
    )


def config(server: EmulatorServer, tmp_path: Path, url: str, **warehouse: Any) -> AppConfig:
    """Customers (upsert) and invoices (insert) into data source `W`."""
    built = project(
        server,
        tmp_path,
        url,
        {
            "accounts": {"table": "accounts", "primary_key": "id"},
            "invoices": {"table": "invoices", "primary_key": "id"},
        },
        {
            "customers": {
                "model": "accounts",
                "object": "customer",
                "data_source": "W",
                "mapping": {"external_id": "id", "company": "company"},
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
    if warehouse:
        main = built.warehouses["main"].model_copy(update=warehouse)
        built = built.model_copy(update={"warehouses": {"main": main}})
    return built


async def load(conf: AppConfig) -> None:
    """The first sync of customers and invoices (what "another tool" would have written)."""
    sync = engine(conf)
    for name in ("customers", "invoices"):
        record = await sync.run(name)
        assert record.status.value == "success", record


def official(server: EmulatorServer) -> chartmogul.Config:
    """The official client, as a person's script or ChartMogul's UI would change data."""
    config = chartmogul.Config(server.api_key, request_timeout=30)
    config.uri = f"{server.base_url}/v1"
    return config


def customer_uuids(server: EmulatorServer) -> dict[str, str]:
    """External id → uuid of every customer."""
    found: dict[str, str] = {}
    with httpx.Client(
        base_url=f"{server.base_url}/v1", auth=(server.api_key, ""), timeout=30
    ) as client:
        cursor = None
        while True:
            params = {"per_page": 200, **({"cursor": cursor} if cursor else {})}
            body = client.get("/customers", params=params).raise_for_status().json()
            found.update({c["external_id"]: c["uuid"] for c in body["entries"]})
            if not body["has_more"]:
                return found
            cursor = body["cursor"]


def writes(server: EmulatorServer) -> dict[str, int]:
    """Successful non-GET requests by endpoint, so far."""
    stats = httpx.get(f"{server.base_url}/_emulator/stats", timeout=30).json()
    return {
        endpoint: sum(n for status, n in counts.items() if status.startswith("2"))
        for endpoint, counts in stats["by_endpoint"].items()
        if not endpoint.startswith("GET")
    }

"""Shared pieces of the bulk-path tests: a billing warehouse and an engine with fast polling."""

from __future__ import annotations

import collections
import json
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from tests.integration.sync._support import FAST_RETRY, api, make_warehouse, project

from mogulsync.chartmogul import ClientSettings, JsonImportPolling
from mogulsync.config import AppConfig
from mogulsync.emulator.server import EmulatorServer
from mogulsync.sync.bulk import BulkSettings
from mogulsync.sync.engine import SyncEngine

#: poll imports quickly (the emulator finishes one in a few of its 10 ms steps)
FAST_POLLING = JsonImportPolling(initial_interval_s=0.02, max_interval_s=0.1, timeout_s=30)
PLANS = 60
#: status polls of an import: how many depends on how fast the machine runs, so call-count
#: assertions leave them out (each import is polled at least once; that is asserted instead)
POLL_ENDPOINT = "GET /v1/data_sources/{id}/json_imports/{id}"
IMPORT_ENDPOINT = "POST /v1/data_sources/{id}/json_imports"


def calls_without_polls(server: EmulatorServer) -> int:
    """Every request but import-status polls: a count that does not depend on speed."""
    by_endpoint = _statuses(server)
    counts = collections.Counter(_totals(by_endpoint))
    # only an accepted import (2xx) has an id to poll; a refused one (413, 422) has none
    accepted = sum(n for s, n in by_endpoint.get(IMPORT_ENDPOINT, {}).items() if s[0] == "2")
    assert counts[POLL_ENDPOINT] >= accepted, "every accepted import is polled"
    return sum(counts.values()) - counts[POLL_ENDPOINT]


def line(customer: int, plan: int, amount: int) -> dict[str, Any]:
    """A subscription line item on plan ``plan-<n>``."""
    return {
        "type": "subscription",
        "plan_external_id": f"plan-{plan}",
        "subscription_external_id": f"sub-{customer}",
        "service_period_start": "2025-01-01",
        "service_period_end": "2025-02-01",
        "amount_in_cents": amount,
    }


def billing_warehouse(tmp_path: Path, customers: int, invoices_per_customer: int) -> str:
    """Accounts, plans and invoices (line items + payments as JSON), in shuffled order."""
    statements = [
        "create table accounts(id varchar, company varchar, city varchar)",
        (
            "create table plans(id varchar, name varchar, interval_count integer,"
            " interval_unit varchar)"
        ),
        (
            "create table invoices(id varchar, account_id varchar, invoice_date date,"
            " currency varchar, lines json, payments json)"
        ),
    ]
    accounts = [f"('acct-{i}', 'Company {i}', 'City {i}')" for i in range(customers)]
    statements.append(f"insert into accounts values {', '.join(reversed(accounts))}")
    plans = [f"('plan-{i}', 'Plan {i}', 1, 'month')" for i in range(PLANS)]
    statements.append(f"insert into plans values {', '.join(plans)}")
    rows = []
    # invoice-major order: one customer's invoices are far apart in the model
    for n in range(invoices_per_customer):
        for i in range(customers):
            lines = json.dumps([line(i, i % PLANS, 1000 + i)])
            payments = json.dumps(
                [{"type": "payment", "result": "successful", "date": "2025-01-02",
                  "external_id": f"tr-{i}-{n}"}]
            )  # fmt: skip
            rows.append(
                f"('inv-{i}-{n}', 'acct-{i}', DATE '2025-01-0{n + 1}', 'USD', '{lines}',"
                f" '{payments}')"
            )
    statements.append(f"insert into invoices values {', '.join(rows)}")
    return make_warehouse(tmp_path / "w.duckdb", statements)


def syncs(**overrides: dict[str, Any]) -> dict[str, Any]:
    """Customers, plans and invoices syncs into data source W."""
    base: dict[str, Any] = {
        "customers": {"model": "accounts", "object": "customer", "data_source": "W",
                      "mapping": {"external_id": "id", "company": "company"},
                      "custom_attributes": "none"},
        "plans": {"model": "plans", "object": "plan", "data_source": "W",
                  "mapping": {"external_id": "id"}},
        "invoices": {"model": "invoices", "object": "invoice", "mode": "insert",
                     "data_source": "W",
                     "mapping": {"external_id": "id", "customer_external_id": "account_id",
                                 "date": "invoice_date"},
                     "line_items": {"column": "lines"}, "transactions_column": "payments"},
    }  # fmt: skip
    for name, change in overrides.items():
        base[name] = {**base[name], **change}
    return base


def billing_project(
    server: EmulatorServer, tmp_path: Path, url: str, **overrides: Any
) -> AppConfig:
    """The project over the billing warehouse."""
    models = {
        "accounts": {"table": "accounts", "primary_key": "id"},
        "plans": {"table": "plans", "primary_key": "id"},
        "invoices": {"table": "invoices", "primary_key": "id"},
    }
    return project(server, tmp_path, url, models, syncs(**overrides))


def bulk_engine(
    config: AppConfig, *, polling: JsonImportPolling = FAST_POLLING, **bulk: Any
) -> SyncEngine:
    """An engine with fast retries and fast import polling."""
    settings = ClientSettings(
        api_key=SecretStr(config.chartmogul.api_key.get_secret_value()),
        base_url=config.chartmogul.base_url,
        rate_limit=10_000,
        max_in_flight=20,
        retry=FAST_RETRY,
        json_import_polling=polling,
    )
    return SyncEngine(config, settings=settings, bulk=BulkSettings(**bulk))


def endpoint_calls(server: EmulatorServer) -> dict[str, int]:
    """API calls per endpoint (``METHOD /path``) since the emulator's stats were reset."""
    return _totals(_statuses(server))


def _statuses(server: EmulatorServer) -> dict[str, dict[str, int]]:
    """Endpoint → status → calls, from the emulator's stats."""
    with api(server) as client:
        stats: dict[str, dict[str, int]] = client.get(f"{server.base_url}/_emulator/stats").json()[
            "by_endpoint"
        ]
    return stats


def _totals(by_endpoint: dict[str, dict[str, int]]) -> dict[str, int]:
    return {endpoint: sum(statuses.values()) for endpoint, statuses in by_endpoint.items()}

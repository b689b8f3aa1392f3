"""One customer, one plan and one invoice in DuckDB, and the four revenue syncs over them.

Shared by the tests that pin what the revenue model-based test found and by the tests of
records deleted in ChartMogul behind the syncs.
"""

from __future__ import annotations

import json
from typing import Any

import duckdb
from tests.integration.sync._support import project

LINE = {"type": "subscription", "plan_external_id": "gold", "amount_in_cents": 1000,
        "subscription_external_id": "s-1", "service_period_start": "2025-01-01",
        "service_period_end": "2025-02-01"}  # fmt: skip
TABLES = [
    "create table accounts(id varchar)",
    "insert into accounts values ('c1')",
    "create table plans(id varchar, name varchar, n integer, unit varchar)",
    "insert into plans values ('gold', 'Gold', 1, 'month')",
    "create table invoices(id varchar, customer varchar, date varchar, cur varchar, lines varchar)",
    f"insert into invoices values ('i1', 'c1', '2025-01-01', 'USD', '{json.dumps([LINE])}')",
    "create table txns(id varchar, invoice varchar, type varchar, result varchar, date varchar)",
]


def sql(url: str, statement: str) -> None:
    """Run one statement on the warehouse file."""
    db = duckdb.connect(url.removeprefix("duckdb:///"))
    db.execute(statement)
    db.close()


def revenue_project(
    server: Any,
    tmp_path: Any,
    url: str,
    *,
    plans: dict[str, Any] | None = None,
    invoices: dict[str, Any] | None = None,
) -> Any:
    """customers, plans, invoices (line items as JSON) and txns syncs into data source W;
    ``plans`` / ``invoices``: settings added to that sync (``{"on_delete": "delete"}``)."""
    base = {"data_source": "W"}
    syncs = {
        "customers": {**base, "model": "accounts", "object": "customer",
                      "mapping": {"external_id": "id"}},
        "plans": {**base, "model": "plans", "object": "plan", **(plans or {}),
                  "mapping": {"external_id": "id", "name": "name", "interval_count": "n",
                              "interval_unit": "unit"}},
        "invoices": {**base, "model": "invoices", "object": "invoice", "mode": "insert",
                     **(invoices or {}), "line_items": {"column": "lines"},
                     "mapping": {"external_id": "id", "customer_external_id": "customer",
                                 "date": "date", "currency": "cur"}},
        "txns": {**base, "model": "txns", "object": "transaction", "mode": "insert",
                 "mapping": {"external_id": "id", "invoice_external_id": "invoice",
                             "type": "type", "result": "result", "date": "date"}},
    }  # fmt: skip
    models = {name: {"table": name, "primary_key": "id"}
              for name in ("accounts", "plans", "invoices", "txns")}  # fmt: skip
    return project(server, tmp_path, url, models, syncs)

"""A refused line item is named by its index (and external id), over REST and bulk alike.

ChartMogul names the field only (``line_items.plan_external_id``, or over REST
``invoices[i2].line_items.external_id``); the row error says which line item.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from tests.integration.sync._support import engine, errors_by_key, make_warehouse, project

from mogulsync.sync.bulk.runner import BulkSettings

pytestmark = pytest.mark.anyio

ONE_TIME = {"type": "one_time", "amount_in_cents": 500, "description": "setup"}
SUB = {"type": "subscription", "plan_external_id": "gold", "amount_in_cents": 1000,
       "subscription_external_id": "s-1", "service_period_start": "2025-01-01",
       "service_period_end": "2025-02-01"}  # fmt: skip


def _invoices(tmp_path, invoices: dict[str, list[dict[str, Any]]]) -> str:
    """The warehouse, its invoices table holding ``invoices`` (key → line items)."""
    rows = ", ".join(f"('{key}', '{json.dumps(lines)}')" for key, lines in invoices.items())
    return make_warehouse(
        tmp_path / "w.duckdb",
        [
            "create or replace table accounts(id varchar)",
            "insert into accounts values ('c1')",
            "create or replace table plans(id varchar, name varchar)",
            "insert into plans values ('gold', 'Gold')",
            "create or replace table invoices(id varchar, lines varchar)",
            f"insert into invoices values {rows}",
        ],
    )


def _config(server, tmp_path, invoices: dict[str, list[dict[str, Any]]]):
    url = _invoices(tmp_path, invoices)
    base = {"data_source": "W"}
    syncs = {
        "customers": {**base, "model": "accounts", "object": "customer",
                      "mapping": {"external_id": "id"}},
        "plans": {**base, "model": "plans", "object": "plan",
                  "mapping": {"external_id": "id", "name": "name", "interval_count": "n",
                              "interval_unit": "unit"}},
        "invoices": {**base, "model": "invoices", "object": "invoice", "mode": "insert",
                     "line_items": {"column": "lines"},
                     "mapping": {"external_id": "id", "customer_external_id": "customer",
                                 "date": "date", "currency": "cur"}},
    }  # fmt: skip
    models = {
        "accounts": {"table": "accounts", "primary_key": "id"},
        "plans": {"sql": "select *, 1 as n, 'month' as unit from plans", "primary_key": "id"},
        "invoices": {
            "sql": "select id, lines, 'c1' as customer, '2025-01-05' as date, 'USD' as cur"
            " from invoices",
            "primary_key": "id",
        },
    }
    return project(server, tmp_path, url, models, syncs)


async def _run(config, name: str, *, bulk: bool) -> tuple[Any, list[Any]]:
    requests: list[Any] = []
    runner = engine(config, bulk=BulkSettings(min_rows=2))
    record = await runner.run(name, bulk=bulk, request_hooks=[requests.append])
    return record, requests


async def test_a_bulk_rejection_names_the_line_item_by_its_external_id(server, tmp_path):
    """The bulk import refuses line item ``li-2`` (its plan is unknown): ``line_items[1]``."""
    bad = {**SUB, "plan_external_id": "nosuch", "external_id": "li-2",
           "subscription_external_id": "s-2"}  # fmt: skip
    config = _config(server, tmp_path, {"i1": [SUB], "i2": [SUB, bad, ONE_TIME], "i3": [SUB]})
    for name in ("customers", "plans"):
        assert (await _run(config, name, bulk=False))[0].status.value == "success"
    record, requests = await _run(config, "invoices", bulk=True)
    assert any("json_imports" in request.path for request in requests)
    assert (record.rows.succeeded, record.rows.failed) == (2, 1)
    [(field, message, action)] = errors_by_key(tmp_path / "state", record)["i2"]
    assert field == "line_items[1].plan_external_id"
    assert message.endswith("(line item external_id 'li-2')")
    assert "Sync plans first" in action


@pytest.mark.parametrize("bulk", [False, True], ids=["rest", "bulk"])
async def test_a_line_item_external_id_taken_elsewhere_names_the_line_item(server, tmp_path, bulk):
    """Line item ``li-1`` of i2 is i1's: over REST (bulk resends "already exists" there)
    the error is ``line_items[1].external_id``, not ``invoices[i2].line_items.external_id``."""
    taken = {**ONE_TIME, "external_id": "li-1"}
    config = _config(server, tmp_path, {"i1": [taken]})
    for name in ("customers", "plans", "invoices"):
        assert (await _run(config, name, bulk=False))[0].status.value == "success"
    _invoices(tmp_path, {"i1": [taken], "i2": [SUB, taken], "i3": [SUB], "i4": [ONE_TIME]})
    record, _ = await _run(config, "invoices", bulk=bulk)
    assert (record.rows.failed, record.rows.succeeded) == (1, 2)
    [(field, message, _)] = errors_by_key(tmp_path / "state", record)["i2"]
    assert field == "line_items[1].external_id"
    assert "(line item external_id 'li-1')" in message

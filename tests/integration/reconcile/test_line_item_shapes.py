"""Reconcile compares a line item only on the keys ChartMogul shows for its type.

A subscription line item is sent with a ``description`` (the import accepts one for either
type) but never shows it back (reference: ``description`` is a one-time item's key; the
emulator answers as recorded). Compared anyway, every such invoice drifted after a clean
load, for ever.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from tests.integration.sync._support import engine, make_warehouse, project

from mogulsync.emulator.server import EmulatorServer
from mogulsync.reconcile import reconcile

pytestmark = pytest.mark.anyio
INVOICES = 3


def _lines(n: int) -> str:
    return json.dumps(
        [
            {"type": "subscription", "plan_external_id": "gold",
             "subscription_external_id": f"sub-{n}", "service_period_start": "2025-01-01",
             "service_period_end": "2025-02-01", "amount_in_cents": 1000,
             "external_id": f"li-s-{n}", "description": "Gold, January"},
            {"type": "one_time", "amount_in_cents": 500, "external_id": f"li-o-{n}",
             "description": "Setup"},
        ]
    )  # fmt: skip


async def test_a_clean_load_with_described_subscription_lines_is_in_sync(
    server: EmulatorServer, tmp_path: Path
) -> None:
    rows = ", ".join(
        f"('inv-{n}', 'acct-{n}', DATE '2025-01-01', 'USD', '{_lines(n)}')" for n in range(INVOICES)
    )
    url = make_warehouse(
        tmp_path / "w.duckdb",
        [
            f"create table accounts as select 'acct-' || i as id from range({INVOICES}) t(i)",
            "create table plans as select 'gold' as id, 'Gold' as name, 1 as n, 'month' as unit",
            (
                "create table invoices(id varchar, account varchar, date date,"
                " currency varchar, lines varchar)"
            ),
            f"insert into invoices values {rows}",
        ],
    )
    conf = project(
        server,
        tmp_path,
        url,
        {
            "accounts": {"table": "accounts", "primary_key": "id"},
            "plans": {"table": "plans", "primary_key": "id"},
            "invoices": {"table": "invoices", "primary_key": "id"},
        },
        {
            "customers": {
                "model": "accounts",
                "object": "customer",
                "data_source": "W",
                "mapping": {"external_id": "id", "name": "id"},
            },
            "plans": {
                "model": "plans",
                "object": "plan",
                "data_source": "W",
                "mapping": {
                    "external_id": "id",
                    "name": "name",
                    "interval_count": "n",
                    "interval_unit": "unit",
                },
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
    sync = engine(conf)
    for name in ("customers", "plans", "invoices"):
        record = await sync.run(name)
        assert record.status.value == "success", (name, record)

    report = await reconcile(conf, "invoices")

    assert (report.in_both, report.drifted, report.missing, report.extra) == (INVOICES, 0, 0, 0)
    assert not report.differs

    # a one-time item's description is shown, so it is still compared
    with duckdb.connect(str(tmp_path / "w.duckdb")) as db:
        db.execute(
            "update invoices set lines = replace(lines, 'Setup', 'Onboarding') where id = 'inv-0'"
        )
    report = await reconcile(conf, "invoices")
    assert (report.in_both, report.drifted) == (INVOICES - 1, 1)
    assert dict(report.fields) == {"line_items": 1}

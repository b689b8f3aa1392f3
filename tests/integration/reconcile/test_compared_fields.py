"""Every line-item and transaction field the model gives and ChartMogul shows is compared.

Only type, amount, quantity, subscription, service period, discount and tax amounts,
description (and a transaction's type, result, date, amount) were: a discount code, an
account code, proration, fees or the plan (shown by uuid, given by external id) edited in
ChartMogul read as "in both".
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.integration.sync._support import all_pages, api, engine, make_warehouse, project

from mogulsync.emulator.server import EmulatorServer
from mogulsync.reconcile import reconcile

pytestmark = pytest.mark.anyio
INVOICES = 5
LINES = [
    {"type": "subscription", "plan_external_id": "gold", "subscription_external_id": "s-X",
     "subscription_set_external_id": "set-X", "service_period_start": "2025-01-01",
     "service_period_end": "2025-02-01", "amount_in_cents": 1000, "external_id": "li-s-X",
     "prorated": True, "proration_type": "differential", "discount_code": "PROMO",
     "discount_amount_in_cents": 100, "discount_description": "Launch",
     "transaction_fees_in_cents": 30, "transaction_fees_currency": "usd",
     "account_code": "4000", "event_order": 2},
    {"type": "one_time", "amount_in_cents": 500, "external_id": "li-o-X",
     "description": "Setup", "account_code": "4100"},
]  # fmt: skip
PAYMENTS = [
    {"type": "payment", "result": "successful", "date": "2025-01-02", "external_id": "pay-X",
     "amount_in_cents": 1400, "transaction_fees_in_cents": 45,
     "transaction_fees_currency": "USD"},
]  # fmt: skip


async def test_codes_proration_and_fees_are_compared(
    server: EmulatorServer, tmp_path: Path
) -> None:
    """A clean load matches with every field given; an edit of any one of them drifts."""
    lines, payments = json.dumps(LINES), json.dumps(PAYMENTS)
    url = make_warehouse(
        tmp_path / "w.duckdb",
        [
            f"create table accounts as select 'a' || i as id from range({INVOICES}) t(i)",
            (
                "create table plans as select 'gold' as id, 'Gold' as name, 1 as n,"
                " 'month' as unit union all select 'silver', 'Silver', 1, 'month'"
            ),
            (
                "create table invoices as select 'inv-' || i as id, 'a' || i as account,"
                " DATE '2025-01-01' as date, 'USD' as currency,"
                f" replace('{lines}', 'X', i::varchar) as lines,"
                f" replace('{payments}', 'X', i::varchar) as pays from range({INVOICES}) t(i)"
            ),
        ],
    )
    conf = project(
        server,
        tmp_path,
        url,
        {name: {"table": name, "primary_key": "id"} for name in ("accounts", "plans", "invoices")},
        {
            "customers": {"model": "accounts", "object": "customer", "data_source": "W",
                          "mapping": {"external_id": "id"}},
            "plans": {"model": "plans", "object": "plan", "data_source": "W",
                      "mapping": {"external_id": "id", "name": "name", "interval_count": "n",
                                  "interval_unit": "unit"}},
            "invoices": {"model": "invoices", "object": "invoice", "mode": "insert",
                         "data_source": "W", "line_items": {"column": "lines"},
                         "transactions_column": "pays",
                         "mapping": {"external_id": "id", "customer_external_id": "account"}},
        },
    )  # fmt: skip
    for name in ("customers", "plans", "invoices"):
        record = await engine(conf).run(name)
        assert record.status.value == "success", (name, record.message)
    clean = await reconcile(conf, "invoices")
    assert (clean.in_both, clean.drifted) == (INVOICES, 0), clean.drifted_samples

    with api(server) as client:
        invoices = {i["external_id"]: i for i in all_pages(client, "/invoices", "invoices")}

        def patch(path: str, body: dict[str, object]) -> None:
            client.patch(path, json=body).raise_for_status()

        patch(f"/line_items/{invoices['inv-0']['line_items'][0]['uuid']}", {"discount_code": "X"})
        patch(f"/line_items/{invoices['inv-1']['line_items'][1]['uuid']}", {"account_code": "1"})
        patch(
            f"/transactions/{invoices['inv-2']['transactions'][0]['uuid']}",
            {"transaction_fees_in_cents": 46},
        )
        patch(f"/line_items/{invoices['inv-3']['line_items'][0]['uuid']}", {"prorated": False})
        [silver] = all_pages(client, "/plans", "plans", external_id="silver")
        patch(  # the plan, which ChartMogul shows by uuid only
            f"/line_items/{invoices['inv-4']['line_items'][0]['uuid']}",
            {"plan_uuid": silver["uuid"]},
        )

    report = await reconcile(conf, "invoices")
    assert (report.in_both, report.drifted) == (0, INVOICES)
    changes = {sample["key"]: sample["changes"] for sample in report.drifted_samples}
    assert "discount_code=X" in changes["inv-0"]["line_items"]["before"][0]
    assert "discount_code=PROMO" in changes["inv-0"]["line_items"]["after"][0]
    # only the item that differs is shown (the one-time item, not the subscription one)
    assert len(changes["inv-1"]["line_items"]["before"]) == 1
    assert "account_code=1" in changes["inv-1"]["line_items"]["before"][0]
    assert "transaction_fees_in_cents=46" in changes["inv-2"]["transactions"]["before"][0]
    assert "prorated=False" in changes["inv-3"]["line_items"]["before"][0]
    assert "plan_external_id=silver" in changes["inv-4"]["line_items"]["before"][0]
    assert "plan_external_id=gold" in changes["inv-4"]["line_items"]["after"][0]

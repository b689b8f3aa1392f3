"""A record disabled in ChartMogul is not "in both": it no longer counts towards any metric.

ChartMogul's UI and API can disable an invoice, a line item or a transaction (PATCH
``.../disabled_state``). The record stays listed, with every field as imported, so a
comparison of fields alone found it equal to the warehouse: a false "all match".
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.integration.sync._support import all_pages, api, engine, make_warehouse, project

from mogulsync.config import AppConfig
from mogulsync.emulator.server import EmulatorServer
from mogulsync.reconcile import reconcile

pytestmark = pytest.mark.anyio
INVOICES = 4


def _conf(server: EmulatorServer, tmp_path: Path) -> AppConfig:
    lines = json.dumps([{"type": "one_time", "amount_in_cents": 500, "external_id": "li-X"}])
    pays = json.dumps(
        [{"type": "payment", "result": "successful", "date": "2025-01-02", "external_id": "pay-X"}]
    )
    url = make_warehouse(
        tmp_path / "w.duckdb",
        [
            f"create table accounts as select 'a' || i as id from range({INVOICES}) t(i)",
            (
                "create table invoices as select 'inv-' || i as id, 'a' || i as account,"
                f" DATE '2025-01-01' as date, 'USD' as currency,"
                f" replace('{lines}', 'X', i::varchar) as lines,"
                f" replace('{pays}', 'X', i::varchar) as pays from range({INVOICES}) t(i)"
            ),
            (
                "create table txns as select 'tr-' || i as id, 'inv-' || i as invoice,"
                " 'refund' as type, 'successful' as result, DATE '2025-01-03' as date"
                f" from range({INVOICES}) t(i)"
            ),
        ],
    )
    return project(
        server,
        tmp_path,
        url,
        {name: {"table": name, "primary_key": "id"} for name in ("accounts", "invoices", "txns")},
        {
            "customers": {"model": "accounts", "object": "customer", "data_source": "W",
                          "mapping": {"external_id": "id"}},
            "invoices": {"model": "invoices", "object": "invoice", "mode": "insert",
                         "data_source": "W", "line_items": {"column": "lines"},
                         "transactions_column": "pays",
                         "mapping": {"external_id": "id", "customer_external_id": "account"}},
            "txns": {"model": "txns", "object": "transaction", "mode": "insert",
                     "data_source": "W",
                     "mapping": {"external_id": "id", "invoice_external_id": "invoice"}},
        },
    )  # fmt: skip


async def test_disabled_invoices_line_items_and_transactions_are_reported(
    server: EmulatorServer, tmp_path: Path
) -> None:
    """Disabling an invoice, a line item or a transaction makes it drift; the rest match.

    The invoices list their payments, and a transaction sync adds a refund to each.
    """
    conf = _conf(server, tmp_path)
    for name in ("customers", "invoices", "txns"):
        record = await engine(conf).run(name)
        assert record.status.value == "success", (name, record.message)
    # the refunds the transaction sync adds to the invoices are its records, not drift of
    # invoices whose rows list their payments (each of them drifted before)
    # and the payments the invoices list are theirs, not extra transactions of the
    # transaction sync (all four were, so its reconcile never matched)
    for name in ("invoices", "txns"):
        clean = await reconcile(conf, name)
        assert (clean.in_both, clean.drifted, clean.missing, clean.extra) == (INVOICES, 0, 0, 0)

    with api(server) as client:
        invoices = {i["external_id"]: i for i in all_pages(client, "/invoices", "invoices")}

        def disable(path: str) -> None:
            client.patch(f"{path}/disabled_state", json={"disabled": True}).raise_for_status()

        disable(f"/invoices/{invoices['inv-0']['uuid']}")
        disable(f"/line_items/{invoices['inv-1']['line_items'][0]['uuid']}")
        by_id = {t["external_id"]: t for t in invoices["inv-2"]["transactions"]}
        disable(f"/transactions/{by_id['pay-2']['uuid']}")  # an inline one
        by_id = {t["external_id"]: t for t in invoices["inv-3"]["transactions"]}
        disable(f"/transactions/{by_id['tr-3']['uuid']}")  # one of the transaction sync

    report = await reconcile(conf, "invoices")
    assert (report.in_both, report.drifted, report.missing) == (INVOICES - 3, 3, 0)
    assert dict(report.fields) == {"disabled": 1, "line_items": 1, "transactions": 1}
    changes = {sample["key"]: sample["changes"] for sample in report.drifted_samples}
    assert changes["inv-0"] == {"disabled": {"before": True, "after": False}}
    assert "disabled=True" in changes["inv-1"]["line_items"]["before"][0]
    assert "disabled=False" in changes["inv-1"]["line_items"]["after"][0]
    assert "disabled=True" in changes["inv-2"]["transactions"]["before"][0]

    transactions = await reconcile(conf, "txns")
    assert (transactions.in_both, transactions.drifted) == (INVOICES - 2, 2)
    changes = {sample["key"]: sample["changes"] for sample in transactions.drifted_samples}
    assert changes == {  # tr-0's invoice is disabled: the refund counts no more
        "tr-0": {"disabled": {"before": True, "after": False}},
        "tr-3": {"disabled": {"before": True, "after": False}},
    }


async def test_a_transaction_no_sync_adds_is_still_drift(
    server: EmulatorServer, tmp_path: Path
) -> None:
    """Without a transaction sync in the data source, a payment added by hand drifts."""
    conf = _conf(server, tmp_path)
    syncs = {name: sync for name, sync in conf.syncs.items() if name != "txns"}
    conf = conf.model_copy(update={"syncs": syncs})
    for name in ("customers", "invoices"):
        assert (await engine(conf).run(name)).status.value == "success"
    with api(server) as client:
        [invoice] = all_pages(client, "/invoices", "invoices", external_id="inv-1")
        client.post(
            f"/import/invoices/{invoice['uuid']}/transactions",
            json={"type": "refund", "result": "successful", "date": "2025-01-05T00:00:00Z"},
        ).raise_for_status()

    report = await reconcile(conf, "invoices")
    assert (report.in_both, report.drifted) == (INVOICES - 1, 1)
    assert report.drifted_samples[0]["key"] == "inv-1"
    assert dict(report.fields) == {"transactions": 1}


async def test_a_transaction_no_model_lists_is_extra_with_both_syncs(
    server: EmulatorServer, tmp_path: Path
) -> None:
    """With an invoice sync listing payments and a transaction sync in one data source, a
    refund added by hand is no drift of its invoice (a transaction sync adds them) and no
    row lists it: the transaction sync reports it extra (no false all-match anywhere)."""
    conf = _conf(server, tmp_path)
    for name in ("customers", "invoices", "txns"):
        assert (await engine(conf).run(name)).status.value == "success"
    with api(server) as client:
        [invoice] = all_pages(client, "/invoices", "invoices", external_id="inv-1")
        client.post(
            f"/import/invoices/{invoice['uuid']}/transactions",
            json={"type": "refund", "result": "successful", "date": "2025-01-05T00:00:00Z",
                  "external_id": "by-hand"},
        ).raise_for_status()  # fmt: skip

    assert not (await reconcile(conf, "invoices")).differs
    report = await reconcile(conf, "txns")
    assert (report.in_both, report.drifted, report.missing, report.extra) == (INVOICES, 0, 0, 1)
    assert [extra["external_id"] for extra in report.extra_samples] == ["by-hand"]

"""reconcile and --adopt against the emulator, with drift made through the official client."""

from __future__ import annotations

import shutil

import chartmogul
import pytest
from tests.integration.reconcile._support import (
    CUSTOMERS,
    config,
    customer_uuids,
    load,
    official,
    warehouse,
    writes,
)
from tests.integration.sync._support import engine, errors_by_key

from mogulsync.emulator.server import EmulatorServer
from mogulsync.reconcile import reconcile
from mogulsync.runs import RunStore

pytestmark = pytest.mark.anyio


def drift(server: EmulatorServer) -> None:
    """What a person and another tool do in ChartMogul between two runs."""
    cm = official(server)
    uuids = customer_uuids(server)
    chartmogul.Customer.modify(cm, uuid=uuids["acct-3"], data={"name": "Renamed in UI"}).get()
    chartmogul.Customer.modify(cm, uuid=uuids["acct-4"], data={"company": "Acme Renamed"}).get()
    chartmogul.CustomAttributes.update(
        cm,
        uuid=uuids["acct-5"],
        data={
            "custom": {
                "tier": "platinum",  # String
                "seats": 99,  # Integer
                "score": 0.25,  # Decimal
                "vip": True,  # Boolean (acct-5 is not a VIP in the warehouse)
                "renewal": "2031-05-05T00:00:00.000Z",  # Timestamp
            }
        },
    ).get()
    chartmogul.Customer.destroy(cm, uuid=uuids["acct-7"]).get()
    source = chartmogul.DataSource.all(cm, name="W").get().data_sources[0].uuid
    chartmogul.Customer.create(
        cm, data={"data_source_uuid": source, "external_id": "other-tool-1", "name": "Stray"}
    ).get()


async def test_reconcile_finds_missing_extra_and_drifted_customers(server, tmp_path):
    """Renamed, re-attributed, deleted and stray customers are each reported with samples."""
    conf = config(server, tmp_path, warehouse(tmp_path))
    await load(conf)
    drift(server)

    report = await reconcile(conf, "customers")

    assert (report.in_both, report.drifted, report.missing, report.extra) == (
        CUSTOMERS - 4,
        3,
        1,
        1,
    )
    assert report.missing_samples == ["acct-7"]
    assert report.extra_samples[0]["external_id"] == "other-tool-1"
    assert dict(report.fields) == {
        "name": 1,
        "company": 1,
        "custom.tier": 1,
        "custom.seats": 1,
        "custom.score": 1,
        "custom.vip": 1,
        "custom.renewal": 1,
    }
    by_key = {sample["key"]: sample["changes"] for sample in report.drifted_samples}
    assert by_key["acct-3"] == {"name": {"before": "Renamed in UI", "after": "Customer 3"}}
    assert by_key["acct-5"]["custom.seats"] == {"before": 99, "after": 5}
    assert by_key["acct-5"]["custom.vip"]["before"] is True
    assert report.differs
    assert report.api_calls >= 2  # the data source and at least one page of customers
    assert not report.adopted


async def test_reconcile_compares_invoice_line_items(server, tmp_path):
    """An invoice re-imported with another amount drifts on its line items; a gone one is missing."""
    conf = config(server, tmp_path, warehouse(tmp_path))
    await load(conf)
    cm = official(server)
    uuids = customer_uuids(server)
    invoice = chartmogul.Invoice.all(cm, customer_uuid=uuids["acct-9"]).get().invoices[0]
    chartmogul.Invoice.destroy(cm, uuid=invoice.uuid).get()
    chartmogul.Invoice.create(
        cm,
        uuid=uuids["acct-9"],
        data={
            "invoices": [
                {
                    "external_id": "inv-9",
                    "date": "2025-01-01T00:00:00Z",
                    "currency": "USD",
                    "line_items": [
                        {"type": "one_time", "amount_in_cents": 700, "external_id": "li-9"}
                    ],
                }
            ]
        },
    ).get()
    chartmogul.Customer.destroy(cm, uuid=uuids["acct-2"]).get()  # takes its invoice along

    report = await reconcile(conf, "invoices")

    assert (report.in_both, report.drifted, report.missing, report.extra) == (
        CUSTOMERS - 2,
        1,
        1,
        0,
    )
    assert dict(report.fields) == {"line_items": 1}
    [sample] = report.drifted_samples
    assert sample["key"] == "inv-9"
    change = sample["changes"]["line_items"]
    assert "amount_in_cents=700" in change["before"][0]
    assert "amount_in_cents=500" in change["after"][0]


async def test_in_sync_after_a_clean_load(server, tmp_path):
    """Straight after a sync, reconcile finds nothing to report."""
    conf = config(server, tmp_path, warehouse(tmp_path))
    await load(conf)
    for name in ("customers", "invoices"):
        report = await reconcile(conf, name)
        assert (report.in_both, report.drifted, report.missing, report.extra) == (
            CUSTOMERS,
            0,
            0,
            0,
        ), name
        assert not report.differs


async def test_adopt_then_run_sends_exactly_the_differing_rows(server, tmp_path):
    """State lost, records drifted: adopt, then a run creates 1 and updates 3, nothing else."""
    conf = config(server, tmp_path, warehouse(tmp_path))
    await load(conf)
    shutil.rmtree(tmp_path / "state")  # a lost state directory (or a move from another tool)
    drift(server)

    adopted = await reconcile(conf, "customers", adopt=True)
    assert adopted.adopted
    assert (adopted.drifted, adopted.missing) == (3, 1)
    before = writes(server)
    record = await engine(conf).run("customers")
    after = writes(server)

    assert record.status.value == "success", record.message
    rows = record.rows
    assert (rows.added, rows.changed, rows.unchanged) == (1, 3, CUSTOMERS - 4)
    sent = {endpoint: after[endpoint] - before.get(endpoint, 0) for endpoint in after}
    sent = {endpoint: count for endpoint, count in sent.items() if count}
    # one create for the deleted customer; each drifted one updated by uuid (its fields,
    # then its custom attributes): no lookup, and no write for the 36 that match
    assert sent == {
        "POST /v1/customers": 1,
        "PATCH /v1/customers/{id}": 3,
        "POST /v1/customers/{id}/attributes/custom": 3,
    }, sent
    assert record.api_calls == 1 + sum(sent.values())  # and the data source lookup

    again = await reconcile(conf, "customers")
    assert (again.drifted, again.missing, again.extra) == (0, 0, 1)  # the stray stays


async def test_adopt_is_recorded_in_the_run_history(server, tmp_path):
    """An adopt is a run: counts, message and every request it made."""
    conf = config(server, tmp_path, warehouse(tmp_path))
    await load(conf)
    report = await reconcile(conf, "customers", adopt=True)
    store = RunStore(tmp_path / "state")
    try:
        record = store.get(report.run_id or "")
        requests = list(store.requests(record.run_id))
    finally:
        store.close()
    assert record.status.value == "success"
    assert record.rows.unchanged == CUSTOMERS
    assert "reconcile --adopt" in (record.message or "")
    assert len(requests) == report.api_calls == record.api_calls
    assert errors_by_key(tmp_path / "state", record) == {}


async def test_adopt_refuses_while_a_run_holds_the_lock(server, tmp_path):
    """A run in progress (its lock taken) makes adopt refuse at once."""
    from mogulsync.sync.state import SyncLockedError
    from mogulsync.sync.state_open import open_lock

    conf = config(server, tmp_path, warehouse(tmp_path))
    lock = open_lock(conf, tmp_path / "state", "customers")
    lock.acquire()
    try:
        with pytest.raises(SyncLockedError):
            await reconcile(conf, "customers", adopt=True)
    finally:
        lock.release()


@pytest.mark.parametrize("state", ["embedded", "warehouse"])
async def test_adopt_then_run_with_each_state_store(server, tmp_path, state):
    """`state: warehouse` adopts too: its snapshot gets the warehouse's own row hashes."""
    conf = config(server, tmp_path, warehouse(tmp_path))
    if state == "warehouse":
        customers = conf.syncs["customers"].model_copy(update={"state": "warehouse"})
        conf = conf.model_copy(update={"syncs": {**conf.syncs, "customers": customers}})
    await load(conf)
    cm = official(server)
    uuids = customer_uuids(server)
    chartmogul.Customer.modify(cm, uuid=uuids["acct-8"], data={"company": "Edited"}).get()
    # the state is lost (embedded file removed / snapshot table emptied)
    from mogulsync.sync.state_open import open_state

    lost = open_state(conf, tmp_path / "state", "customers")
    try:
        lost.reset("customers")
    finally:
        lost.close()

    adopted = await reconcile(conf, "customers", adopt=True)
    assert (adopted.in_both, adopted.drifted, adopted.missing) == (CUSTOMERS - 1, 1, 0)
    before = writes(server)
    record = await engine(conf).run("customers")
    after = writes(server)
    assert record.status.value == "success", record.message
    assert (record.rows.changed, record.rows.added, record.rows.unchanged) == (1, 0, CUSTOMERS - 1)
    sent = {k: after[k] - before.get(k, 0) for k in after if after[k] != before.get(k, 0)}
    assert sent == {
        "PATCH /v1/customers/{id}": 1,
        "POST /v1/customers/{id}/attributes/custom": 1,
    }, sent

"""Contacts are paired by their external id exactly, as a run finds them.

A run compares contact external ids exactly (``K-1`` and ``k-1`` are two records, see
``mogulsync.sync.apply.contacts``), but reconcile paired them without case: a contact
another tool added as ``k-1`` passed for the warehouse's ``K-1`` (all match, exit 0) while
the next run created ``K-1``, and ``--adopt`` wrote the other tool's contact into the
snapshot (a later ``on_delete: delete`` of the row would delete it).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from tests.integration.sync._support import all_pages, api, engine, make_warehouse, project

from mogulsync.config import AppConfig
from mogulsync.emulator.server import EmulatorServer
from mogulsync.reconcile import reconcile
from mogulsync.sync.state import StateStore

pytestmark = pytest.mark.anyio
ACCOUNTS = 3


def _conf(server: EmulatorServer, tmp_path: Path) -> AppConfig:
    url = make_warehouse(
        tmp_path / "w.duckdb",
        [
            f"create table accounts as select 'a' || i as id from range({ACCOUNTS}) t(i)",
            (
                "create table people as select 'K-' || i as id, 'a' || i as account,"
                f" 'Ann' as first from range({ACCOUNTS}) t(i)"
            ),
        ],
    )
    return project(
        server,
        tmp_path,
        url,
        {
            "accounts": {"table": "accounts", "primary_key": "id"},
            "people": {"table": "people", "primary_key": "id"},
        },
        {
            "billing": {"model": "accounts", "object": "customer", "data_source": "Billing",
                        "mapping": {"external_id": "id"}, "custom_attributes": "none"},
            "contacts": {"model": "people", "object": "contact", "data_source": "Billing",
                         "mapping": {"customer_external_id": "account", "external_id": "id",
                                     "first_name": "first"},
                         "custom_attributes": "none"},
        },
    )  # fmt: skip


async def test_a_contact_whose_external_id_differs_in_case_is_another_record(
    server: EmulatorServer, tmp_path: Path
) -> None:
    """``k-0`` under the customer is extra and ``K-0`` missing, as the run then shows."""
    conf = _conf(server, tmp_path)
    assert (await engine(conf).run("billing")).status.value == "success"
    with api(server) as client:
        for customer in all_pages(client, "/customers", "entries"):
            client.post(
                "/contacts",
                json={
                    "customer_uuid": customer["uuid"],
                    "data_source_uuid": customer["data_source_uuid"],
                    "external_id": "k-" + customer["external_id"].removeprefix("a"),
                    "first_name": "Ann",
                },
            ).raise_for_status()

    report = await reconcile(conf, "contacts", adopt=True)
    assert (report.in_both, report.drifted, report.missing, report.extra) == (
        0,
        0,
        ACCOUNTS,
        ACCOUNTS,
    )
    assert sorted(extra["external_id"] for extra in report.extra_samples) == ["k-0", "k-1", "k-2"]
    # the adopt kept none of the other tool's contacts as the rows' records
    state = StateStore(tmp_path / "state")
    try:
        assert state.priors("contacts", ["K-0", "K-1", "K-2"]) == {}
    finally:
        state.close()

    record = await engine(conf).run("contacts")  # what reconcile said: each row is created
    assert (record.rows.added, record.rows.unchanged) == (ACCOUNTS, 0)
    with api(server) as client:
        assert len(all_pages(client, "/contacts", "entries")) == 2 * ACCOUNTS
    again = await reconcile(conf, "contacts")
    assert (again.in_both, again.missing, again.extra) == (ACCOUNTS, 0, ACCOUNTS)


async def test_a_contact_of_a_merged_customer_pairs_under_the_merged_record(
    server: EmulatorServer, tmp_path: Path
) -> None:
    """After a merge in ChartMogul, the contact the row names under `a1` is the merged
    customer's (a run finds it there): in both, not missing and extra; an adopt keeps it."""
    conf = _conf(server, tmp_path)
    await _synced(conf, "billing", "contacts")
    clean = await reconcile(conf, "contacts")
    assert (clean.in_both, clean.missing, clean.extra, clean.api_calls) == (ACCOUNTS, 0, 0, 2)
    with api(server) as client:
        uuids = {c["external_id"]: c["uuid"] for c in all_pages(client, "/customers", "entries")}
        client.post(
            "/customers/merges",
            json={"from": {"customer_uuid": uuids["a1"]}, "into": {"customer_uuid": uuids["a0"]}},
        ).raise_for_status()
        [moved] = [
            c for c in all_pages(client, "/contacts", "entries") if c["external_id"] == "K-1"
        ]
        assert moved["customer_external_id"] == "a0"
        client.patch(f"/contacts/{moved['uuid']}", json={"first_name": "Bob"}).raise_for_status()

    report = await reconcile(conf, "contacts")
    assert (report.in_both, report.drifted, report.missing, report.extra) == (ACCOUNTS - 1, 1, 0, 0)
    [sample] = report.drifted_samples
    assert (sample["key"], sample["uuid"]) == ("K-1", moved["uuid"])
    assert sample["changes"] == {"first_name": {"before": "Bob", "after": "Ann"}}
    assert report.api_calls == 2 + 1  # the data source's customers, listed for the merge

    shutil.rmtree(tmp_path / "state")
    adopted = await reconcile(conf, "contacts", adopt=True)
    assert (adopted.in_both, adopted.drifted, adopted.missing) == (ACCOUNTS - 1, 1, 0)
    record = await engine(conf).run("contacts")  # updates the one drifted contact, by uuid
    assert (record.rows.changed, record.rows.added, record.rows.unchanged) == (1, 0, ACCOUNTS - 1)
    with api(server) as client:
        contacts = all_pages(client, "/contacts", "entries")
    assert len(contacts) == ACCOUNTS
    assert {c["first_name"] for c in contacts} == {"Ann"}
    again = await reconcile(conf, "contacts")
    assert (again.in_both, again.drifted, again.missing, again.extra) == (ACCOUNTS, 0, 0, 0)


async def test_a_missing_contact_costs_no_customer_listing_when_nothing_is_extra(
    server: EmulatorServer, tmp_path: Path
) -> None:
    """Missing rows alone cannot pair with anything: the customers are not listed."""
    conf = _conf(server, tmp_path)
    await _synced(conf, "billing")
    report = await reconcile(conf, "contacts")
    assert (report.missing, report.extra, report.api_calls) == (ACCOUNTS, 0, 2)
    assert sorted(report.missing_samples) == ["K-0", "K-1", "K-2"]


async def _synced(conf: AppConfig, *names: str) -> None:
    for name in names:
        record = await engine(conf).run(name)
        assert record.status.value == "success", (name, record.message)

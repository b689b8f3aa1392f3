"""Reconcile pairs rows with records as a run finds them.

- A customer sync matched by email or uuid updates customers in whatever data source they
  are (a CRM sync enriching the billing system's customers): they were all reported
  missing, since only the sync's own data source was listed.
- Contacts are found among their customer's contacts: two customers' contacts sharing an
  email were paired with the same record (false drift on the other), and a twin another
  tool added under the same customer was hidden (marked seen with its first).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest
from tests.integration.sync._support import all_pages, api, engine, make_warehouse, project

from mogulsync.config import AppConfig
from mogulsync.emulator.server import EmulatorServer
from mogulsync.reconcile import reconcile

pytestmark = pytest.mark.anyio
ACCOUNTS = 5


def _conf(server: EmulatorServer, tmp_path: Path) -> AppConfig:
    url = make_warehouse(
        tmp_path / "w.duckdb",
        [
            (
                "create table accounts as select 'a' || i as id, 'Owner' || i || '@Acme.io'"
                f" as mail, 'Co ' || i as co from range({ACCOUNTS}) t(i)"
            ),
            # every account's billing contact has the same address
            (
                "create table people as select 'p' || i as id, 'a' || i as account,"
                " case when i = 0 then 'Billing@Shared.io' else 'billing@shared.io' end as mail,"
                f" '+1 555 000' || i as tel from range({ACCOUNTS}) t(i)"
            ),
            "create table enriched(uuid varchar, co varchar)",
        ],
    )
    return project(
        server,
        tmp_path,
        url,
        {
            "accounts": {"table": "accounts", "primary_key": "id"},
            "people": {"table": "people", "primary_key": "id"},
            "enriched": {"table": "enriched", "primary_key": "uuid"},
        },
        {
            "billing": {"model": "accounts", "object": "customer", "data_source": "Billing",
                        "mapping": {"external_id": "id", "email": "mail"},
                        "custom_attributes": "none"},
            "crm": {"model": "accounts", "object": "customer", "data_source": "CRM",
                    "mode": "update", "match": "email",
                    "mapping": {"email": "mail", "company": "co"}, "custom_attributes": "none"},
            "by_uuid": {"model": "enriched", "object": "customer", "data_source": "CRM",
                        "mode": "update", "match": "uuid",
                        "mapping": {"uuid": "uuid", "company": "co"},
                        "custom_attributes": "none"},
            "contacts": {"model": "people", "object": "contact", "data_source": "Billing",
                         "match": "email",
                         "mapping": {"customer_external_id": "account", "email": "mail",
                                     "phone": "tel"},
                         "custom_attributes": "none"},
        },
    )  # fmt: skip


async def _run(conf: AppConfig, *names: str) -> None:
    for name in names:
        record = await engine(conf).run(name)
        assert record.status.value == "success", (name, record.message)


@pytest.mark.parametrize("sync", ["crm", "by_uuid"])
async def test_customers_found_by_email_or_uuid_in_another_data_source(
    server: EmulatorServer, tmp_path: Path, sync: str
) -> None:
    """The customers a run updates elsewhere are in both; a stray of its own source is extra."""
    conf = _conf(server, tmp_path)
    await _run(conf, "billing")
    with api(server) as client:
        uuids = {c["external_id"]: c["uuid"] for c in all_pages(client, "/customers", "entries")}
    with duckdb.connect(str(tmp_path / "w.duckdb")) as db:
        db.executemany(
            "insert into enriched values (?, ?)",
            [(uuid, f"Co {key.removeprefix('a')}") for key, uuid in uuids.items()],
        )
    await _run(conf, sync)

    clean = await reconcile(conf, sync)
    assert (clean.in_both, clean.drifted, clean.missing, clean.extra) == (ACCOUNTS, 0, 0, 0)

    with api(server) as client:
        client.patch(f"/customers/{uuids['a2']}", json={"company": "Edited"}).raise_for_status()
        crm = next(
            d for d in client.get("/data_sources").json()["data_sources"] if d["name"] == "CRM"
        )
        client.post(
            "/customers", json={"data_source_uuid": crm["uuid"], "external_id": "stray"}
        ).raise_for_status()
    report = await reconcile(conf, sync)
    assert (report.in_both, report.drifted, report.missing, report.extra) == (ACCOUNTS - 1, 1, 0, 1)
    [sample] = report.drifted_samples
    assert sample["uuid"] == uuids["a2"]
    assert sample["changes"] == {"company": {"before": "Edited", "after": "Co 2"}}
    assert [extra["external_id"] for extra in report.extra_samples] == ["stray"]


async def test_every_customer_sharing_the_email_is_compared(
    server: EmulatorServer, tmp_path: Path
) -> None:
    """A run by email updates each customer with the address: each one that differs drifts."""
    conf = _conf(server, tmp_path)
    await _run(conf, "billing")
    with api(server) as client:
        billing = next(
            d for d in client.get("/data_sources").json()["data_sources"] if d["name"] == "Billing"
        )
        client.post(
            "/customers",
            json={"data_source_uuid": billing["uuid"], "external_id": "twin",
                  "email": "owner3@acme.io"},
        ).raise_for_status()  # fmt: skip
    await _run(conf, "crm")  # updates both customers of owner3@acme.io
    assert (await reconcile(conf, "crm")).drifted == 0
    with api(server) as client:
        [twin] = all_pages(client, "/customers", "entries", external_id="twin")
        client.patch(f"/customers/{twin['uuid']}", json={"company": "Other"}).raise_for_status()

    report = await reconcile(conf, "crm")
    assert (report.in_both, report.drifted) == (ACCOUNTS - 1, 1)
    assert report.drifted_samples[0]["uuid"] == twin["uuid"]


async def test_contacts_are_paired_under_their_customer(
    server: EmulatorServer, tmp_path: Path
) -> None:
    """Contacts sharing an email under different customers each pair with their own."""
    conf = _conf(server, tmp_path)
    await _run(conf, "billing", "contacts")

    clean = await reconcile(conf, "contacts")
    assert (clean.in_both, clean.drifted, clean.missing, clean.extra) == (ACCOUNTS, 0, 0, 0)

    with api(server) as client:
        contacts = all_pages(client, "/contacts", "entries")
        of = {c["customer_external_id"]: c for c in contacts}
        client.patch(f"/contacts/{of['a3']['uuid']}", json={"phone": "+1 555 9999"})
        # another tool adds a twin of a1's contact (ChartMogul keeps contacts unique on nothing)
        client.post(
            "/contacts",
            json={"customer_uuid": of["a1"]["customer_uuid"],
                  "data_source_uuid": of["a1"]["data_source_uuid"],
                  "email": "billing@shared.io"},
        ).raise_for_status()  # fmt: skip

    report = await reconcile(conf, "contacts")
    assert (report.in_both, report.drifted, report.missing, report.extra) == (ACCOUNTS - 1, 1, 0, 1)
    [sample] = report.drifted_samples
    assert sample["key"] == "p3"
    assert sample["changes"] == {"phone": {"before": "+1 555 9999", "after": "+1 555 0003"}}


async def test_a_customer_merged_into_another_pairs_with_the_merged_record(
    server: EmulatorServer, tmp_path: Path
) -> None:
    """After a merge in ChartMogul, the merged-away row is not missing (a run would not
    create it: its external id finds the merged record); it is compared with that record."""
    conf = _conf(server, tmp_path)
    await _run(conf, "billing")
    with api(server) as client:
        uuids = {c["external_id"]: c["uuid"] for c in all_pages(client, "/customers", "entries")}
        client.post(
            "/customers/merges",
            json={"from": {"customer_uuid": uuids["a1"]}, "into": {"customer_uuid": uuids["a0"]}},
        ).raise_for_status()

    report = await reconcile(conf, "billing")
    assert (report.in_both, report.drifted, report.missing, report.extra) == (ACCOUNTS - 1, 1, 0, 0)
    [sample] = report.drifted_samples
    assert (sample["key"], sample["uuid"]) == ("a1", uuids["a0"])
    assert sample["changes"] == {"email": {"before": "owner0@acme.io", "after": "owner1@acme.io"}}

    # the merged record is not extra when only one of its external ids is in the model
    with duckdb.connect(str(tmp_path / "w.duckdb")) as db:
        db.execute("delete from accounts where id = 'a1'")
    again = await reconcile(conf, "billing")
    assert (again.in_both, again.drifted, again.missing, again.extra) == (ACCOUNTS - 1, 0, 0, 0)


async def test_a_customer_syncs_primary_contact_fields_are_compared(
    server: EmulatorServer, tmp_path: Path
) -> None:
    """``primary_contact.*`` fields are the customer's first contact's: an edited phone drifts."""
    conf = _conf(server, tmp_path)
    billing = conf.syncs["billing"]
    mapping = {**billing.mapping, "primary_contact.phone": "co", "primary_contact.email": "mail"}
    syncs = {**conf.syncs, "billing": billing.model_copy(update={"mapping": mapping})}
    conf = conf.model_copy(update={"syncs": syncs})
    await _run(conf, "billing", "contacts")  # a second contact under each customer

    clean = await reconcile(conf, "billing")
    assert (clean.in_both, clean.drifted) == (ACCOUNTS, 0)

    with api(server) as client:
        contacts = all_pages(client, "/contacts", "entries")
        [primary] = [
            c for c in contacts if c["customer_external_id"] == "a4" and c["position"] == 1
        ]
        client.patch(f"/contacts/{primary['uuid']}", json={"phone": "Co 4b"}).raise_for_status()
    report = await reconcile(conf, "billing")
    assert (report.in_both, report.drifted) == (ACCOUNTS - 1, 1)
    [sample] = report.drifted_samples
    assert sample["key"] == "a4"
    assert sample["changes"] == {"primary_contact.phone": {"before": "Co 4b", "after": "Co 4"}}


async def test_adopt_by_email_and_contacts_then_run_sends_only_the_drifted(
    server: EmulatorServer, tmp_path: Path
) -> None:
    """With the state lost, an adopt pairs as a run does: the run updates the one drifted."""
    conf = _conf(server, tmp_path)
    await _run(conf, "billing", "crm", "contacts")
    shutil.rmtree(tmp_path / "state")
    with api(server) as client:
        uuids = {c["external_id"]: c["uuid"] for c in all_pages(client, "/customers", "entries")}
        client.patch(f"/customers/{uuids['a2']}", json={"company": "Edited"}).raise_for_status()
        [shared] = [
            c
            for c in all_pages(client, "/contacts", "entries")
            if c["customer_external_id"] == "a3" and c["email"] == "billing@shared.io"
        ]
        client.patch(f"/contacts/{shared['uuid']}", json={"phone": "changed"}).raise_for_status()

    for name in ("crm", "contacts"):
        adopted = await reconcile(conf, name, adopt=True)
        assert (adopted.in_both, adopted.drifted, adopted.missing) == (ACCOUNTS - 1, 1, 0), name
        record = await engine(conf).run(name)
        assert record.status.value == "success", record.message
        assert (record.rows.changed, record.rows.added, record.rows.unchanged) == (
            1,
            0,
            ACCOUNTS - 1,
        ), name
        again = await reconcile(conf, name)
        assert (again.in_both, again.drifted, again.missing) == (ACCOUNTS, 0, 0), name

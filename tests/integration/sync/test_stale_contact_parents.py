"""Contacts whose parent customer was deleted in ChartMogul by someone else.

The contact sync names the parent by the uuid the registry remembers. When ChartMogul
answers 404 for that customer, the sync forgets the uuid, looks the customer up again by
external id and retries the row once (so later runs never keep failing on a stale uuid).
"""

from __future__ import annotations

import duckdb
import pytest
from tests.integration.sync._support import (
    all_pages,
    api,
    engine,
    errors_by_key,
    make_warehouse,
    project,
)

from mogulsync.reconcile import reconcile

pytestmark = pytest.mark.anyio

TABLES = [
    "create table accounts(id varchar)",
    "insert into accounts values ('c1')",
    "create table people(id varchar, account varchar, email varchar)",
    "insert into people values ('p1', 'c1', 'ann@x.io')",
]


def _project(server, tmp_path, url, mode, on_delete="ignore"):
    syncs = {
        "customers": {"model": "accounts", "object": "customer", "data_source": "W",
                      "mapping": {"external_id": "id"}, "on_delete": on_delete},
        "contacts": {"model": "people", "object": "contact", "data_source": "W", "mode": mode,
                     "mapping": {"external_id": "id", "customer_external_id": "account",
                                 "email": "email"},
                     "custom_attributes": "none"},
    }  # fmt: skip
    models = {name: {"table": name, "primary_key": "id"} for name in ("accounts", "people")}
    return project(server, tmp_path, url, models, syncs)


def _add_person(url: str, key: str) -> None:
    db = duckdb.connect(url.removeprefix("duckdb:///"))
    db.execute(f"insert into people values ('{key}', 'c1', '{key}@x.io')")
    db.close()


async def _synced(config, *names: str) -> None:
    for name in names:
        assert (await engine(config).run(name)).status.value == "success", name


def _delete_customer(server) -> str:
    """Someone deletes customer c1 in ChartMogul (not through the sync); its data source."""
    with api(server) as client:
        (customer,) = all_pages(client, "/customers", "entries")
        client.delete(f"/customers/{customer['uuid']}").raise_for_status()
        return str(customer["data_source_uuid"])


def _contacts(server) -> dict[str, str]:
    """Contact external id → its customer's uuid."""
    with api(server) as client:
        return {
            c["external_id"]: c["customer_uuid"] for c in all_pages(client, "/contacts", "entries")
        }


@pytest.mark.parametrize("mode", ["insert", "upsert"])
async def test_a_contact_of_a_customer_deleted_in_chartmogul_says_so(
    emulator_server, tmp_path, mode
):
    """The row names the customer and the fix, on every run until the fix is applied."""
    url = make_warehouse(tmp_path / "w.duckdb", TABLES)
    config = _project(emulator_server, tmp_path, url, mode)
    await _synced(config, "customers", "contacts")
    _delete_customer(emulator_server)
    _add_person(url, "p2")
    for _ in range(2):  # later runs say so too (a tombstone in the registry)
        record = await engine(config).run("contacts")
        errors = errors_by_key(tmp_path / "state", record)
        assert [field for field, _, _ in errors["p2"]] == ["customer_external_id"]
        _, message, action = errors["p2"][0]
        assert "'c1' was deleted in ChartMogul" in message
        assert "mogulsync reconcile customers --adopt" in action
    # the documented fix re-creates the customer; the contact lands under the new one
    await reconcile(config, "customers", adopt=True)
    await _synced(config, "customers", "contacts")
    with api(emulator_server) as client:
        (customer,) = all_pages(client, "/customers", "entries")
    assert _contacts(emulator_server)["p2"] == customer["uuid"]


async def test_a_contact_of_a_customer_recreated_in_chartmogul_lands_on_it(
    emulator_server, tmp_path
):
    """Deleted and created again (a new uuid): the stale uuid is forgotten, the row lands."""
    url = make_warehouse(tmp_path / "w.duckdb", TABLES)
    config = _project(emulator_server, tmp_path, url, "insert")
    await _synced(config, "customers", "contacts")
    source = _delete_customer(emulator_server)
    with api(emulator_server) as client:
        body = {"data_source_uuid": source, "external_id": "c1", "name": "C1"}
        new_uuid = client.post("/customers", json=body).json()["uuid"]
    _add_person(url, "p2")
    _add_person(url, "p3")
    record = await engine(config).run("contacts")
    assert (record.status.value, record.rows.failed) == ("success", 0)
    contacts = _contacts(emulator_server)
    assert (contacts["p2"], contacts["p3"]) == (new_uuid, new_uuid)


async def test_a_contact_of_a_customer_our_sync_deleted_says_sync_customers_first(
    emulator_server, tmp_path
):
    """Deleted by the customer sync (on_delete: delete): not "deleted in ChartMogul"."""
    url = make_warehouse(tmp_path / "w.duckdb", TABLES)
    config = _project(emulator_server, tmp_path, url, "insert", on_delete="delete")
    await _synced(config, "customers", "contacts")
    db = duckdb.connect(url.removeprefix("duckdb:///"))
    db.execute("delete from accounts")
    db.close()
    await _synced(config, "customers")
    _add_person(url, "p2")
    record = await engine(config).run("contacts")
    ((field, message, action),) = errors_by_key(tmp_path / "state", record)["p2"]
    assert field == "customer_external_id"
    assert "deleted" not in message
    assert "Sync customers first" in action

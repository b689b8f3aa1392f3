"""Customers: every mode x match key against the emulator over real HTTP, with error paths."""

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

pytestmark = pytest.mark.anyio

ACCOUNTS = [
    (
        "create table accounts(id varchar, company varchar, mail varchar, cc varchar, seats integer,"
        " vip boolean, mrr_hint decimal(10,2), since timestamp, tags varchar)"
    ),
    (
        "insert into accounts values"
        " ('a1','Acme','ops@acme.io','US',3,true,10.5,'2024-01-02 03:04:05','gold,eu'),"
        " ('a2','Beta','ops@beta.io','de',5,false,null,null,null)"
    ),
]


def _config(server, tmp_path, url, **sync):
    base = {
        "model": "accounts",
        "object": "customer",
        "data_source": "Warehouse",
        "mapping": {"external_id": "id", "name": "company", "email": "mail", "country": "cc"},
    }
    return project(
        server,
        tmp_path,
        url,
        {"accounts": {"table": "accounts", "primary_key": "id"}},
        {"customers": {**base, **sync}},
    )


def _customers(server):
    with api(server) as client:
        return {c["external_id"]: c for c in all_pages(client, "/customers", "entries")}


def _sql(url: str, statement: str) -> None:
    db = duckdb.connect(url.removeprefix("duckdb:///"))
    db.execute(statement)
    db.close()


async def test_upsert_by_external_id_creates_then_updates_typed_attributes(
    emulator_server, tmp_path
):
    """Upsert creates with typed custom attributes and tags, then updates changed rows only."""
    url = make_warehouse(tmp_path / "w.duckdb", ACCOUNTS)
    config = _config(emulator_server, tmp_path, url, mapping={
        "external_id": "id", "name": "company", "email": "mail", "country": "cc", "tags": "tags",
    })  # fmt: skip
    first = await engine(config).run("customers")
    assert (first.status.value, first.rows.added, first.rows.succeeded) == ("success", 2, 2)
    acme = _customers(emulator_server)["a1"]
    assert acme["country"] == "US"
    assert acme["attributes"]["tags"] == ["gold", "eu"]
    custom = acme["attributes"]["custom"]
    assert custom["seats"] == 3
    assert custom["vip"] is True
    assert custom["mrr_hint"] == 10.5
    assert custom["since"].startswith("2024-01-02T03:04:05")
    _sql(url, "update accounts set company='Acme 2', seats=9 where id='a1'")
    second = await engine(config).run("customers")
    assert (second.rows.changed, second.rows.unchanged, second.rows.succeeded) == (1, 1, 1)
    acme = _customers(emulator_server)["a1"]
    assert acme["name"] == "Acme 2"
    assert acme["attributes"]["custom"]["seats"] == 9
    assert len(_customers(emulator_server)) == 2


async def test_null_string_attribute_is_sent_as_substitute(emulator_server, tmp_path):
    """A String custom attribute that became null is set to the documented "null" value."""
    url = make_warehouse(
        tmp_path / "w.duckdb",
        ["create table accounts(id varchar, company varchar, segment varchar)",
         "insert into accounts values ('a1','Acme','smb')"],
    )  # fmt: skip
    config = _config(
        emulator_server, tmp_path, url, mapping={"external_id": "id", "name": "company"}
    )
    await engine(config).run("customers")
    _sql(url, "update accounts set segment = null")
    record = await engine(config).run("customers")
    assert record.status.value == "success"
    assert _customers(emulator_server)["a1"]["attributes"]["custom"]["segment"] == "null"


async def test_insert_refuses_existing_customer_and_update_refuses_missing(
    emulator_server, tmp_path
):
    """Insert of an existing external id and update of a missing one are row errors."""
    url = make_warehouse(tmp_path / "w.duckdb", ACCOUNTS)
    with api(emulator_server) as client:
        ds = client.post("/data_sources", json={"name": "Warehouse"}).json()["uuid"]
        client.post("/customers", json={"data_source_uuid": ds, "external_id": "a1"})
    insert = _config(emulator_server, tmp_path, url, mode="insert", custom_attributes="none")
    record = await engine(insert).run("customers")
    assert record.status.value == "partial"
    errors = errors_by_key(tmp_path / "state", record)
    assert errors["a1"][0][0] == "external_id"
    assert "already exists" in errors["a1"][0][1]
    update = _config(emulator_server, tmp_path / "u", url, mode="update", custom_attributes="none")
    _sql(url, "insert into accounts values ('a9','Nine',null,null,null,null,null,null,null)")
    record = await engine(update).run("customers")
    errors = errors_by_key(tmp_path / "u" / "state", record)
    assert errors["a9"][0][0] == "external_id"
    assert "no customer" in errors["a9"][0][1]


async def test_match_by_email_updates_every_customer_with_that_email(emulator_server, tmp_path):
    """Update by email applies to all customers sharing it; upsert creates when none."""
    url = make_warehouse(
        tmp_path / "w.duckdb",
        ["create table accounts(id varchar, company varchar, mail varchar)",
         "insert into accounts values ('x1','Shared Co','same@x.io'),('x2','Solo','solo@x.io')"],
    )  # fmt: skip
    with api(emulator_server) as client:
        ds = client.post("/data_sources", json={"name": "Warehouse"}).json()["uuid"]
        for ext in ("old-1", "old-2"):
            client.post(
                "/customers",
                json={"data_source_uuid": ds, "external_id": ext, "email": "same@x.io"},
            )
    config = _config(
        emulator_server, tmp_path, url, match="email", custom_attributes="none",
        mapping={"external_id": "id", "name": "company", "email": "mail"},
    )  # fmt: skip
    record = await engine(config).run("customers")
    assert record.status.value == "success", record.message
    customers = _customers(emulator_server)
    assert customers["old-1"]["name"] == customers["old-2"]["name"] == "Shared Co"
    assert "x1" not in customers  # matched, not created
    assert customers["x2"]["name"] == "Solo"  # no match: upsert created it


async def test_update_by_uuid_and_unknown_uuid_error(emulator_server, tmp_path):
    """Update by ChartMogul uuid changes that customer; an unknown uuid is a row error."""
    with api(emulator_server) as client:
        ds = client.post("/data_sources", json={"name": "Warehouse"}).json()["uuid"]
        uuid = client.post("/customers", json={"data_source_uuid": ds, "external_id": "e"}).json()[
            "uuid"
        ]
    url = make_warehouse(
        tmp_path / "w.duckdb",
        ["create table accounts(id varchar, cm varchar, company varchar)",
         (f"insert into accounts values ('1','{uuid}','Renamed'),"
         " ('2','cus_00000000-0000-0000-0000-000000000000','Ghost')")],
    )  # fmt: skip
    config = _config(
        emulator_server, tmp_path, url, mode="update", match="uuid", custom_attributes="none",
        mapping={"uuid": "cm", "name": "company"},
    )  # fmt: skip
    record = await engine(config).run("customers")
    assert record.status.value == "partial"
    assert _customers(emulator_server)["e"]["name"] == "Renamed"
    errors = errors_by_key(tmp_path / "state", record)
    assert errors["2"][0][0] == "uuid"


async def test_custom_attribute_type_conflict_is_a_row_error(emulator_server, tmp_path):
    """A column whose type conflicts with the type locked in ChartMogul fails that row clearly."""
    with api(emulator_server) as client:
        ds = client.post("/data_sources", json={"name": "Other"}).json()["uuid"]
        client.post("/customers", json={
            "data_source_uuid": ds, "external_id": "z",
            "attributes": {"custom": [{"type": "Integer", "key": "plan_code", "value": 1}]},
        })  # fmt: skip
    url = make_warehouse(
        tmp_path / "w.duckdb",
        ["create table accounts(id varchar, company varchar, plan_code varchar)",
         "insert into accounts values ('a1','Acme','gold')"],
    )  # fmt: skip
    config = _config(
        emulator_server, tmp_path, url, mapping={"external_id": "id", "name": "company"}
    )
    record = await engine(config).run("customers")
    assert record.status.value == "partial"  # completed; its only row refused
    (field, message, _action), *_ = errors_by_key(tmp_path / "state", record)["a1"]
    assert field == "attributes.custom.plan_code"
    assert "Integer" in message


async def test_on_delete_delete_removes_customers_that_left_the_model(emulator_server, tmp_path):
    """With on_delete: delete, a row leaving the model deletes its customer."""
    url = make_warehouse(tmp_path / "w.duckdb", ACCOUNTS)
    config = _config(emulator_server, tmp_path, url, on_delete="delete", custom_attributes="none")
    await engine(config).run("customers")
    _sql(url, "delete from accounts where id='a2'")
    record = await engine(config).run("customers")
    assert (record.rows.removed, record.rows.succeeded) == (1, 1)
    assert set(_customers(emulator_server)) == {"a1"}

"""The object x mode x match combinations the other files do not cover, with their error paths."""

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

TABLES = [
    "create table accounts(id varchar, company varchar, mail varchar)",
    "insert into accounts values ('a1','Acme','ops@acme.io'),('a2','Beta','ops@beta.io')",
    "create table people(id varchar, account_id varchar, first_name varchar, email varchar)",
    "insert into people values ('p1','a1','Ann','ann@acme.io'),('p2','a1','Al','al@acme.io')",
    "create table plans(id varchar, name varchar, interval_count integer, interval_unit varchar)",
    "insert into plans values ('gold','Gold',1,'month'),('taken','Taken',1,'year')",
]
MODELS = {
    "accounts": {"table": "accounts", "primary_key": "id"},
    "people": {"table": "people", "primary_key": "id"},
    "plans": {"table": "plans", "primary_key": "id"},
}


def _customers(**sync):
    base = {"model": "accounts", "object": "customer", "data_source": "W",
            "custom_attributes": "none",
            "mapping": {"external_id": "id", "name": "company", "email": "mail"}}  # fmt: skip
    return {"customers": {**base, **sync}}


def _sql(url: str, statement: str) -> None:
    db = duckdb.connect(url.removeprefix("duckdb:///"))
    db.execute(statement)
    db.close()


def _list(server, path, key):
    with api(server) as client:
        return all_pages(client, path, key)


def _data_source(server) -> str:
    with api(server) as client:
        return str(client.post("/data_sources", json={"name": "W"}).json()["uuid"])


@pytest.fixture
def url(tmp_path):
    return make_warehouse(tmp_path / "w.duckdb", TABLES)


async def test_customer_insert_by_email_creates_new_and_refuses_taken_emails(
    emulator_server, tmp_path, url
):
    """Insert matched by email creates when no customer has it, and fails rows whose email exists."""
    ds = _data_source(emulator_server)
    with api(emulator_server) as client:
        client.post("/customers", json={"data_source_uuid": ds, "external_id": "old",
                                        "email": "ops@beta.io"})  # fmt: skip
    config = project(
        emulator_server, tmp_path, url, MODELS, _customers(mode="insert", match="email")
    )
    record = await engine(config).run("customers")
    assert (record.status.value, record.rows.succeeded, record.rows.failed) == ("partial", 1, 1)
    (field, message, action), *_ = errors_by_key(tmp_path / "state", record)["a2"]
    assert (field, "upsert" in action) == ("email", True)
    assert "already exist" in message
    landed = {c["external_id"] for c in _list(emulator_server, "/customers", "entries")}
    assert landed == {"old", "a1"}


async def test_customer_update_by_external_id_and_insert_never_updates(
    emulator_server, tmp_path, url
):
    """Update by external id changes existing customers; insert mode leaves them as they were."""
    ds = _data_source(emulator_server)
    with api(emulator_server) as client:
        for ext in ("a1", "a2"):
            client.post("/customers", json={"data_source_uuid": ds, "external_id": ext,
                                            "name": "before"})  # fmt: skip
    update = project(emulator_server, tmp_path, url, MODELS, _customers(mode="update"))
    record = await engine(update).run("customers")
    assert (record.status.value, record.rows.succeeded) == ("success", 2)
    names = {c["external_id"]: c["name"] for c in _list(emulator_server, "/customers", "entries")}
    assert names == {"a1": "Acme", "a2": "Beta"}
    insert = project(emulator_server, tmp_path / "i", url, MODELS,
                     _customers(mode="insert", data_source="Fresh"))  # fmt: skip
    assert (await engine(insert).run("customers")).rows.succeeded == 2
    _sql(url, "update accounts set company = 'Renamed' where id = 'a1'")
    again = await engine(insert).run("customers")
    assert (again.rows.changed, again.rows.failed) == (1, 0)
    fresh = [c for c in _list(emulator_server, "/customers", "entries") if c["name"] == "Renamed"]
    assert fresh == []  # insert mode never updates a customer it created


async def test_contact_upsert_by_email_creates_then_updates(emulator_server, tmp_path, url):
    """Contacts upserted by email: created once, then the same contact is updated."""
    syncs = {
        **_customers(),
        "contacts": {"model": "people", "object": "contact", "match": "email", "data_source": "W",
                     "custom_attributes": "none",
                     "mapping": {"customer_external_id": "account_id", "email": "email",
                                 "first_name": "first_name"}},
    }  # fmt: skip
    config = project(emulator_server, tmp_path, url, MODELS, syncs)
    await engine(config).run("customers")
    assert (await engine(config).run("contacts")).rows.succeeded == 2
    _sql(url, "update people set first_name = 'Annie' where id = 'p1'")
    record = await engine(config).run("contacts")
    assert (record.rows.changed, record.rows.succeeded) == (1, 1)
    contacts = _list(emulator_server, "/contacts", "entries")
    assert sorted(c["first_name"] for c in contacts) == ["Al", "Annie"]


async def test_plan_insert_creates_refuses_foreign_and_never_updates(
    emulator_server, tmp_path, url
):
    """Plan insert: new plans land, an external id taken outside the sync is a row error."""
    ds = _data_source(emulator_server)
    with api(emulator_server) as client:
        client.post("/plans", json={"data_source_uuid": ds, "external_id": "taken",
                                    "name": "Theirs", "interval_count": 1,
                                    "interval_unit": "month"})  # fmt: skip
    syncs = {"plans": {"model": "plans", "object": "plan", "mode": "insert", "data_source": "W",
                       "mapping": {"external_id": "id"}}}  # fmt: skip
    config = project(emulator_server, tmp_path, url, MODELS, syncs)
    record = await engine(config).run("plans")
    assert (record.status.value, record.rows.succeeded, record.rows.failed) == ("partial", 1, 1)
    (field, message, action), *_ = errors_by_key(tmp_path / "state", record)["taken"]
    assert (field, "already exists" in message, "upsert" in action) == ("external_id", True, True)
    _sql(url, "update plans set name = 'Gold+' where id = 'gold'")
    await engine(config).run("plans")
    names = {p["external_id"]: p["name"] for p in _list(emulator_server, "/plans", "plans")}
    assert names == {"gold": "Gold", "taken": "Theirs"}

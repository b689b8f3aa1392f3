"""Defects the model-based test (test_model_based.py) found, each pinned by a small test."""

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

from mogulsync.sync.apply import contacts as contacts_apply

pytestmark = pytest.mark.anyio


def _sql(url: str, statement: str) -> None:
    db = duckdb.connect(url.removeprefix("duckdb:///"))
    db.execute(statement)
    db.close()


def _contacts(server, tmp_path, url, *, mode: str):
    sync = {"model": "people", "object": "contact", "mode": mode, "data_source": "W",
            "custom_attributes": "none",
            "mapping": {"external_id": "id", "customer_external_id": "account",
                        "email": "email"}}  # fmt: skip
    return project(
        server, tmp_path, url, {"people": {"table": "people", "primary_key": "id"}},
        {"contacts": sync},
    )  # fmt: skip


async def test_contact_insert_never_duplicates_a_contact_that_exists(emulator_server, tmp_path):
    """Insert of a contact whose external id the parent already has: a row error, no twin.

    Found as: insert c1, drop it from the model (on_delete: ignore, the contact stays), put
    it back, run insert again -> ChartMogul held c1 twice (insert mode created without the
    lookup docs/sync.md promises "before any create").
    """
    with api(emulator_server) as client:
        ds = client.post("/data_sources", json={"name": "W"}).json()["uuid"]
        client.post("/customers", json={"data_source_uuid": ds, "external_id": "p1"})
    url = make_warehouse(
        tmp_path / "w.duckdb",
        ["create table people(id varchar, account varchar, email varchar)",
         "insert into people values ('c1', 'p1', 'ann@acme.io')"],
    )  # fmt: skip
    config = _contacts(emulator_server, tmp_path, url, mode="insert")
    assert (await engine(config).run("contacts")).status.value == "success"
    _sql(url, "delete from people")
    assert (await engine(config).run("contacts")).rows.removed == 1  # the contact stays
    _sql(url, "insert into people values ('c1', 'p1', 'ann@acme.io')")
    record = await engine(config).run("contacts")
    with api(emulator_server) as client:
        contacts = all_pages(client, "/contacts", "entries")
    assert [c["external_id"] for c in contacts] == ["c1"]
    assert (record.status.value, record.rows.failed) == ("partial", 1)
    ((field, message, action),) = errors_by_key(tmp_path / "state", record)["c1"]
    assert (field, "already exists" in message, "upsert" in action) == ("external_id", True, True)


def _customers(server, tmp_path, url, *, on_delete: str = "delete"):
    sync = {"model": "accounts", "object": "customer", "data_source": "W", "on_delete": on_delete,
            "custom_attributes": "none", "mapping": {"external_id": "id", "name": "name"}}  # fmt: skip
    return project(
        server, tmp_path, url, {"accounts": {"table": "accounts", "primary_key": "id"}},
        {"customers": sync},
    )  # fmt: skip


async def test_plan_counts_the_delete_of_a_row_left_in_flight(emulator_server, admin, tmp_path):
    """A never-accepted row in flight that leaves the model: the plan predicts its delete.

    Found as: sync a1; add a2; a run whose writes all get 502 (a2 in flight, maybe landed);
    drop a2; ``sync plan`` said 0 deletes, the run then removed 1 (it looks a2 up by its
    external id and deletes what it finds, docs/sync.md step 5).
    """
    from mogulsync.sync.connect import client_settings
    from mogulsync.sync.plan import plan_sync

    url = make_warehouse(
        tmp_path / "w.duckdb",
        ["create table accounts(id varchar, name varchar)",
         "insert into accounts values ('a1', 'One')"],
    )  # fmt: skip
    config = _customers(emulator_server, tmp_path, url)
    assert (await engine(config).run("customers")).status.value == "success"
    _sql(url, "insert into accounts values ('a2', 'Two')")
    admin.put("/faults", json={"error_rate": 1.0, "error_statuses": [502],
                               "methods": ["POST"]}).raise_for_status()  # fmt: skip
    try:
        assert (await engine(config).run("customers")).rows.succeeded == 0
    finally:
        admin.delete("/faults").raise_for_status()
    _sql(url, "delete from accounts where id = 'a2'")
    plan = await plan_sync(config, "customers", client_settings(config))
    record = await engine(config).run("customers")
    assert (record.status.value, record.rows.removed) == ("success", 1)
    assert plan.counts["deletes"] == record.rows.removed
    assert [s["key"] for s in plan.samples["deletes"]] == ["a2"]


async def test_upsert_updates_a_customer_found_after_an_unanswered_create(
    emulator_server, admin, tmp_path
):
    """Upsert of a customer that exists, whose create got a 502: the row's values land.

    Found as: sync a1; drop it (on_delete: ignore, the customer stays); put it back renamed;
    the run's create is answered 502, the client's lookup before resending finds the old
    customer and took it for its own create: the row was recorded as synced, the rename
    never sent (and never sent again: the next runs saw it unchanged).
    """
    url = make_warehouse(
        tmp_path / "w.duckdb",
        ["create table accounts(id varchar, name varchar)",
         "insert into accounts values ('a1', 'One')"],
    )  # fmt: skip
    config = _customers(emulator_server, tmp_path, url, on_delete="ignore")
    assert (await engine(config).run("customers")).status.value == "success"
    _sql(url, "delete from accounts")
    assert (await engine(config).run("customers")).rows.removed == 1
    _sql(url, "insert into accounts values ('a1', 'Renamed')")
    admin.post("/faults/script", json=[{"fault": "error", "status": 502, "method": "POST",
                                        "path_pattern": "^/v1/customers$"}]).raise_for_status()  # fmt: skip
    record = await engine(config).run("customers")
    assert (record.status.value, record.rows.succeeded) == ("success", 1)
    with api(emulator_server) as client:
        customers = all_pages(client, "/customers", "entries")
    assert [(c["external_id"], c["name"]) for c in customers] == [("a1", "Renamed")]


async def test_reconcile_never_calls_the_record_of_an_invalid_row_extra(emulator_server, tmp_path):
    """A synced row that became invalid: reconcile counts it invalid, not its record extra.

    Found as: sync a1; its email becomes invalid; reconcile said 1 invalid and 1 extra,
    though "extra" is what ``on_delete: delete`` would remove, and a run keeps a record
    whose row is still in the model (invalid rows are not removed).
    """
    from mogulsync.reconcile import reconcile

    url = make_warehouse(
        tmp_path / "w.duckdb",
        ["create table accounts(id varchar, name varchar, email varchar)",
         "insert into accounts values ('a1', 'One', 'one@x.io'), ('a2', 'Two', 'two@x.io')"],
    )  # fmt: skip
    sync = {"model": "accounts", "object": "customer", "data_source": "W", "on_delete": "delete",
            "custom_attributes": "none",
            "mapping": {"external_id": "id", "name": "name", "email": "email"}}  # fmt: skip
    config = project(emulator_server, tmp_path, url,
                     {"accounts": {"table": "accounts", "primary_key": "id"}},
                     {"customers": sync})  # fmt: skip
    assert (await engine(config).run("customers")).status.value == "success"
    _sql(url, "update accounts set email = 'not-an-email' where id = 'a1'")
    report = await reconcile(config, "customers")
    assert (report.invalid, report.extra, report.missing, report.in_both) == (1, 0, 0, 1)
    record = await engine(config).run("customers")
    assert (record.rows.removed, record.rows.invalid) == (0, 1)  # the run keeps a1's record


async def test_contact_insert_looks_each_parent_up_once(emulator_server, tmp_path):
    """The no-twin lookup of insert mode lists a parent's contacts once per run, not once
    per contact (it doubled the calls of an insert: a list before every create); a row
    whose key the parent already has still fails.
    """
    with api(emulator_server) as client:
        ds = client.post("/data_sources", json={"name": "W"}).json()["uuid"]
        for parent in ("p1", "p2"):
            client.post("/customers", json={"data_source_uuid": ds, "external_id": parent})
        customers = all_pages(client, "/customers", "entries")
        p1 = next(c["uuid"] for c in customers if c["external_id"] == "p1")
        contact = {"customer_uuid": p1, "data_source_uuid": ds, "external_id": "c0"}
        client.post("/contacts", json=contact)
    rows = ", ".join(f"('c{i}', 'p{1 + i % 2}', 'x{i}@acme.io')" for i in range(8))
    url = make_warehouse(
        tmp_path / "w.duckdb",
        ["create table people(id varchar, account varchar, email varchar)",
         f"insert into people values {rows}"],
    )  # fmt: skip
    config = _contacts(emulator_server, tmp_path, url, mode="insert")
    record = await engine(config).run("contacts")
    with api(emulator_server) as client:
        contacts = all_pages(client, "/contacts", "entries")
    assert sorted(c["external_id"] for c in contacts) == [f"c{i}" for i in range(8)]
    assert (record.rows.succeeded, record.rows.failed) == (7, 1)  # c0 existed under p1
    ((field, message, _),) = errors_by_key(tmp_path / "state", record)["c0"]
    assert (field, "already exists" in message) == ("external_id", True)
    # the data source, each parent by external id, one contact list per parent, 7 creates
    assert record.api_calls == 1 + 2 + 2 + 7


@pytest.mark.parametrize("kept", [contacts_apply.PARENTS_KEPT, 1])
async def test_contact_insert_by_email_never_twins_within_a_run(
    emulator_server, tmp_path, monkeypatch, kept
):
    """Rows of one run with one email under one parent: one contact, the others row
    errors, whether the parent's listing is kept or forgotten between rows (``kept`` = 1).

    The emails differ in case: the rows' lock keys did too, so the rows looked the parent
    up before any of them created and ChartMogul got the contact several times.
    """
    monkeypatch.setattr(contacts_apply, "PARENTS_KEPT", kept)
    with api(emulator_server) as client:
        ds = client.post("/data_sources", json={"name": "W"}).json()["uuid"]
        for parent in ("p1", "p2"):
            client.post("/customers", json={"data_source_uuid": ds, "external_id": parent})
    spellings = ("ann@acme.io", "Ann@acme.io", "ANN@acme.io", "ann@ACME.io", "aNN@acme.IO")
    ann = ", ".join(f"('a{i}', 'p1', '{email}')" for i, email in enumerate(spellings))
    url = make_warehouse(
        tmp_path / "w.duckdb",
        ["create table people(id varchar, account varchar, email varchar)",
         f"insert into people values ('b1', 'p2', 'bob@beta.io'), {ann}"],
    )  # fmt: skip
    sync = {"model": "people", "object": "contact", "mode": "insert", "match": "email",
            "data_source": "W", "custom_attributes": "none",
            "mapping": {"external_id": "id", "customer_external_id": "account",
                        "email": "email"}}  # fmt: skip
    models = {"people": {"table": "people", "primary_key": "id"}}
    config = project(emulator_server, tmp_path, url, models, {"contacts": sync})
    record = await engine(config).run("contacts")
    with api(emulator_server) as client:
        contacts = all_pages(client, "/contacts", "entries")
    assert sorted(c["email"].lower() for c in contacts) == ["ann@acme.io", "bob@beta.io"]
    assert (record.rows.succeeded, record.rows.failed) == (2, len(spellings) - 1)

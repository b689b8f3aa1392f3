"""A row that leaves the model while another row takes its match key (a re-keyed model, a
row deleted and inserted again under a new surrogate id, a dedup keeping the other row).

With ``on_delete: delete`` the removed row's record is the one the new row now names:
deleting it would lose a record the model holds, and the snapshot would believe the new row
synced. The run keeps the record, forgets the removed row and says so; ``sync plan`` agrees,
and the mass-delete safeguard does not count it. Real HTTP to the emulator, real DuckDB,
the suite's PostgreSQL for the ``state_store`` and ``state: warehouse`` paths.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import duckdb
import psycopg
import pytest
from tests.integration.sync._support import all_pages, api, engine, make_warehouse, project

from mogulsync.config import AppConfig, parse_config
from mogulsync.emulator.server import EmulatorServer
from mogulsync.runs import RunRecord, RunStore
from mogulsync.sync.bulk import BulkSettings
from mogulsync.sync.plan import plan_sync

pytestmark = pytest.mark.anyio

_ACCOUNTS = [
    "create table accounts(pk varchar, ext varchar, company varchar, mail varchar)",
    "insert into accounts values ('1', 'A', 'Alpha', 'a@x.io'), ('2', 'B', 'Beta', 'b@x.io')",
]


def _customers_sync(**sync: Any) -> dict[str, Any]:
    return {"model": "accounts", "object": "customer", "data_source": "W",
            "mapping": {"external_id": "ext", "name": "company", "email": "mail"},
            "custom_attributes": "none", "on_delete": "delete", "bulk": "off",
            **sync}  # fmt: skip


def _config(server: EmulatorServer, tmp_path, sync: dict[str, Any]) -> AppConfig:
    url = make_warehouse(tmp_path / "w.duckdb", _ACCOUNTS)
    models = {"accounts": {"table": "accounts", "primary_key": "pk"}}
    return project(server, tmp_path, url, models, {"customers": sync})


def _sql(tmp_path, *statements: str) -> None:
    db = duckdb.connect(str(tmp_path / "w.duckdb"))
    for statement in statements:
        db.execute(statement)
    db.close()


def _customers(server: EmulatorServer) -> dict[str, dict[str, Any]]:
    with api(server) as client:
        return {c["external_id"]: c for c in all_pages(client, "/customers", "entries")}


def _deletes_sent(config: AppConfig, run_id: str) -> int:
    store = RunStore(config.state_dir)
    try:
        return sum(entry.method == "DELETE" for entry in store.requests(run_id))
    finally:
        store.close()


_REKEY = ("delete from accounts where pk = '1'", "insert into accounts values ('3', 'A', 'Alpha 3', 'a@x.io')")  # fmt: skip

Records = Callable[[EmulatorServer], dict[str, str]]


def _customer_uuids(server: EmulatorServer) -> dict[str, str]:
    return {ext: customer["uuid"] for ext, customer in _customers(server).items()}


async def _rekeyed_run_keeps_a(
    config: AppConfig,
    server: EmulatorServer,
    tmp_path,
    *,
    sync: str = "customers",
    records: Records = _customer_uuids,
    rekey: tuple[str, ...] = _REKEY,
    record: str = "external_id A",
    insert: bool = False,
    **kw: Any,
) -> RunRecord:
    """Row 1 (A) leaves, row 3 (A) arrives: record A stays, and stays on later runs."""
    first = await engine(config, **kw).run(sync)
    assert (first.status.value, first.rows.succeeded) == ("success", 2), first.message
    before = records(server)
    _sql(tmp_path, *rekey)

    plan = await plan_sync(config, sync, engine(config).settings)
    assert plan.counts["deletes"] == 0
    assert (plan.kept, plan.kept_samples) == (1, [{"key": "1", "record": record, "now": "3"}])

    run = await engine(config, **kw).run(sync)
    assert run.rows.removed == 1
    assert records(server) == before  # nothing deleted, nothing created twice
    assert _deletes_sent(config, run.run_id) == 0
    assert f"{record} is now row 3" in (run.message or "")
    if insert:
        # insert mode refuses row 3 as "already exists" this once; it takes the record
        # over on the next run (looked up, never updated)
        assert (run.status.value, run.rows.failed) == ("partial", 1), run.message
        settled = await engine(config, **kw).run(sync)
        assert (settled.status.value, settled.rows.succeeded) == ("success", 1), settled.message
    else:
        assert run.status.value == "success", run.message

    later = await engine(config, **kw).run(sync)  # the snapshot agrees with ChartMogul
    assert (later.status.value, later.rows.removed, later.rows.unchanged) == ("success", 0, 2)
    assert records(server) == before
    return run


@pytest.mark.parametrize("mode", ["upsert", "insert"])
@pytest.mark.parametrize("bulk", ["off", "auto"])
async def test_customer_rekeyed_by_external_id_is_kept(emulator_server, tmp_path, mode, bulk):
    config = _config(emulator_server, tmp_path, _customers_sync(mode=mode, bulk=bulk))
    # min_rows=1: the bulk path imports even this one new row
    await _rekeyed_run_keeps_a(
        config, emulator_server, tmp_path, insert=mode == "insert", bulk=BulkSettings(min_rows=1)
    )
    if mode == "upsert":
        assert _customers(emulator_server)["A"]["name"] == "Alpha 3"


async def test_mass_delete_safeguard_does_not_count_a_kept_record(emulator_server, tmp_path):
    """max_deletes 0: a re-keyed row is no delete, so the run is not refused."""
    config = _config(emulator_server, tmp_path, _customers_sync(max_deletes=0))
    await _rekeyed_run_keeps_a(config, emulator_server, tmp_path)


async def test_customer_matched_by_email_kept_when_another_row_has_the_email(
    emulator_server, tmp_path
):
    """match: email, row 1 leaves and row 3 (another external id, same email) arrives: the
    customer row 3 updated is not deleted."""
    config = _config(emulator_server, tmp_path, _customers_sync(match="email"))
    first = await engine(config).run("customers")
    assert first.status.value == "success", first.message
    before = _customer_uuids(emulator_server)
    _sql(
        tmp_path,
        "delete from accounts where pk = '1'",
        "insert into accounts values ('3', 'A3', 'Alpha 3', 'a@x.io')",
    )
    run = await engine(config).run("customers")
    assert run.status.value == "success", run.message
    assert _customer_uuids(emulator_server) == before
    assert _deletes_sent(config, run.run_id) == 0
    assert "is now row 3" in (run.message or "")
    assert _customers(emulator_server)["A"]["name"] == "Alpha 3"
    later = await engine(config).run("customers")
    assert (later.status.value, later.rows.removed, later.rows.unchanged) == ("success", 0, 2)
    assert _customer_uuids(emulator_server) == before


async def test_two_rows_sharing_an_email_one_leaves(emulator_server, tmp_path):
    """match: email, rows 1 and 3 share an email over two runs; row 1 leaves: kept."""
    config = _config(emulator_server, tmp_path, _customers_sync(match="email"))
    _sql(tmp_path, "insert into accounts values ('3', 'A3', 'Alpha 3', 'a@x.io')")
    first = await engine(config).run("customers")
    assert first.status.value == "success", first.message
    before = _customer_uuids(emulator_server)
    _sql(tmp_path, "delete from accounts where pk = '1'")
    plan = await plan_sync(config, "customers", engine(config).settings)
    assert (plan.counts["deletes"], plan.kept) == (0, 1)
    run = await engine(config).run("customers")
    assert run.status.value == "success", run.message
    assert _customer_uuids(emulator_server) == before
    assert _deletes_sent(config, run.run_id) == 0


async def test_reverse_order_over_two_runs(emulator_server, tmp_path):
    """Row 1 (A) leaves in one run (deleted), row 3 (A) arrives in the next (created)."""
    config = _config(emulator_server, tmp_path, _customers_sync())
    await engine(config).run("customers")
    _sql(tmp_path, "delete from accounts where pk = '1'")
    gone = await engine(config).run("customers")
    assert (gone.status.value, gone.message) == ("success", None)
    assert set(_customers(emulator_server)) == {"B"}
    _sql(tmp_path, "insert into accounts values ('3', 'A', 'Alpha 3', 'a@x.io')")
    back = await engine(config).run("customers")
    assert (back.status.value, back.rows.added) == ("success", 1)
    assert _customers(emulator_server)["A"]["name"] == "Alpha 3"


async def test_only_the_record_a_row_names_is_kept(emulator_server, tmp_path):
    """Rows 1 (A) and 2 (B) leave, row 3 (A) arrives: A is kept, B is deleted as before."""
    config = _config(emulator_server, tmp_path, _customers_sync())
    await engine(config).run("customers")
    _sql(tmp_path, "delete from accounts where pk in ('1', '2')", *_REKEY[1:])
    run = await engine(config).run("customers")
    assert run.status.value == "success", run.message
    assert set(_customers(emulator_server)) == {"A"}
    assert _deletes_sent(config, run.run_id) == 1


# ---------------------------------------------------------------------- plans, contacts

_PLANS = [
    "create table plans(pk varchar, ext varchar, name varchar, c int, u varchar)",
    "insert into plans values ('1', 'A', 'Gold', 1, 'month'), ('2', 'B', 'Silver', 1, 'month')",
]


def _plan_uuids(server: EmulatorServer) -> dict[str, str]:
    with api(server) as client:
        return {p["external_id"]: p["uuid"] for p in all_pages(client, "/plans", "plans")}


@pytest.mark.parametrize("mode", ["upsert", "insert"])
async def test_plan_rekeyed_is_kept(emulator_server, tmp_path, mode):
    url = make_warehouse(tmp_path / "w.duckdb", _PLANS)
    sync = {"model": "plans", "object": "plan", "data_source": "W", "mode": mode,
            "mapping": {"external_id": "ext", "name": "name", "interval_count": "c",
                        "interval_unit": "u"},
            "on_delete": "delete", "bulk": "off"}  # fmt: skip
    models = {"plans": {"table": "plans", "primary_key": "pk"}}
    config = project(emulator_server, tmp_path, url, models, {"plans": sync})
    rekey = (
        "delete from plans where pk = '1'",
        "insert into plans values ('3', 'A', 'Gold 3', 1, 'month')",
    )
    await _rekeyed_run_keeps_a(
        config,
        emulator_server,
        tmp_path,
        sync="plans",
        records=_plan_uuids,
        rekey=rekey,
        insert=mode == "insert",
    )


def _contact_uuids(server: EmulatorServer) -> dict[str, str]:
    with api(server) as client:
        found = all_pages(client, "/contacts", "entries")
    return {c["external_id"]: c["uuid"] for c in found}


@pytest.mark.parametrize("mode", ["upsert", "insert"])
async def test_contact_rekeyed_is_kept(emulator_server, tmp_path, mode):
    url = make_warehouse(
        tmp_path / "w.duckdb",
        [
            *_ACCOUNTS,
            "create table people(pk varchar, ext varchar, account varchar, mail varchar)",
            "insert into people values ('1', 'A', 'A', 'p@x.io'), ('2', 'B', 'B', 'q@x.io')",
        ],
    )
    contacts = {"model": "people", "object": "contact", "data_source": "W", "mode": mode,
                "mapping": {"external_id": "ext", "customer_external_id": "account",
                            "email": "mail"},
                "custom_attributes": "none", "on_delete": "delete"}  # fmt: skip
    models = {
        "accounts": {"table": "accounts", "primary_key": "pk"},
        "people": {"table": "people", "primary_key": "pk"},
    }
    syncs = {"customers": _customers_sync(), "contacts": contacts}
    config = project(emulator_server, tmp_path, url, models, syncs)
    assert (await engine(config).run("customers")).status.value == "success"
    rekey = ("delete from people where pk = '1'", "insert into people values ('3', 'A', 'A', 'p@x.io')")  # fmt: skip
    await _rekeyed_run_keeps_a(
        config,
        emulator_server,
        tmp_path,
        sync="contacts",
        records=_contact_uuids,
        rekey=rekey,
        insert=mode == "insert",
    )


# ---------------------------------------------------------------------- other states


async def test_duckdb_warehouse_state(emulator_server, tmp_path):
    """state: warehouse (the diff runs in SQL): the same decision."""
    sync = _customers_sync(state="warehouse", state_schema="mogulsync")
    config = _config(emulator_server, tmp_path, sync)
    await _rekeyed_run_keeps_a(config, emulator_server, tmp_path)


@pytest.mark.postgres
async def test_postgres_warehouse_state(emulator_server, postgres_server, tmp_path):
    table = f"rk_accounts_{uuid.uuid4().hex[:8]}"
    schema = f"rk_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(postgres_server.dsn, autocommit=True) as db:
        db.execute(f"create table {table} (pk text, ext text, company text, mail text)")
        db.execute(f"insert into {table} values ('1', 'A', 'Alpha', 'a@x.io'), ('2', 'B', 'Beta', 'b@x.io')")  # fmt: skip
    models = {"accounts": {"sql": f"select * from {table}", "primary_key": "pk"}}
    sync = _customers_sync(state="warehouse", state_schema=schema)
    config = project(emulator_server, tmp_path, postgres_server.url, models, {"customers": sync})

    first = await engine(config).run("customers")
    assert first.status.value == "success", first.message
    before = _customer_uuids(emulator_server)
    with psycopg.connect(postgres_server.dsn, autocommit=True) as db:
        db.execute(f"delete from {table} where pk = '1'")
        db.execute(f"insert into {table} values ('3', 'A', 'Alpha 3', 'a@x.io')")
    plan = await plan_sync(config, "customers", engine(config).settings)
    assert (plan.counts["deletes"], plan.kept) == (0, 1)
    run = await engine(config).run("customers")
    assert run.status.value == "success", run.message
    assert _customer_uuids(emulator_server) == before
    assert "external_id A is now row 3" in (run.message or "")


@pytest.mark.postgres
async def test_shared_postgres_state_store(emulator_server, postgres_server, tmp_path):
    schema = f"rks_{uuid.uuid4().hex[:8]}"
    url = make_warehouse(tmp_path / "w.duckdb", _ACCOUNTS)
    raw = {
        "chartmogul": {"api_key": "${CM_KEY}", "base_url": emulator_server.base_url},
        "state_dir": str(tmp_path / "state"),
        "warehouses": {"main": url},
        "models": {"accounts": {"warehouse": "main", "table": "accounts", "primary_key": "pk"}},
        "syncs": {"customers": _customers_sync()},
        "state_store": {"url": "${STATE_URL}", "schema": schema},
    }
    env = {"CM_KEY": emulator_server.api_key, "STATE_URL": postgres_server.url}
    config = parse_config(raw, env=env)
    await _rekeyed_run_keeps_a(config, emulator_server, tmp_path)


async def test_external_id_changed_for_the_same_row_updates_its_record_in_place(
    emulator_server, tmp_path
):
    """Row 1's external id A -> B (same primary key): its record is found by its uuid and
    updated, keeping external id A (an update cannot change it); nothing is created or
    deleted. When row 1 later leaves, that record is deleted (docs/sync.md)."""
    config = _config(emulator_server, tmp_path, _customers_sync())
    await engine(config).run("customers")
    before = _customer_uuids(emulator_server)
    _sql(tmp_path, "update accounts set ext = 'B2', company = 'Alpha renamed' where pk = '1'")
    run = await engine(config).run("customers")
    assert (run.status.value, run.rows.changed, run.rows.removed) == ("success", 1, 0)
    assert _customer_uuids(emulator_server) == before
    assert _customers(emulator_server)["A"]["name"] == "Alpha renamed"
    _sql(tmp_path, "delete from accounts where pk = '1'")
    gone = await engine(config).run("customers")
    assert (gone.status.value, gone.rows.removed) == ("success", 1)
    assert set(_customer_uuids(emulator_server)) == {"B"}


def _invoice_uuids(server: EmulatorServer) -> dict[str, str]:
    with api(server) as client:
        found = all_pages(client, "/invoices", "invoices")
    return {i["external_id"]: i["uuid"] for i in found}


async def test_invoice_rekeyed_is_kept(emulator_server, tmp_path):
    """Invoices (insert only): row 1's invoice is kept; row 3's import of the same invoice
    is answered "already exists" and recognised as that invoice in the same run."""
    line = '[{"type": "one_time", "amount_in_cents": 1000, "description": "Setup"}]'
    url = make_warehouse(
        tmp_path / "w.duckdb",
        [
            *_ACCOUNTS,
            (
                "create table invoices(pk varchar, ext varchar, account varchar, d date,"
                " cur varchar, lines json)"
            ),
            (
                f"insert into invoices values ('1', 'A', 'A', DATE '2025-01-01', 'USD', '{line}'),"
                f" ('2', 'B', 'B', DATE '2025-01-01', 'USD', '{line}')"
            ),
        ],
    )
    invoices = {"model": "invoices", "object": "invoice", "mode": "insert", "data_source": "W",
                "mapping": {"external_id": "ext", "customer_external_id": "account",
                            "date": "d", "currency": "cur"},
                "line_items": {"column": "lines"}, "on_delete": "delete",
                "bulk": "off"}  # fmt: skip
    models = {
        "accounts": {"table": "accounts", "primary_key": "pk"},
        "invoices": {"table": "invoices", "primary_key": "pk"},
    }
    syncs = {"customers": _customers_sync(), "invoices": invoices}
    config = project(emulator_server, tmp_path, url, models, syncs)
    assert (await engine(config).run("customers")).status.value == "success"
    rekey = (
        "delete from invoices where pk = '1'",
        f"insert into invoices values ('3', 'A', 'A', DATE '2025-01-01', 'USD', '{line}')",
    )
    await _rekeyed_run_keeps_a(
        config,
        emulator_server,
        tmp_path,
        sync="invoices",
        records=_invoice_uuids,
        rekey=rekey,
    )


async def test_customer_matched_by_uuid_rekeyed_is_kept(emulator_server, tmp_path):
    """match: uuid (update): row 3 names row 1's customer by its uuid; plan and run keep it."""
    with api(emulator_server) as client:
        ds = client.post("/data_sources", json={"name": "W"}).json()["uuid"]
        uuids = [
            client.post("/customers", json={"data_source_uuid": ds, "external_id": ext}).json()[
                "uuid"
            ]
            for ext in ("A", "B")
        ]
    url = make_warehouse(
        tmp_path / "w.duckdb",
        [
            "create table accounts(pk varchar, cm varchar, company varchar)",
            f"insert into accounts values ('1', '{uuids[0]}', 'Alpha'), ('2', '{uuids[1]}', 'Beta')",
        ],
    )
    sync = {"model": "accounts", "object": "customer", "data_source": "W", "mode": "update",
            "match": "uuid", "mapping": {"uuid": "cm", "name": "company"},
            "custom_attributes": "none", "on_delete": "delete"}  # fmt: skip
    models = {"accounts": {"table": "accounts", "primary_key": "pk"}}
    config = project(emulator_server, tmp_path, url, models, {"customers": sync})
    rekey = (
        "delete from accounts where pk = '1'",
        f"insert into accounts values ('3', '{uuids[0]}', 'Alpha 3')",
    )
    await _rekeyed_run_keeps_a(
        config, emulator_server, tmp_path, rekey=rekey, record=f"uuid {uuids[0]}"
    )
    assert _customers(emulator_server)["A"]["name"] == "Alpha 3"

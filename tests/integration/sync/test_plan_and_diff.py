"""`sync plan` agrees with what a run does; `--full` and a changed definition resend rows."""

from __future__ import annotations

import duckdb
import pytest
from tests.integration.sync._support import engine, make_warehouse, project

from mogulsync.sync.connect import client_settings
from mogulsync.sync.plan import plan_sync

pytestmark = pytest.mark.anyio

TABLES = [
    "create table accounts(id varchar, company varchar)",
    "insert into accounts values ('a1','Acme'),('a2','Beta'),('a3','Gamma')",
    "create table invoices(id varchar, account_id varchar, invoice_date date, currency varchar)",
    "insert into invoices values ('i1','a1','2025-01-01','USD'),('i2','a2','2025-01-01','USD')",
    "create table lines(invoice_id varchar, type varchar, amount_in_cents integer)",
    "insert into lines values ('i1','one_time',500),('i1','one_time',700),('i2','one_time',900)",
]
SYNCS = {
    "customers": {"model": "accounts", "object": "customer", "data_source": "W",
                  "mapping": {"external_id": "id", "name": "company"}},
    "invoices": {"model": "invoices", "object": "invoice", "mode": "insert", "data_source": "W",
                 "mapping": {"external_id": "id", "customer_external_id": "account_id",
                             "date": "invoice_date"},
                 "line_items": {"model": "lines", "join_key": "invoice_id"}},
}  # fmt: skip
MODELS = {
    "accounts": {"table": "accounts", "primary_key": "id"},
    "invoices": {"table": "invoices", "primary_key": "id"},
    "lines": {"table": "lines", "primary_key": ["invoice_id", "amount_in_cents"]},
}


def _sql(url: str, statement: str) -> None:
    db = duckdb.connect(url.removeprefix("duckdb:///"))
    db.execute(statement)
    db.close()


@pytest.fixture
def setup(emulator_server, tmp_path):
    url = make_warehouse(tmp_path / "w.duckdb", TABLES)
    return url, project(emulator_server, tmp_path, url, MODELS, SYNCS)


async def _plan(config, name):
    return await plan_sync(config, name, client_settings(config))


async def test_plan_of_child_model_invoices_matches_the_run(setup):
    """Plan attaches child-model line items like a run: samples carry them, reruns are no-ops."""
    url, config = setup
    before = await _plan(config, "invoices")
    assert before.counts["creates"] == 2
    sample = {s["key"]: s["payload"] for s in before.samples["creates"]}
    assert sorted(line["amount_in_cents"] for line in sample["i1"]["line_items"]) == [500, 700]
    await engine(config).run("customers")
    assert (await engine(config).run("invoices")).rows.succeeded == 2
    after = await _plan(config, "invoices")
    assert (after.counts["unchanged"], after.counts["updates"], after.counts["creates"]) == (
        2,
        0,
        0,
    )
    _sql(url, "update lines set amount_in_cents = 950 where invoice_id = 'i2'")
    edited = await _plan(config, "invoices")
    # Insert mode never updates an invoice that landed: the edit is reported, not planned.
    assert (edited.counts["unchanged"], edited.counts["updates"], edited.changes_ignored) == (
        2,
        0,
        1,
    )


async def test_full_resends_every_row_and_a_new_definition_does_once(setup):
    """--full classifies every row as changed; a mapping change forces one full resend."""
    _url, config = setup
    await engine(config).run("customers")
    quiet = await engine(config).run("customers")
    assert (quiet.rows.unchanged, quiet.api_calls) == (3, 1)  # only the data source lookup
    full = await engine(config).run("customers", full=True)
    assert (full.rows.changed, full.rows.unchanged, full.rows.succeeded) == (3, 0, 3)
    assert full.api_calls > 3
    remapped = SYNCS["customers"] | {"mapping": {"external_id": "id", "company": "company"}}
    changed = project_with(config, customers=remapped)
    planned = await _plan(changed, "customers")
    assert planned.counts["updates"] == 3
    first = await engine(changed).run("customers")
    assert first.rows.changed == 3
    again = await engine(changed).run("customers")
    assert again.rows.unchanged == 3


def project_with(config, **syncs):
    """The same project with some syncs replaced."""
    raw = config.model_dump(mode="python", by_alias=True)
    raw["chartmogul"]["api_key"] = config.chartmogul.api_key.get_secret_value()
    for warehouse in raw["warehouses"].values():
        warehouse["url"] = warehouse["url"].get_secret_value()
    raw["syncs"] = {**raw["syncs"], **syncs}
    return type(config).model_validate(raw)

"""Raw-value digests end to end: quiet re-runs, plan samples, one resend after an upgrade."""

from __future__ import annotations

import duckdb
import pytest
from tests.integration.sync._support import engine, make_warehouse, project

from mogulsync.sync.connect import client_settings
from mogulsync.sync.mapping import DIGEST_FORMAT
from mogulsync.sync.plan import plan_sync
from mogulsync.sync.state import StateStore

pytestmark = pytest.mark.anyio

TABLES = [
    "create table accounts(id varchar, company varchar, seats integer, notes varchar)",
    "insert into accounts values ('a1','Acme',3,'x'),('a2','Beta',5,'y'),('a3','Gamma',7,'z')",
]
MODELS = {"accounts": {"table": "accounts", "primary_key": "id"}}
SYNCS = {
    "customers": {"model": "accounts", "object": "customer", "data_source": "W",
                  "custom_attributes": ["seats"],
                  "mapping": {"external_id": "id", "name": "company"}},
}  # fmt: skip


@pytest.fixture
def setup(emulator_server, tmp_path):
    url = make_warehouse(tmp_path / "w.duckdb", TABLES)
    return url, project(emulator_server, tmp_path, url, MODELS, SYNCS)


def _sql(url: str, statement: str) -> None:
    db = duckdb.connect(url.removeprefix("duckdb:///"))
    db.execute(statement)
    db.close()


async def test_only_payload_columns_trigger_a_send_and_plan_samples_keep_payloads(setup):
    """Editing an unmapped column sends nothing; editing a custom attribute sends one row."""
    url, config = setup
    assert (await engine(config).run("customers")).rows.succeeded == 3
    _sql(url, "update accounts set notes = 'edited'")
    quiet = await engine(config).run("customers")
    assert (quiet.rows.unchanged, quiet.rows.changed, quiet.api_calls) == (3, 0, 1)
    _sql(url, "update accounts set seats = 9 where id = 'a2'")
    plan = await plan_sync(config, "customers", client_settings(config))
    assert (plan.counts["unchanged"], plan.counts["updates"]) == (2, 1)
    unchanged = {s["key"]: s["payload"] for s in plan.samples["unchanged"]}
    assert unchanged == {"a1": {"external_id": "a1", "name": "Acme"},
                         "a3": {"external_id": "a3", "name": "Gamma"}}  # fmt: skip
    run = await engine(config).run("customers")
    assert (run.rows.changed, run.rows.unchanged, run.rows.succeeded) == (1, 2, 1)


async def test_a_snapshot_of_the_old_digest_format_is_resent_once(setup):
    """An upgrade from payload digests resends every row once, then runs are quiet."""
    _url, config = setup
    await engine(config).run("customers")
    store = StateStore(config.state_dir)
    (definition,) = store._db.execute("SELECT definition FROM sync_definition").fetchone()
    store.save_definition("customers", definition.replace(f', "digest": "{DIGEST_FORMAT}"', ""))
    store.close()
    upgraded = await engine(config).run("customers")
    assert (upgraded.rows.changed, upgraded.rows.succeeded, upgraded.rows.added) == (3, 3, 0)
    again = await engine(config).run("customers")
    assert (again.rows.unchanged, again.rows.changed) == (3, 0)

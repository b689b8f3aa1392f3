"""After ``reconcile --adopt``, the next run imports the missing rows without listing again.

The bulk path normally proves that new customers are absent with a listing of the data
source, and sends them over REST when that listing would cost more pages than it saves. The
adopt has just listed the data source: its note stands in for the listing in the run right
after it, as long as one request shows the data source holds what the adopt counted.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import chartmogul
import duckdb
import httpx
import pytest
from tests.integration.reconcile._support import official, writes
from tests.integration.sync._support import all_pages, api, engine, make_warehouse, project

from mogulsync.config import AppConfig
from mogulsync.emulator.server import EmulatorServer
from mogulsync.reconcile import reconcile
from mogulsync.sync.bulk import BulkSettings
from mogulsync.sync.bulk.adopted import ADOPTED_DIR, TRUST_WINDOW_S

pytestmark = pytest.mark.anyio

#: customers another tool already created; the model adds NEW more (above the bulk minimum)
EXISTING, NEW = 240, 60
#: listing the data source never pays (as at 100,000 customers with 500 new)
NEVER_LIST = BulkSettings(listing_ratio=1_000_000)


def _warehouse(tmp_path: Path) -> str:
    return make_warehouse(
        tmp_path / "w.duckdb",
        [
            (
                "create table accounts as select 'acct-' || i as id, 'Company ' || i as company"
                f" from range({EXISTING + NEW}) t(i)"
            ),
            # what the other tool synced: the first EXISTING accounts
            (
                "create table loaded as select 'acct-' || i as id, 'Company ' || i as company"
                f" from range({EXISTING}) t(i)"
            ),
        ],
    )


def _config(
    server: EmulatorServer, tmp_path: Path, url: str, table: str, external_id: str = "id"
) -> AppConfig:
    return project(
        server,
        tmp_path,
        url,
        {"accounts": {"table": table, "primary_key": "id"}},
        {
            "customers": {
                "model": "accounts",
                "object": "customer",
                "data_source": "W",
                "mapping": {"external_id": external_id, "company": "company"},
            }
        },
    )


async def _adopted(server: EmulatorServer, tmp_path: Path) -> AppConfig:
    """ChartMogul filled by another tool (state lost), then an adopt of the full model."""
    url = _warehouse(tmp_path)
    first = await engine(_config(server, tmp_path, url, "loaded")).run("customers")
    assert first.status.value == "success", first.message
    shutil.rmtree(tmp_path / "state")
    conf = _config(server, tmp_path, url, "accounts")
    report = await reconcile(conf, "customers", adopt=True)
    assert (report.in_both, report.missing, report.drifted) == (EXISTING, NEW, 0)
    return conf


def _gets(server: EmulatorServer) -> int:
    stats = httpx.get(f"{server.base_url}/_emulator/stats", timeout=30).json()
    return sum(stats["by_endpoint"].get("GET /v1/customers", {}).values())


def _sent(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {k: after[k] - before.get(k, 0) for k in after if after[k] != before.get(k, 0)}


def _landed(server: EmulatorServer) -> dict[str, list[dict[str, object]]]:
    """External id → customers with it (a duplicate shows as two)."""
    found: dict[str, list[dict[str, object]]] = {}
    with api(server) as client:
        for customer in all_pages(client, "/customers", "entries"):
            found.setdefault(customer["external_id"], []).append(customer)
    return found


async def test_the_run_after_an_adopt_imports_new_rows_without_a_listing(server, tmp_path):
    """60 new rows: one counting request, then bulk imports; no listing, no REST create."""
    conf = await _adopted(server, tmp_path)
    gets, before = _gets(server), writes(server)
    record = await engine(conf, bulk=NEVER_LIST).run("customers")
    assert record.status.value == "success", record.message
    assert (record.rows.added, record.rows.unchanged) == (NEW, EXISTING)
    sent = _sent(before, writes(server))
    assert sent.get("POST /v1/data_sources/{id}/json_imports", 0) >= 1, sent
    assert "POST /v1/customers" not in sent, sent
    assert _gets(server) - gets == 1  # the count, one record a page
    landed = _landed(server)
    assert len(landed) == EXISTING + NEW
    assert all(len(same) == 1 for same in landed.values())
    # the note served this run and is gone: the next run trusts nothing it said
    assert list((tmp_path / "state" / ADOPTED_DIR).glob("*.json")) == []


async def test_a_record_created_after_the_adopt_is_updated_not_reused(server, tmp_path):
    """The old tool, still running, creates a new row's customer: the run finds and updates it."""
    conf = await _adopted(server, tmp_path)
    source = chartmogul.DataSource.all(official(server), name="W").get().data_sources[0].uuid
    chartmogul.Customer.create(
        official(server),
        data={"data_source_uuid": source, "external_id": "acct-250", "company": "Old tool's"},
    ).get()
    gets, before = _gets(server), writes(server)
    record = await engine(conf).run("customers")  # listing allowed once the count disagrees
    assert record.status.value == "success", record.message
    sent = _sent(before, writes(server))
    assert sent.get("PATCH /v1/customers/{id}") == 1, sent  # acct-250, by the listing's uuid
    # the count, the existence listing (241 records: 2 pages), the listing learning uuids
    assert _gets(server) - gets == 1 + 2 + 2
    landed = _landed(server)
    assert [c["company"] for c in landed["acct-250"]] == ["Company 250"]
    assert len(landed) == EXISTING + NEW
    assert all(len(same) == 1 for same in landed.values())


async def test_a_new_row_matching_a_stray_record_is_updated(server, tmp_path):
    """A record no row matched at adopt time (an extra) is found and updated, not imported."""
    url = _warehouse(tmp_path)
    first = await engine(_config(server, tmp_path, url, "loaded")).run("customers")
    assert first.status.value == "success", first.message
    shutil.rmtree(tmp_path / "state")
    warehouse = tmp_path / "w.duckdb"
    with duckdb.connect(str(warehouse)) as db:  # acct-0 left the model before the adopt
        db.execute("delete from accounts where id = 'acct-0'")
    conf = _config(server, tmp_path, url, "accounts")
    report = await reconcile(conf, "customers", adopt=True)
    assert (report.extra, report.missing) == (1, NEW)
    with duckdb.connect(str(warehouse)) as db:  # ... and comes back, changed, after it
        db.execute("insert into accounts values ('acct-0', 'Back again')")

    gets, before = _gets(server), writes(server)
    record = await engine(conf, bulk=NEVER_LIST).run("customers")
    assert record.status.value == "success", record.message
    sent = _sent(before, writes(server))
    # acct-0 is not one the adopt found absent: over REST, found by its external id, updated
    assert sent.get("PATCH /v1/customers/{id}") == 1, sent
    assert sent.get("POST /v1/data_sources/{id}/json_imports") == 1, sent  # the 60 new ones
    assert "POST /v1/customers" not in sent, sent  # (its create answered "already exists")
    assert _gets(server) - gets == 1 + 1  # the count, then acct-0's lookup
    landed = _landed(server)
    assert [c["company"] for c in landed["acct-0"]] == ["Back again"]
    assert all(len(same) == 1 for same in landed.values())


async def test_every_run_takes_the_note(server, tmp_path):
    """A run that does not import (``--no-bulk``) still takes it: it serves one run at most."""
    conf = await _adopted(server, tmp_path)
    notes = tmp_path / "state" / ADOPTED_DIR
    assert len(list(notes.glob("*.json"))) == 1
    record = await engine(conf).run("customers", bulk=False)
    assert record.status.value == "success", record.message
    assert list(notes.glob("*.json")) == []


async def test_an_old_note_is_not_trusted(server, tmp_path):
    """Past the trust window the run lists as it always did (no count probe)."""
    conf = await _adopted(server, tmp_path)
    [note] = (tmp_path / "state" / ADOPTED_DIR).glob("*.json")
    body = json.loads(note.read_text())
    body["taken_at"] = time.time() - TRUST_WINDOW_S - 60
    note.write_text(json.dumps(body))
    gets, before = _gets(server), writes(server)
    record = await engine(conf, bulk=NEVER_LIST).run("customers")
    assert record.status.value == "success", record.message
    assert record.rows.added == NEW
    # the listing was tried (one page over its budget of one), then the rows went over REST
    assert _gets(server) - gets == 2
    assert _sent(before, writes(server)).get("POST /v1/customers") == NEW


async def test_no_note_past_the_absent_cap(server, tmp_path, monkeypatch):
    """More absent rows than the cap: no note (the run lists, page by page)."""
    from mogulsync.reconcile import runner

    monkeypatch.setattr(runner, "MAX_ABSENT", NEW - 1)
    await _adopted(server, tmp_path)
    assert list((tmp_path / "state" / ADOPTED_DIR).glob("*.json")) == []


async def test_no_note_with_a_shared_state(server, tmp_path):
    """`state: warehouse`: runs of other workers would not take the note, so none is left."""
    url = _warehouse(tmp_path)
    conf = _config(server, tmp_path, url, "accounts")
    customers = conf.syncs["customers"].model_copy(update={"state": "warehouse"})
    conf = conf.model_copy(update={"syncs": {"customers": customers}})
    report = await reconcile(conf, "customers", adopt=True)
    assert report.adopted
    assert list((tmp_path / "state" / ADOPTED_DIR).glob("*.json")) == []


async def test_a_row_rekeyed_onto_an_adopted_record_is_updated(server, tmp_path):
    """A row whose primary key changed but whose external id belongs to an adopted record.

    The run sees it as new (its key is not in the state), but the adopt saw its external id
    on a record: it goes over REST and updates that record, never into an import.
    """
    url = make_warehouse(
        tmp_path / "w.duckdb",
        [
            (
                "create table accounts as select 'acct-' || i as id, 'ext-' || i as ext,"
                f" 'Company ' || i as company from range({EXISTING + NEW}) t(i)"
            ),
            f"create table loaded as select * from accounts limit {EXISTING}",
        ],
    )

    def config(table: str) -> AppConfig:
        return _config(server, tmp_path, url, table, external_id="ext")

    first = await engine(config("loaded")).run("customers")
    assert first.status.value == "success", first.message
    shutil.rmtree(tmp_path / "state")
    report = await reconcile(config("accounts"), "customers", adopt=True)
    assert (report.in_both, report.missing) == (EXISTING, NEW)
    with duckdb.connect(str(tmp_path / "w.duckdb")) as db:
        db.execute("update accounts set id = 'acct-5b', company = 'Renamed 5' where id = 'acct-5'")

    record = await engine(config("accounts"), bulk=NEVER_LIST).run("customers")
    assert record.status.value == "success", record.message
    landed = _landed(server)
    assert [c["company"] for c in landed["ext-5"]] == ["Renamed 5"]
    assert len(landed) == EXISTING + NEW
    assert all(len(same) == 1 for same in landed.values())

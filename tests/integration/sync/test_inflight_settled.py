"""Rows in flight are settled by a lookup, over real HTTP to the emulator.

A row whose write may have landed (its answer lost) stays in flight until a run settles it.
A lookup that finds the record settles it as delivered; a lookup that finds NO record
settles it as "not in ChartMogul": the row is then sent as a new write, and a refusal is
an ordinary failed row, no record, not counted among the records the mass-delete
safeguard counts from. Only a lookup that itself fails keeps the doubt.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pytest
from tests.integration.sync._support import (
    FAST_RETRY,
    all_pages,
    api,
    engine,
    errors_by_key,
    make_warehouse,
    project,
)

from mogulsync.chartmogul import ChartMogulClient, ClientSettings, RequestLogEntry, RetryPolicy
from mogulsync.config import AppConfig
from mogulsync.emulator.server import EmulatorServer
from mogulsync.emulator.settings import Faults, ScriptedFault
from mogulsync.runs import RunRecord
from mogulsync.sync import engine as engine_module
from mogulsync.sync.delete_guard import DeleteGuard, TooManyDeletesError
from mogulsync.sync.engine import SyncEngine
from mogulsync.sync.plan import plan_sync
from mogulsync.sync.state import StateStore

pytestmark = pytest.mark.anyio

GOOD = 12
BAD = 30
ONE_ATTEMPT = RetryPolicy(
    max_attempts=1, max_total_s=30, initial_wait_s=0.01, max_wait_s=0.05, jitter_s=0.01
)
#: a custom attribute ChartMogul has locked as Integer: a String value for it is refused for
#: good by ChartMogul (our own checks cannot know the lock, so the row is sent)
LOCKED = "note"


def _lock_type(server: EmulatorServer) -> None:
    """``note`` is first used as an Integer (by another tool, in another data source)."""
    with api(server) as client:
        source = client.post("/data_sources", json={"name": "Other"}).raise_for_status().json()
        custom = [{"type": "Integer", "key": LOCKED, "value": 1}]
        body = {"data_source_uuid": source["uuid"], "external_id": "other", "name": "Other",
                "attributes": {"custom": custom}}  # fmt: skip
        client.post("/customers", json=body).raise_for_status()


def _sql(tmp_path: Path, *statements: str) -> None:
    db = duckdb.connect(str(tmp_path / "w.duckdb"))
    for statement in statements:
        db.execute(statement)
    db.close()


def _config(server: EmulatorServer, tmp_path: Path, **sync: Any) -> AppConfig:
    url = make_warehouse(
        tmp_path / "w.duckdb",
        [
            (
                "create table accounts as select 'a' || i as id, 'Company ' || i as company,"
                f" cast(null as varchar) as note from range(1, {GOOD + 1}) t(i)"
            ),
            "create table people(id varchar, account_id varchar, email varchar)",
            "insert into people values ('p1', 'a1', 'ann@acme.io')",
            "create table plans as select 'gold' as id, 'Gold' as name, 1 as c, 'month' as u",
        ],
    )
    customers = {
        "model": "accounts",
        "object": "customer",
        "data_source": "W",
        "mapping": {"external_id": "id", "name": "company"},
        "custom_attributes": [LOCKED],
        "on_delete": "delete",
        "bulk": "off",
        **sync,
    }
    contacts = {"model": "people", "object": "contact", "data_source": "W",
                "mapping": {"external_id": "id", "customer_external_id": "account_id",
                            "email": "email"},
                "custom_attributes": "none", "on_delete": "delete"}  # fmt: skip
    plans = {"model": "plans", "object": "plan", "data_source": "W", "mode": "insert",
             "mapping": {"external_id": "id", "interval_count": "c", "interval_unit": "u"},
             "bulk": "off"}  # fmt: skip
    models = {
        "accounts": {"table": "accounts", "primary_key": "id"},
        "people": {"table": "people", "primary_key": "id"},
        "plans": {"table": "plans", "primary_key": "id"},
    }
    syncs = {"customers": customers, "contacts": contacts, "plans": plans}
    return project(server, tmp_path, url, models, syncs)


async def _run(
    config: AppConfig, sync: str = "customers", *, attempts: RetryPolicy = FAST_RETRY, **kw: Any
) -> RunRecord:
    settings = ClientSettings(
        api_key=config.chartmogul.api_key,
        base_url=config.chartmogul.base_url,
        rate_limit=10_000,
        max_in_flight=20,
        retry=attempts,
    )
    return await SyncEngine(config, settings=settings).run(sync, bulk=False, **kw)


def _script(server: EmulatorServer, times: int, **fault: Any) -> None:
    server.emulator.faults.faults.script.extend(
        ScriptedFault.model_validate(fault) for _ in range(times)
    )


def _counts(config: AppConfig, sync: str = "customers") -> dict[str, int]:
    state = StateStore(config.state_dir)
    try:
        return state.counts(sync)
    finally:
        state.close()


def _listed(server: EmulatorServer, path: str = "/customers") -> set[str]:
    with api(server) as client:
        return {item["external_id"] for item in all_pages(client, path, "entries")}


async def _thirty_in_flight_refused(server: EmulatorServer, tmp_path: Path) -> AppConfig:
    """12 customers delivered; 30 more sent once, refused by ChartMogul, the answers lost
    (so they are in flight: the run cannot tell they were refused)."""
    config = _config(server, tmp_path)
    _lock_type(server)
    first = await _run(config)
    assert (first.status.value, first.rows.succeeded) == ("success", GOOD)
    _sql(
        tmp_path,
        f"insert into accounts select 'z' || i, 'Bad', 'text' from range(1, {BAD + 1}) t(i)",
    )
    _script(server, BAD, fault="lost_response", method="POST", path_pattern="^/v1/customers$")
    lost = await _run(config, attempts=ONE_ATTEMPT)
    assert lost.status.value != "success"
    server.emulator.faults.configure(Faults())  # faults the run did not reach end here
    assert _counts(config) == {"synced": GOOD, "inflight": BAD}
    landed = _listed(server) - {"other"}
    assert landed == {f"a{i}" for i in range(1, GOOD + 1)}  # none of them landed
    return config


async def test_rows_settled_not_in_chartmogul_by_an_earlier_run_are_no_records(
    emulator_server: EmulatorServer, tmp_path: Path
) -> None:
    """The reviewer's scenario: 12 delivered, 30 in flight then refused for good, then the
    model returns only the 30 bad rows. Their lookups found no record: they are failed rows,
    no records, so the 12 deletes are 12 of 12 and the default safeguard refuses them.
    Before: the 30 stayed in flight for ever, the deletes read as 12 of 42, and all 12
    real customers were deleted."""
    config = await _thirty_in_flight_refused(emulator_server, tmp_path)
    settled = await _run(config)
    assert (settled.status.value, settled.rows.failed) == ("partial", BAD)
    assert _counts(config) == {"synced": GOOD, "failed": BAD}
    errors = errors_by_key(config.state_dir, settled)
    assert all("may have landed" not in message for [(_, message, _)] in errors.values())

    _sql(tmp_path, "delete from accounts where id like 'a%'")
    plan = await plan_sync(config, "customers", engine(config).settings)
    assert (plan.counts["deletes"], plan.managed) == (GOOD, GOOD)
    assert plan.deletes_refused is not None
    refused = await _run(config)
    assert refused.status.value == "failed"
    assert isinstance(refused.error, TooManyDeletesError)
    assert f"would delete {GOOD} of its {GOOD} records" in (refused.message or "")
    assert len(_listed(emulator_server) - {"other"}) == GOOD


async def test_rows_settled_in_the_run_that_deletes_are_no_records(
    emulator_server: EmulatorServer, tmp_path: Path
) -> None:
    """The same, settled by the very run whose model lost the 12 good rows: the count is
    of what the run found (the 30 looked up and absent), not of the snapshot as it began."""
    config = await _thirty_in_flight_refused(emulator_server, tmp_path)
    _sql(tmp_path, "delete from accounts where id like 'a%'")
    refused = await _run(config)
    assert refused.status.value == "failed"
    assert f"would delete {GOOD} of its {GOOD} records" in (refused.message or "")
    assert (refused.rows.failed, refused.rows.removed) == (BAD, 0)
    assert len(_listed(emulator_server) - {"other"}) == GOOD
    assert _counts(config) == {"synced": GOOD, "failed": BAD}


@pytest.mark.parametrize("mode", ["insert", "upsert", "update"])
async def test_a_row_in_flight_looked_up_and_absent_fails_like_any_other(
    emulator_server: EmulatorServer, tmp_path: Path, mode: str
) -> None:
    """Every mode looks a row in flight up before sending it again (insert mode too, which
    used to create straight away and never learn whether the record existed)."""
    config = await _thirty_in_flight_refused(emulator_server, tmp_path)
    sync = config.syncs["customers"].model_copy(update={"mode": mode})
    moded = config.model_copy(update={"syncs": {**config.syncs, "customers": sync}})
    record = await _run(moded)
    assert record.rows.added == BAD
    # (the new mode resends the 12 too: their null `note` is sent as a String and refused)
    assert "inflight" not in _counts(config), _counts(config)
    assert _listed(emulator_server) & {f"z{i}" for i in range(1, BAD + 1)} == set()


async def test_a_lookup_that_fails_keeps_the_doubt(
    emulator_server: EmulatorServer, tmp_path: Path
) -> None:
    """The lookup of a row in flight answered 429 until the retries ran out: nothing is
    settled, the row stays in flight, and its error says its record may exist (before: "did
    not accept it in time", of a row whose record may well be in ChartMogul)."""
    config = _config(emulator_server, tmp_path, mode="insert")
    _script(
        emulator_server, 1, fault="lost_response", method="POST", path_pattern="^/v1/customers$"
    )
    _sql(tmp_path, "delete from accounts where id <> 'a1'")
    first = await _run(config, attempts=ONE_ATTEMPT)
    assert first.status.value != "success"
    assert _counts(config) == {"inflight": 1}
    emulator_server.emulator.faults.configure(
        Faults(rate_limit_rate=1.0, path_pattern="^/v1/customers")
    )
    refused = await _run(config)
    emulator_server.emulator.faults.configure(Faults())
    assert refused.status.value == "partial"
    assert _counts(config) == {"inflight": 1}
    [(_, message, action)] = errors_by_key(config.state_dir, refused)["a1"]
    assert "did not accept it in time" not in message, message
    assert "may be in ChartMogul" in message, message
    assert "next run looks it up" in message, message
    assert "retried on the next run" in action
    last = await _run(config)
    assert last.status.value == "success", last.message
    assert _listed(emulator_server) == {"a1"}


async def test_a_failed_lookup_of_a_row_not_in_flight_says_nothing_was_written(
    emulator_server: EmulatorServer, tmp_path: Path
) -> None:
    """Update mode looks the customer up; that GET answers 500 at its last attempt (429s
    before it, so ChartMogul counts as up). Nothing was written: the row is failed, not in
    flight, and its error does not say "may have landed"."""
    config = _config(emulator_server, tmp_path, mode="update")
    _sql(tmp_path, "delete from accounts where id <> 'a1'")
    lookup = {"method": "GET", "path_pattern": "^/v1/customers$", "query_pattern": "external_id=a1"}
    _script(emulator_server, FAST_RETRY.max_attempts - 1, fault="rate_limit", **lookup)
    _script(emulator_server, 1, fault="error", status=500, **lookup)
    record = await _run(config)
    assert record.status.value == "partial", record.message
    [(_, message, action)] = errors_by_key(config.state_dir, record)["a1"]
    assert "may have landed" not in message, message
    assert "a lookup failed (nothing was written)" in message, message
    assert "retried on the next run" in action
    assert _counts(config) == {"failed": 1}


#: (sync, path, listing key, external id, the record as the late first attempt creates it)
LATE = [
    pytest.param("customers", "/customers", "entries", "a1", {"name": "c1"}, id="customer"),
    pytest.param(
        "plans",
        "/plans",
        "plans",
        "gold",
        {"name": "Gold", "interval_count": 1, "interval_unit": "month"},
        id="plan",
    ),
]


@pytest.mark.parametrize(("sync", "path", "key", "external_id", "fields"), LATE)
async def test_insert_keeps_a_lost_attempt_whose_already_exists_lookup_failed(
    emulator_server: EmulatorServer,
    tmp_path: Path,
    sync: str,
    path: str,
    key: str,
    external_id: str,
    fields: dict[str, Any],
) -> None:
    """Insert mode, one call: the create's first attempt is answered 500 (its outcome
    unknown) and is processed late, after the client's lookup found nothing; the second
    attempt is refused "already exists" and the lookup of the holder fails (429s). The
    holder may be the row's own first attempt: the row stays in flight and the next run
    finds the record. Before: refused as "already exists", recorded failed, and every
    later run refused it for its own record."""
    config = _config(emulator_server, tmp_path, mode="insert")
    _sql(tmp_path, "delete from accounts where id <> 'a1'")
    create = {"method": "POST", "path_pattern": f"^/v1{path}$"}
    _script(emulator_server, 1, fault="error", status=500, **create)
    lookups: list[int | None] = []

    def late_landing(entry: RequestLogEntry) -> None:
        if entry.method == "GET" and f"external_id={external_id}" in entry.path:
            lookups.append(entry.status)
            if len(lookups) == 1:  # the first attempt lands now, after this lookup
                with api(emulator_server) as client:
                    sources = client.get("/data_sources").json()["data_sources"]
                    body = {"data_source_uuid": sources[0]["uuid"], "external_id": external_id}
                    client.post(path, json={**body, **fields}).raise_for_status()
                _script(
                    emulator_server,
                    500,
                    fault="rate_limit",
                    method="GET",
                    path_pattern=f"^/v1{path}$",
                    query_pattern=f"external_id={external_id}",
                )

    first = await _run(config, sync, request_hooks=[late_landing])
    emulator_server.emulator.faults.configure(Faults())
    assert first.status.value == "partial", first.message
    assert lookups[0] == 200
    assert 429 in lookups
    assert _counts(config, sync) == {"inflight": 1}
    [(_, message, action)] = errors_by_key(config.state_dir, first)[external_id]
    assert "answer was lost" in message, message
    assert "retried on the next run" in action
    second = await _run(config, sync)
    assert second.status.value == "success", (
        second.message,
        errors_by_key(config.state_dir, second),
    )
    assert _counts(config, sync) == {"synced": 1}
    with api(emulator_server) as client:
        assert [item["external_id"] for item in all_pages(client, path, key)] == [external_id]


@pytest.mark.parametrize("landed", [True, False], ids=["landed", "never-landed"])
async def test_a_contact_in_flight_that_leaves_the_model_is_looked_up_and_deleted(
    emulator_server: EmulatorServer, tmp_path: Path, landed: bool
) -> None:
    """on_delete: delete. A contact whose create's answer was lost, then left the model:
    its contact (if the create landed) is found by external id and deleted; one that never
    landed is simply forgotten. Before: forgotten unlooked, the landed contact left behind."""
    config = _config(emulator_server, tmp_path)
    assert (await _run(config)).status.value == "success"
    fault = {"fault": "lost_response"} if landed else {"fault": "error", "status": 500}
    _script(emulator_server, 1, method="POST", path_pattern="^/v1/contacts$", **fault)
    first = await _run(config, "contacts", attempts=ONE_ATTEMPT)
    emulator_server.emulator.faults.configure(Faults())
    assert first.status.value != "success"
    assert _counts(config, "contacts") == {"inflight": 1}
    assert _listed(emulator_server, "/contacts") == ({"p1"} if landed else set())
    _sql(tmp_path, "delete from people")
    plan = await plan_sync(config, "contacts", engine(config).settings)
    assert plan.counts["deletes"] == 1
    removed = await _run(config, "contacts")
    assert removed.status.value == "success", removed.message
    assert removed.rows.removed == 1
    assert _listed(emulator_server, "/contacts") == set()
    assert _counts(config, "contacts") == {}


def test_the_emulator_refuses_the_locked_type(emulator_server: EmulatorServer) -> None:
    """The refusal the scenarios rely on comes from ChartMogul's side, not from ours."""
    _lock_type(emulator_server)
    with api(emulator_server) as client:
        source = client.get("/data_sources").json()["data_sources"][0]["uuid"]
        custom = [{"type": "String", "key": LOCKED, "value": "text"}]
        body = {"data_source_uuid": source, "external_id": "z", "attributes": {"custom": custom}}
        answer = client.post("/customers", json=body)
    assert answer.status_code == httpx.codes.UNPROCESSABLE_ENTITY
    assert "already exists with type Integer" in answer.text


async def test_an_invoice_in_flight_looked_up_and_absent_fails_like_any_other(
    emulator_server: EmulatorServer, tmp_path: Path
) -> None:
    """Invoices are looked up too before an in-flight row is imported again. i2's line item
    reuses i1's external id: ChartMogul refuses i2 for good, but the first refusal's answer
    was lost. The next run finds no i2, imports it, is refused: i2 is failed, no record.
    Before: the import went straight out, and its refusal left i2 in flight for ever."""
    config = _config(emulator_server, tmp_path)
    line = '[{"type":"one_time","amount_in_cents":1000,"external_id":"li-1"}]'
    _sql(
        tmp_path,
        "create table invoices(id varchar, account_id varchar, d date, currency varchar,"
        " lines json)",
        f"insert into invoices values ('i1', 'a1', DATE '2025-01-01', 'USD', '{line}')",
    )
    invoices = {"model": "invoices", "object": "invoice", "mode": "insert", "data_source": "W",
                "mapping": {"external_id": "id", "customer_external_id": "account_id",
                            "date": "d"},
                "line_items": {"column": "lines"}, "on_delete": "delete", "bulk": "off"}  # fmt: skip
    models = {
        "accounts": {"table": "accounts", "primary_key": "id"},
        "invoices": {"table": "invoices", "primary_key": "id"},
    }
    customers = config.syncs["customers"].model_dump(exclude_none=True)
    url = f"duckdb:///{tmp_path / 'w.duckdb'}"
    syncs = {"customers": customers, "invoices": invoices}
    config = project(emulator_server, tmp_path, url, models, syncs)
    assert (await _run(config)).status.value == "success"
    assert (await _run(config, "invoices")).status.value == "success"
    _sql(tmp_path, f"insert into invoices values ('i2', 'a2', DATE '2025-01-01', 'USD', '{line}')")
    imports = "^/v1/import/customers/[^/]+/invoices$"
    _script(emulator_server, 1, fault="lost_response", method="POST", path_pattern=imports)
    lost = await _run(config, "invoices", attempts=ONE_ATTEMPT)
    emulator_server.emulator.faults.configure(Faults())
    assert lost.status.value != "success"
    assert _counts(config, "invoices") == {"synced": 1, "inflight": 1}
    settled = await _run(config, "invoices")
    assert (settled.status.value, settled.rows.failed) == ("partial", 1)
    assert _counts(config, "invoices") == {"synced": 1, "failed": 1}
    with api(emulator_server) as client:
        assert [i["external_id"] for i in all_pages(client, "/invoices", "invoices")] == ["i1"]


async def test_a_new_row_chartmogul_refuses_is_failed_not_in_flight(
    emulator_server: EmulatorServer, tmp_path: Path
) -> None:
    """ChartMogul's 422 at the only attempt of a new row's create is a refusal, nothing
    else: the row is failed, its error names the field, and it is no record. Before, the
    client counted any 4xx as an unknown outcome, so the refusal was marked "an earlier
    attempt may have landed" and every refused row was kept in flight, counted as a record."""
    config = _config(emulator_server, tmp_path)
    _lock_type(emulator_server)
    _sql(tmp_path, "delete from accounts where id <> 'a1'", "update accounts set note = 'text'")
    record = await _run(config)
    assert (record.status.value, record.rows.failed) == ("partial", 1)
    assert _counts(config) == {"failed": 1}
    [(field, message, _)] = errors_by_key(config.state_dir, record)["a1"]
    assert field == f"attributes.custom.{LOCKED}"
    assert "already exists with type Integer" in message


async def test_a_row_in_flight_when_chartmogul_goes_down_is_not_called_undelivered(
    emulator_server: EmulatorServer, tmp_path: Path
) -> None:
    """A row in flight (its create landed, the answer was lost) meets a ChartMogul that
    stopped answering: the run fails as unreachable, and the row's error says its record
    may be in ChartMogul (before: "not delivered", of a customer ChartMogul held)."""
    config = _config(emulator_server, tmp_path, mode="insert")
    _sql(tmp_path, "delete from accounts where id <> 'a1'")
    _script(
        emulator_server, 1, fault="lost_response", method="POST", path_pattern="^/v1/customers$"
    )
    await _run(config, attempts=ONE_ATTEMPT)
    assert _counts(config) == {"inflight": 1}
    faults = emulator_server.emulator.faults
    faults.configure(Faults(drop_rate=1.0, path_pattern="^/v1/customers"))
    down = await _run(config)
    faults.configure(Faults())
    assert down.status.value == "failed", down.message
    assert "unreachable" in (down.message or "")
    [(_, message, _)] = errors_by_key(config.state_dir, down)["a1"]
    assert "not delivered" not in message, message
    assert "may be in ChartMogul" in message, message
    assert _counts(config) == {"inflight": 1}
    assert (await _run(config)).status.value == "success"
    assert _listed(emulator_server) == {"a1"}


class _GatedPosts(httpx.AsyncBaseTransport):
    """Real HTTP to the emulator; a create of a customer waits until ``gate`` is set."""

    def __init__(self, gate: asyncio.Event) -> None:
        self._gate = gate
        self._http = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and request.url.path.endswith("/customers"):
            await self._gate.wait()
        return await self._http.handle_async_request(request)

    async def aclose(self) -> None:
        await self._http.aclose()


async def test_a_stop_during_the_wait_before_counting_deletes_nothing(
    emulator_server: EmulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The safeguard waits for the run's last sends before it counts. A stop (SIGTERM,
    Ctrl-C) that comes during that wait ends the run there: nothing is deleted, the rows
    that left stay in the snapshot. Before: the deletes went out after the stop (the run
    then recorded ``cancelled``, its deletes done all the same)."""
    config = _config(emulator_server, tmp_path, max_deletes="50%")
    assert (await _run(config)).status.value == "success"
    _sql(
        tmp_path,
        "delete from accounts where id in ('a1', 'a2')",
        "insert into accounts values ('n1', 'New', null)",
    )
    gate = asyncio.Event()
    real_guard_for = engine_module.guard_for

    class _Opening(DeleteGuard):
        def needs_count(self, deletes: int) -> bool:
            gate.set()  # the run is about to wait for n1's create: let it go now
            return super().needs_count(deletes)

    def guard_for(*args: Any, **kwargs: Any) -> DeleteGuard | None:
        guard = real_guard_for(*args, **kwargs)
        assert guard is not None
        return _Opening(guard.sync, guard.model, guard.limit)

    monkeypatch.setattr(engine_module, "guard_for", guard_for)
    # the run now waits for its last sends before deciding any removal (re-keyed rows:
    # docs/sync.md), ahead of the count: that wait opens the gate too
    real_kept = engine_module._Run._kept

    async def kept(self: Any, gone: Any) -> Any:
        gate.set()
        return await real_kept(self, gone)

    monkeypatch.setattr(engine_module._Run, "_kept", kept)
    stop = asyncio.Event()
    settings = ClientSettings(
        api_key=config.chartmogul.api_key,
        base_url=config.chartmogul.base_url,
        rate_limit=10_000,
        max_in_flight=20,
        retry=FAST_RETRY,
    )

    class _Engine(SyncEngine):
        def client(self, hooks: Sequence[Callable[[RequestLogEntry], None]] = ()) -> Any:
            return ChartMogulClient(self.settings, request_hooks=hooks, transport=_GatedPosts(gate))

    deletes: list[str] = []

    def watch(entry: RequestLogEntry) -> None:
        if entry.method == "DELETE":
            deletes.append(entry.path)
        elif entry.method == "POST":
            stop.set()  # n1's create answered, while the run waits to count

    record = await _Engine(config, settings=settings).run(
        "customers", bulk=False, stop=stop, request_hooks=[watch]
    )
    assert gate.is_set()
    assert deletes == []
    assert record.rows.removed == 0
    assert record.status.value == "cancelled", record.message
    assert _counts(config) == {"synced": GOOD + 1}  # a1 and a2 are still in the snapshot
    assert {"a1", "a2", "n1"} <= _listed(emulator_server)


async def test_a_failed_listing_of_contacts_is_not_repeated_for_every_row(
    emulator_server: EmulatorServer, tmp_path: Path
) -> None:
    """Two contacts in flight leave the model; the one listing of the data source's
    contacts fails (429s until the retries ran out). Both rows fail for this run, stay in
    the snapshot, and the next run deletes both contacts. Before: every such row listed
    the whole data source again (pages x rows on a ChartMogul already refusing), and the
    run's "one listing per run" was one per row."""
    config = _config(emulator_server, tmp_path)
    assert (await _run(config)).status.value == "success"
    _sql(tmp_path, "insert into people values ('p2', 'a2', 'bob@acme.io')")
    _script(emulator_server, 2, fault="lost_response", method="POST", path_pattern="^/v1/contacts$")
    first = await _run(config, "contacts", attempts=ONE_ATTEMPT)
    assert first.status.value != "success"
    assert _counts(config, "contacts") == {"inflight": 2}
    assert _listed(emulator_server, "/contacts") == {"p1", "p2"}  # both creates landed
    _sql(tmp_path, "delete from people")
    listing = {"method": "GET", "path_pattern": "^/v1/contacts$",
               "query_pattern": "data_source_uuid="}  # fmt: skip
    _script(emulator_server, FAST_RETRY.max_attempts, fault="rate_limit", **listing)
    listings: list[int | None] = []

    def watch(entry: RequestLogEntry) -> None:
        if entry.method == "GET" and "data_source_uuid=" in entry.path:
            listings.append(entry.status)

    failed = await _run(config, "contacts", request_hooks=[watch])
    emulator_server.emulator.faults.configure(Faults())
    assert failed.status.value == "partial", failed.message
    assert failed.rows.failed == 2
    assert listings == [429] * FAST_RETRY.max_attempts  # one listing, never a second
    for [(_, message, action)] in errors_by_key(config.state_dir, failed).values():
        assert "a lookup failed (nothing was written)" in message, message
        assert "retried on the next run" in action
    assert _counts(config, "contacts") == {"inflight": 2}
    assert _listed(emulator_server, "/contacts") == {"p1", "p2"}
    removed = await _run(config, "contacts")
    assert removed.status.value == "success", removed.message
    assert _listed(emulator_server, "/contacts") == set()
    assert _counts(config, "contacts") == {}


async def test_a_contact_in_flight_with_no_key_to_look_up_keeps_the_doubt(
    emulator_server: EmulatorServer, tmp_path: Path
) -> None:
    """Insert mode needs only the contact's customer: a contact row with neither an
    external id nor an email cannot be looked up. In flight (its create landed, the answer
    lost), its next attempt answered 429 until the retries ran out: it stays in flight and
    its error says its record may be in ChartMogul. Before: the lookup that never ran was
    taken for one that found nothing, and the row was failed, no record."""
    config = _config(emulator_server, tmp_path)
    assert (await _run(config)).status.value == "success"
    _sql(tmp_path, "create table bare as select 'p1' as id, 'a1' as account_id")
    contacts = {"model": "bare", "object": "contact", "data_source": "W", "mode": "insert",
                "mapping": {"customer_external_id": "account_id", "first_name": "id"},
                "custom_attributes": "none"}  # fmt: skip
    customers = config.syncs["customers"].model_dump(exclude_none=True)
    models = {"accounts": {"table": "accounts", "primary_key": "id"},
              "bare": {"table": "bare", "primary_key": "id"}}  # fmt: skip
    url = f"duckdb:///{tmp_path / 'w.duckdb'}"
    syncs = {"customers": customers, "contacts": contacts}
    config = project(emulator_server, tmp_path, url, models, syncs)
    _script(emulator_server, 1, fault="lost_response", method="POST", path_pattern="^/v1/contacts$")
    first = await _run(config, "contacts", attempts=ONE_ATTEMPT)
    assert first.status.value != "success"
    assert _counts(config, "contacts") == {"inflight": 1}
    create = {"method": "POST", "path_pattern": "^/v1/contacts$"}
    _script(emulator_server, FAST_RETRY.max_attempts, fault="rate_limit", **create)
    refused = await _run(config, "contacts")
    emulator_server.emulator.faults.configure(Faults())
    assert refused.status.value == "partial", refused.message
    assert _counts(config, "contacts") == {"inflight": 1}
    [(_, message, _)] = errors_by_key(config.state_dir, refused)["p1"]
    assert "may be in ChartMogul" in message, message

"""The bulk path with one answer lost: the import's POST (applied, then a reset or a
gateway's 502/504), or one of its status polls. Retried within the run or left to the next
run, every record lands once and every row ends synced, with no row error."""

from __future__ import annotations

import collections
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from tests.integration.sync._bulk_support import (
    FAST_POLLING,
    IMPORT_ENDPOINT,
    PLANS,
    billing_project,
    billing_warehouse,
    bulk_engine,
)
from tests.integration.sync._support import all_pages, api, errors_by_key

from mogulsync.chartmogul import ClientSettings, RetryPolicy
from mogulsync.config import AppConfig
from mogulsync.emulator.server import EmulatorServer
from mogulsync.emulator.settings import ScriptedFault
from mogulsync.runs import RunRecord
from mogulsync.sync.bulk import BulkSettings
from mogulsync.sync.engine import SyncEngine
from mogulsync.sync.state import StateStore

pytestmark = pytest.mark.anyio
CUSTOMERS = 60
assert PLANS == CUSTOMERS  # every sync here has as many rows
ONE_ATTEMPT = RetryPolicy(
    max_attempts=1, max_total_s=30, initial_wait_s=0.01, max_wait_s=0.05, jitter_s=0.01
)
POST_FAULTS = [
    pytest.param({"fault": "lost_response"}, id="reset"),
    pytest.param({"fault": "error_after_write", "status": 502}, id="502"),
    pytest.param({"fault": "error_after_write", "status": 504}, id="504"),
]
POLL_FAULTS = [
    pytest.param({"fault": "drop"}, id="reset"),
    pytest.param({"fault": "error", "status": 502}, id="502"),
    pytest.param({"fault": "error", "status": 504}, id="504"),
]


def _one_attempt_engine(config: AppConfig) -> SyncEngine:
    settings = ClientSettings(
        api_key=SecretStr(config.chartmogul.api_key.get_secret_value()),
        base_url=config.chartmogul.base_url,
        rate_limit=10_000,
        max_in_flight=20,
        retry=ONE_ATTEMPT,
        json_import_polling=FAST_POLLING,
    )
    return SyncEngine(config, settings=settings, bulk=BulkSettings())


def _script(server: EmulatorServer, fault: dict[str, Any], method: str, pattern: str) -> None:
    scripted = ScriptedFault.model_validate({**fault, "method": method, "path_pattern": pattern})
    server.emulator.faults.faults.script.append(scripted)


async def _through(server: EmulatorServer, tmp_path: Path, sync: str, mode: str) -> RunRecord:
    config = billing_project(server, tmp_path, str(_url(tmp_path)))
    if mode == "next_run":
        first = await _one_attempt_engine(config).run(sync)
        assert first.status.value != "success", "the single attempt's answer was lost"
    record = await bulk_engine(config).run(sync)
    assert record.status.value == "success", record.message
    assert errors_by_key(tmp_path / "state", record) == {}
    state = StateStore(config.state_dir)
    try:
        assert state.counts(sync) == {"synced": CUSTOMERS}
    finally:
        state.close()
    assert sum(server.emulator.faults.injected.values()) == 1
    return record


def _url(tmp_path: Path) -> str:
    return f"duckdb:///{tmp_path / 'w.duckdb'}"


def _external_ids(server: EmulatorServer, path: str, key: str) -> collections.Counter[str]:
    with api(server) as client:
        return collections.Counter(item["external_id"] for item in all_pages(client, path, key))


def _imports_sent(server: EmulatorServer) -> int:
    by_endpoint = server.emulator.stats.snapshot({})["by_endpoint"]
    return sum(by_endpoint.get(IMPORT_ENDPOINT, {}).values())


async def _ready(server: EmulatorServer, tmp_path: Path, *syncs: str) -> None:
    billing_warehouse(tmp_path, CUSTOMERS, 1)
    config = billing_project(server, tmp_path, _url(tmp_path))
    for sync in syncs:
        record = await bulk_engine(config).run(sync)
        assert record.status.value == "success", record.message


@pytest.mark.parametrize("mode", ["retried", "next_run"])
@pytest.mark.parametrize("fault", POST_FAULTS)
async def test_a_lost_answer_to_the_import_post(
    server: EmulatorServer, tmp_path: Path, fault: dict[str, Any], mode: str
) -> None:
    """Plans, customers, then invoices: the import landed, its answer did not. It is looked
    up by its batch external id (never imported twice) or, next run, each row over REST."""
    await _ready(server, tmp_path)
    for sync, path, key, external_id in (
        ("plans", "/plans", "plans", "plan-{i}"),
        ("customers", "/customers", "entries", "acct-{i}"),
        ("invoices", "/invoices", "invoices", "inv-{i}-0"),
    ):
        server.emulator.faults.injected.clear()
        before = _imports_sent(server)
        _script(server, fault, "POST", "/json_imports$")
        await _through(server, tmp_path, sync, mode)
        expected = {external_id.format(i=i): 1 for i in range(CUSTOMERS)}
        assert _external_ids(server, path, key) == expected
        if mode == "retried":
            assert _imports_sent(server) - before == 1, "the import was sent once"


@pytest.mark.parametrize("mode", ["retried", "next_run"])
@pytest.mark.parametrize("fault", POLL_FAULTS)
async def test_a_lost_answer_to_a_status_poll(
    server: EmulatorServer, tmp_path: Path, fault: dict[str, Any], mode: str
) -> None:
    """A status poll gets no answer or a 5xx: polled again, or resolved next run by REST."""
    await _ready(server, tmp_path, "plans")
    _script(server, fault, "GET", "/json_imports/")
    await _through(server, tmp_path, "customers", mode)
    assert _external_ids(server, "/customers", "entries") == {
        f"acct-{i}": 1 for i in range(CUSTOMERS)
    }

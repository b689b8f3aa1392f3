"""A run that stops while imports are in flight resumes by lookup: nothing lost or doubled."""

from __future__ import annotations

import collections

import pytest
from tests.conftest import unlimited_settings
from tests.integration.sync._bulk_support import (
    FAST_POLLING,
    billing_project,
    billing_warehouse,
    bulk_engine,
)
from tests.integration.sync._support import all_pages, api, errors_by_key

from mogulsync.emulator.server import EmulatorServer
from mogulsync.sync.state import StateStore

pytestmark = pytest.mark.anyio
CUSTOMERS = 60
#: the import never finishes while the test runs
STUCK_STEP_S = 600.0


async def test_import_that_never_completes_is_resolved_next_run(tmp_path):
    """Polling gives up: rows stay in flight, and the re-run resolves them once each."""
    with EmulatorServer(unlimited_settings(json_import_step_s=STUCK_STEP_S)) as server:
        url = billing_warehouse(tmp_path, CUSTOMERS, 1)
        config = billing_project(server, tmp_path, url)
        stuck = await bulk_engine(config, wait_timeout_s=0.2).run("customers")
        assert (stuck.rows.succeeded, stuck.rows.failed) == (0, CUSTOMERS)
        state = StateStore(tmp_path / "state")
        try:
            assert state.counts("customers") == {"inflight": CUSTOMERS}
        finally:
            state.close()
        message = errors_by_key(tmp_path / "state", stuck)["acct-1"][0][1]
        assert "still queued" in message

        resumed = await bulk_engine(config, polling=FAST_POLLING).run("customers")
        assert (resumed.status.value, resumed.rows.succeeded) == ("success", CUSTOMERS)
        with api(server) as client:
            customers = all_pages(client, "/customers", "entries")
            stats = client.get(f"{server.base_url}/_emulator/stats").json()["by_endpoint"]
    counts = collections.Counter(c["external_id"] for c in customers)
    assert (len(counts), max(counts.values())) == (CUSTOMERS, 1)
    # the re-run looked the in-flight rows up over REST instead of importing them again
    assert stats["POST /v1/data_sources/{id}/json_imports"] == {"201": 1}

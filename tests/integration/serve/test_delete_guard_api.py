"""serve's run trigger and the mass-delete safeguard: a refused run is a failed run with its
message; ``{"allow_deletes": true}`` lifts ``max_deletes`` for that run."""

from __future__ import annotations

import duckdb
import pytest
from tests.integration.serve._support import OPERATOR, accounts, project, serving, wait_for_run
from tests.integration.sync._support import all_pages, api

pytestmark = pytest.mark.anyio

ROWS = 12
RUNS = "/api/v1/syncs/customers/runs"


async def test_refused_run_is_failed_and_allow_deletes_lifts_the_limit(emulator_server, tmp_path):
    """Emptied model: failed with the message, nothing deleted; a bad flag is 400; the flag
    true deletes the records."""
    url = accounts(tmp_path, ROWS)
    extra = {"on_delete": "delete", "custom_attributes": "none", "bulk": "off"}
    config = project(emulator_server, tmp_path, url, customers_extra=extra)
    async with serving(config) as served:
        auth = served.bearer(OPERATOR)
        first = (await served.http.post(RUNS, headers=auth)).json()["run_id"]
        assert (await wait_for_run(served, first))["status"] == "success"
        db = duckdb.connect(str(tmp_path / "w.duckdb"))
        db.execute("delete from accounts")
        db.close()

        refused_id = (await served.http.post(RUNS, headers=auth)).json()["run_id"]
        refused = await wait_for_run(served, refused_id)
        assert refused["status"] == "failed"
        assert f"would delete {ROWS} of its {ROWS} records" in refused["message"]
        assert "--allow-deletes" in refused["message"]
        with api(emulator_server) as client:
            assert len(all_pages(client, "/customers", "entries")) == ROWS

        bad = await served.http.post(RUNS, json={"allow_deletes": "yes"}, headers=auth)
        assert bad.status_code == 400
        assert "`allow_deletes` must be true or false" in bad.json()["error"]
        listed = await served.http.get("/api/v1/runs", params={"sync": "customers"}, headers=auth)
        assert len(listed.json()) == 2  # the bad request started nothing

        allowed_id = (
            await served.http.post(RUNS, json={"allow_deletes": True}, headers=auth)
        ).json()["run_id"]
        allowed = await wait_for_run(served, allowed_id)
        assert (allowed["status"], allowed["rows"]["removed"]) == ("success", ROWS)
    with api(emulator_server) as client:
        assert all_pages(client, "/customers", "entries") == []

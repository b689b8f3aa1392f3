"""Activities: one request when a page holds the whole range, parallel windows otherwise.

The range is split into date windows read at once, to fill the account's request budget;
but a small account, or an incremental run soon after the last, has fewer activities
than one page, and then one request replaces one per window (16 by default).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import httpx
from tests.integration.extract._runs import FIRST, LATER, import_more, records, table
from tests.integration.extract._seed import client_settings

from mogulsync.chartmogul.pagination import MAX_PER_PAGE
from mogulsync.emulator.server import EmulatorServer
from mogulsync.extract.context import DEFAULT_ACTIVITY_WINDOWS
from mogulsync.extract.runner import ExtractOptions, ExtractReport, run_extract

ENDPOINT = "GET /v1/activities"


def _extract(server: EmulatorServer, root: Path) -> ExtractReport:
    options = ExtractOptions(
        destination=f"duckdb:///{root}/cm.duckdb",
        streams=("activities",),
        start_date=dt.date(2024, 1, 1),
        end_date=dt.date(2025, 6, 30),
        state_dir=root / "state",
    )
    return run_extract(client_settings(server.base_url, server.api_key), options)


def _activity_requests(server: EmulatorServer) -> int:
    """Successful activity list requests since the last call (the counters are zeroed)."""
    url = f"{server.base_url}/_emulator/stats"
    counts = httpx.get(url).json()["by_endpoint"].get(ENDPOINT, {})
    httpx.delete(url).raise_for_status()
    return sum(counts.values())


def test_windows_for_a_long_list_one_request_for_a_short_one(
    server: EmulatorServer, tmp_path: Path
) -> None:
    """More than a page: a probe, then every window (all records, once). Then an
    incremental run with fewer new activities than a page makes a single request."""
    assert FIRST > MAX_PER_PAGE
    _activity_requests(server)

    assert records(_extract(server, tmp_path)) == {"activities": FIRST}
    # the probe's page is dropped; each window holds less than a page
    assert _activity_requests(server) == 1 + DEFAULT_ACTIVITY_WINDOWS
    import_more(server, "d", LATER, dt.date(2025, 1, 1))

    assert records(_extract(server, tmp_path)) == {"activities": LATER}
    assert _activity_requests(server) == 1
    assert table(tmp_path, "activities", "uuid") == (FIRST + LATER, FIRST + LATER)

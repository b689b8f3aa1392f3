"""Activities: one request when a page holds the whole range, parallel windows otherwise.

The range is split into date windows read at once, to fill the account's request budget;
but a small account, or an incremental run soon after the last, has fewer activities
than one page, and then one request replaces one per window (16 by default). A range of
a few pages is read on from the first page when its round trips cost less than pacing
the windows' requests: the tests drive the clock that times the first page. How many
pages are left is estimated up to the range's newest activity, asked for beside the first
page (one more request), not up to the range's end: an account whose activity stopped
long ago is not split into windows that are mostly empty.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import httpx
import pytest
from tests.integration.extract._runs import FIRST, LATER, import_more, records, table
from tests.integration.extract._seed import client_settings

from mogulsync.chartmogul.pagination import MAX_PER_PAGE
from mogulsync.emulator.server import EmulatorServer
from mogulsync.extract import streams
from mogulsync.extract.options import DEFAULT_ACTIVITY_WINDOWS
from mogulsync.extract.runner import ExtractOptions, ExtractReport, run_extract

ENDPOINT = "GET /v1/activities"
#: activities imported after the first 210 (one a day from 2024-08-01)
EXTRA = 300


#: the probe for the first page and the one for the range's newest activity
PROBES = 2


def _extract(
    server: EmulatorServer,
    root: Path,
    *,
    start_date: dt.date | None = dt.date(2024, 1, 1),
    end_date: dt.date = dt.date(2025, 6, 30),
    windows: int = DEFAULT_ACTIVITY_WINDOWS,
) -> ExtractReport:
    options = ExtractOptions(
        destination=f"duckdb:///{root}/cm.duckdb",
        streams=("activities",),
        start_date=start_date,
        end_date=end_date,
        state_dir=root / "state",
        activity_windows=windows,
    )
    return run_extract(client_settings(server.base_url, server.api_key), options)


def _activity_requests(server: EmulatorServer) -> int:
    """Successful activity list requests since the last call (the counters are zeroed)."""
    url = f"{server.base_url}/_emulator/stats"
    counts = httpx.get(url, timeout=30).json()["by_endpoint"].get(ENDPOINT, {})
    httpx.delete(url, timeout=30).raise_for_status()
    return sum(counts.values())


def _round_trips(monkeypatch: pytest.MonkeyPatch, seconds: float) -> None:
    """Every request seems to take ``seconds`` (the clock advances that much per reading)."""
    now = iter(index * seconds for index in range(1_000_000))
    monkeypatch.setattr(streams, "_clock", lambda: next(now))


def test_windows_for_a_long_list_one_request_for_a_short_one(
    server: EmulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three pages, slow round trips: the probes, then every window (all records, once).
    Then an incremental run with fewer new activities than a page reads them with the
    probes alone."""
    import_more(server, "w", EXTRA, dt.date(2024, 8, 1))
    total = FIRST + EXTRA
    assert total > 2 * MAX_PER_PAGE
    _round_trips(monkeypatch, 1.0)  # two more pages would cost 2 s, 16 windows ~1.4 s
    _activity_requests(server)

    assert records(_extract(server, tmp_path)) == {"activities": total}
    # the probe's page is dropped; each window holds less than a page
    assert _activity_requests(server) == PROBES + DEFAULT_ACTIVITY_WINDOWS
    import_more(server, "d", LATER, dt.date(2025, 6, 1))

    assert records(_extract(server, tmp_path)) == {"activities": LATER}
    assert _activity_requests(server) == PROBES
    assert table(tmp_path, "activities", "uuid") == (total + LATER, total + LATER)


def test_a_few_pages_are_read_on_when_round_trips_are_quick(
    server: EmulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """210 activities over 547 days: the first page (200) covers 199 days, so about two
    pages remain; with quick round trips they are read on from the first page instead
    of the probes plus 16 paced windows: one more request, every record once."""
    _round_trips(monkeypatch, 0.0)
    _activity_requests(server)

    assert records(_extract(server, tmp_path)) == {"activities": FIRST}
    assert _activity_requests(server) == PROBES + 1  # FIRST records at MAX_PER_PAGE a page
    assert table(tmp_path, "activities", "uuid") == (FIRST, FIRST)


def test_activity_that_stopped_long_ago_is_read_on(
    server: EmulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """210 activities in the first 210 days of a four-year range, 0.2 s round trips.
    Up to the range's end the first page would cover 199 of 1,461 days (seven pages
    left: 1.4 s read on, so 16 windows); up to the newest activity one page is left."""
    _round_trips(monkeypatch, 0.2)
    _activity_requests(server)

    report = _extract(server, tmp_path, end_date=dt.date(2027, 12, 31))
    assert records(report) == {"activities": FIRST}
    assert _activity_requests(server) == PROBES + 1
    assert table(tmp_path, "activities", "uuid") == (FIRST, FIRST)


def test_windows_are_spread_up_to_the_newest_activity(
    server: EmulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """510 activities in the first 510 days of a four-year range, in three windows. Split
    up to the range's end the first window would hold 487 of them (three pages read one
    after another) and the last none; split up to the newest activity each holds 170:
    one page each."""
    import_more(server, "w", EXTRA, dt.date(2024, 8, 1))
    _round_trips(monkeypatch, 1.0)
    _activity_requests(server)

    report = _extract(server, tmp_path, end_date=dt.date(2027, 12, 31), windows=3)
    assert records(report) == {"activities": FIRST + EXTRA}
    assert _activity_requests(server) == PROBES + 3
    assert table(tmp_path, "activities", "uuid") == (FIRST + EXTRA, FIRST + EXTRA)


def test_activity_all_on_the_first_day_is_read_on(
    server: EmulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """250 activities on the range's first day, slow round trips: the first page tells
    nothing of how many remain (one instant), and windows spread up to the newest activity
    come down to one, the whole range again. Reading on from the first page saves its
    request being made twice."""
    import_more(server, "s", 250, dt.date(2023, 1, 1), days_apart=0)
    _round_trips(monkeypatch, 1.0)
    _activity_requests(server)

    report = _extract(
        server, tmp_path, start_date=dt.date(2023, 1, 1), end_date=dt.date(2023, 12, 31)
    )
    assert records(report) == {"activities": 250}
    assert _activity_requests(server) == PROBES + 1
    assert table(tmp_path, "activities", "uuid") == (250, 250)


def test_a_failed_newest_probe_falls_back_to_the_range_end(
    server: EmulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The newest-activity probe only sharpens an estimate: when it fails (here its answer
    is cut in half, which no retry repairs and which is no outage) the run still reads
    every activity once, estimating up to the range's end as before the probe existed:
    16 windows. (A 5xx would do too, but with the first page not answered yet, a call out
    of retries rightly trips the client's outage breaker.)"""
    import_more(server, "w", EXTRA, dt.date(2024, 8, 1))
    _round_trips(monkeypatch, 1.0)
    script = [
        {"fault": "malformed", "path_pattern": "^/v1/activities$", "query_pattern": "order=-date"},
    ]
    httpx.post(
        f"{server.base_url}/_emulator/faults/script", json=script, timeout=30
    ).raise_for_status()
    injected = httpx.get(f"{server.base_url}/_emulator/stats", timeout=30).json()["faults_injected"]
    _activity_requests(server)

    assert records(_extract(server, tmp_path)) == {"activities": FIRST + EXTRA}
    after = httpx.get(f"{server.base_url}/_emulator/stats", timeout=30).json()["faults_injected"]
    assert after.get("malformed", 0) == injected.get("malformed", 0) + 1  # the probe's answer
    # both probes, then windows over the whole range
    assert _activity_requests(server) == PROBES + DEFAULT_ACTIVITY_WINDOWS
    total = FIRST + EXTRA
    assert table(tmp_path, "activities", "uuid") == (total, total)


def test_an_incremental_run_without_a_start_date_asks_only_for_what_is_new(
    server: EmulatorServer, tmp_path: Path
) -> None:
    """Without a start date the first run asks where the account's activity begins (one
    more request); a later run starts from its cursor, which cannot be earlier, so it
    makes only the probes."""
    _activity_requests(server)
    assert records(_extract(server, tmp_path, start_date=None)) == {"activities": FIRST}
    assert _activity_requests(server) == 1 + PROBES + 1  # first activity, probes, page 2
    import_more(server, "n", LATER, dt.date(2025, 1, 1))

    assert records(_extract(server, tmp_path, start_date=None)) == {"activities": LATER}
    assert _activity_requests(server) == PROBES

"""`start_date` as an instant (Airbyte's `2017-01-25T06:30:00Z`), not only a day.

Two customers start paying on the same day, at 05:00 and at 08:00 UTC: a start at 06:30
extracts only the later one's activity, in `extract run` and in the Airbyte drop-in alike
(which used to cut the instant back to its day).
"""

from __future__ import annotations

import datetime as dt
import io
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tests.conftest import unlimited_settings
from tests.integration.extract._seed import TEST_RATE_LIMIT, client_settings

from mogulsync.emulator.server import EmulatorServer
from mogulsync.extract.airbyte import AirbyteSource
from mogulsync.extract.runner import ExtractOptions, run_extract

DAY = "2024-03-01"


def _pay(api: httpx.Client, source: str, plan: str, key: str, moment: str) -> None:
    customer = api.post(
        "/customers", json={"data_source_uuid": source, "external_id": key, "name": key}
    ).json()["uuid"]
    line = {
        "type": "subscription",
        "subscription_external_id": f"sub-{key}",
        "plan_uuid": plan,
        "service_period_start": moment,
        "service_period_end": "2024-04-01T00:00:00Z",
        "amount_in_cents": 1000,
    }
    invoice = {"external_id": f"inv-{key}", "date": moment, "currency": "USD", "line_items": [line]}
    answer = api.post(f"/import/customers/{customer}/invoices", json={"invoices": [invoice]})
    answer.raise_for_status()


@pytest.fixture(scope="module")
def server() -> Iterator[EmulatorServer]:
    with EmulatorServer(unlimited_settings()) as emulator:
        with httpx.Client(
            base_url=f"{emulator.base_url}/v1", auth=(emulator.api_key, ""), timeout=30
        ) as api:
            source = api.post("/data_sources", json={"name": "Billing"}).json()["uuid"]
            plan = api.post(
                "/plans",
                json={"data_source_uuid": source, "name": "Pro", "interval_count": 1,
                      "interval_unit": "month", "external_id": "pro"},
            ).json()["uuid"]  # fmt: skip
            _pay(api, source, plan, "early", f"{DAY}T05:00:00Z")
            _pay(api, source, plan, "late", f"{DAY}T08:00:00Z")
        yield emulator


def _activities(server: EmulatorServer, root: Path, start: dt.date) -> int:
    options = ExtractOptions(
        destination=f"duckdb:///{root}/cm.duckdb",
        streams=("activities",),
        start_date=start,
        end_date=dt.date(2024, 3, 31),
        state_dir=root / "state",
    )
    report = run_extract(client_settings(server.base_url, server.api_key), options)
    return {stream.name: stream.records for stream in report.streams}["activities"]


def test_a_day_starts_at_midnight_and_an_instant_at_its_time(
    server: EmulatorServer, tmp_path: Path
) -> None:
    """The day holds both activities; from 06:30 UTC (also written as 08:30+02:00) one."""
    assert _activities(server, tmp_path / "day", dt.date(2024, 3, 1)) == 2
    instant = dt.datetime(2024, 3, 1, 6, 30, tzinfo=dt.UTC)
    assert _activities(server, tmp_path / "utc", instant) == 1
    elsewhere = instant.astimezone(dt.timezone(dt.timedelta(hours=2)))
    assert _activities(server, tmp_path / "zone", elsewhere) == 1


def test_the_airbyte_drop_in_keeps_the_time_of_its_start_date(server: EmulatorServer) -> None:
    """`airbyte read` with start_date 06:30 reads the 08:00 activity only, as Airbyte's does."""
    config = {
        "api_key": server.api_key,
        "start_date": f"{DAY}T06:30:00Z",
        "base_url": server.base_url,
        "rate_limit": TEST_RATE_LIMIT,
    }
    catalog = {
        "streams": [
            {
                "stream": {"name": "activities"},
                "sync_mode": "full_refresh",
                "destination_sync_mode": "append",
            }
        ]
    }
    out = io.StringIO()
    assert AirbyteSource(out).read(config, catalog) == 0
    messages = [json.loads(line) for line in out.getvalue().splitlines()]
    records = [m["record"]["data"] for m in messages if m["type"] == "RECORD"]
    assert [record["customer-external-id"] for record in records] == ["late"]

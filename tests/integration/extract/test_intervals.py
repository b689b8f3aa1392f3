"""customer_count and metrics honour the configured interval (day, week, month, quarter)."""

from __future__ import annotations

import datetime as dt
import itertools
from pathlib import Path

import duckdb
import pytest
from tests.integration.extract._seed import client_settings

from mogulsync.emulator.server import EmulatorServer
from mogulsync.extract.context import Interval
from mogulsync.extract.runner import ExtractOptions, run_extract

START = dt.date(2024, 1, 1)
WEEK = dt.timedelta(days=7)


def periods(dates: list[dt.date], interval: Interval) -> list[object]:
    """The day, month or quarter each date falls in (weeks are checked by their spacing)."""
    if interval == "month":
        return [(day.year, day.month) for day in dates]
    if interval == "quarter":
        return [(day.year, (day.month - 1) // 3) for day in dates]
    return list(dates)


def expected_periods(interval: Interval) -> list[object]:
    """Every day, month or quarter from START to today, in order, once."""
    today = dt.datetime.now(dt.UTC).date()
    days = [START + dt.timedelta(days=n) for n in range((today - START).days + 1)]
    return list(dict.fromkeys(periods(days, interval)))


@pytest.mark.parametrize("interval", ["day", "week", "month", "quarter"])
def test_series_follow_the_interval(
    server: EmulatorServer, tmp_path: Path, interval: Interval
) -> None:
    """One row per day/week/month/quarter since start_date, tagged with its interval."""
    options = ExtractOptions(
        destination=f"duckdb:///{tmp_path}/cm.duckdb",
        streams=("customer_count", "metrics"),
        start_date=START,
        interval=interval,
        state_dir=tmp_path / "state",
    )
    run_extract(client_settings(server.base_url, server.api_key), options)

    with duckdb.connect(f"{tmp_path}/cm.duckdb", read_only=True) as con:
        for table in ("customer_count", "metrics"):
            rows = con.execute(
                f"SELECT interval, CAST(date AS DATE), customers FROM chartmogul.{table} ORDER BY 2"
            ).fetchall()
            assert {row[0] for row in rows} == {interval}, table
            dates = [row[1] for row in rows]
            if interval == "week":
                assert all(b - a == WEEK for a, b in itertools.pairwise(dates)), table
                span = (dt.datetime.now(dt.UTC).date() - START).days // 7
                assert span <= len(dates) <= span + 2, table
            else:
                assert periods(dates, interval) == expected_periods(interval), table
            assert max(row[2] for row in rows) > 0, table  # the seeded customers are counted

"""customer_count and metrics honour the configured interval (day, week, month, quarter).

ChartMogul dates each point at the last day of its period, and the last, partial period at the
end date itself ("month-end points plus the end date", reference §5.13). The series' end is
pinned here, so the expected points never depend on the day the suite runs: each end date
below is a different kind of day (mid-week, a Sunday, a month's and a quarter's last day).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Hashable
from pathlib import Path

import duckdb
import pytest
from tests.integration.extract._seed import client_settings

from mogulsync.emulator.server import EmulatorServer
from mogulsync.extract.context import Interval
from mogulsync.extract.runner import ExtractOptions, run_extract

START = dt.date(2024, 1, 1)
END_DATES = {
    "wednesday": dt.date(2024, 5, 15),
    "sunday": dt.date(2024, 5, 19),
    "month_end": dt.date(2024, 4, 30),
    "quarter_end": dt.date(2024, 6, 30),
}

#: the period a day falls in; ISO weeks run Monday to Sunday, as the account's week_start_on
PERIOD_OF: dict[Interval, Callable[[dt.date], Hashable]] = {
    "day": lambda day: day,
    "week": lambda day: day.isocalendar()[:2],
    "month": lambda day: (day.year, day.month),
    "quarter": lambda day: (day.year, (day.month - 1) // 3),
}


def expected_dates(interval: Interval, end: dt.date) -> list[dt.date]:
    """The last day of each period from START to ``end``, the last period cut at ``end``."""
    last_day: dict[Hashable, dt.date] = {}
    for offset in range((end - START).days + 1):
        day = START + dt.timedelta(days=offset)
        last_day[PERIOD_OF[interval](day)] = day
    return list(last_day.values())


def test_expected_dates_end_on_period_ends() -> None:
    """The oracle itself: Sundays for weeks, month ends for months, then the end date."""
    weeks = expected_dates("week", END_DATES["wednesday"])
    assert weeks[0] == dt.date(2024, 1, 7)
    assert all(day.weekday() == 6 for day in weeks[:-1])
    assert weeks[-1] == END_DATES["wednesday"]
    assert expected_dates("quarter", END_DATES["month_end"]) == [
        dt.date(2024, 3, 31),
        dt.date(2024, 4, 30),
    ]


@pytest.mark.parametrize("interval", ["day", "week", "month", "quarter"])
@pytest.mark.parametrize("end_name", sorted(END_DATES))
def test_series_follow_the_interval(
    server: EmulatorServer, tmp_path: Path, interval: Interval, end_name: str
) -> None:
    """One row per period from start_date to end_date, dated at the period's last day."""
    end = END_DATES[end_name]
    options = ExtractOptions(
        destination=f"duckdb:///{tmp_path}/cm.duckdb",
        streams=("customer_count", "metrics"),
        start_date=START,
        end_date=end,
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
            assert [row[1] for row in rows] == expected_dates(interval, end), table
            assert max(row[2] for row in rows) > 0, table  # the seeded customers are counted

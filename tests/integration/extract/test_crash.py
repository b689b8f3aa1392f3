"""A run killed mid-fetch or between dlt's extract and load, or one that fails, loses nothing
and leaves nothing behind: dlt's extract step writes its package into a folder of its own
(``normalize/<random id>/``) and keeps it there when the step fails or the process dies, so
without a clean-up a service whose extract fails now and then collects one such folder (its
schema, its state, the data files written so far) per failure, for ever."""

from __future__ import annotations

import datetime as dt
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import stamina
from tests.integration.extract._runs import FIRST, LATER, extract, import_more, records, table

from mogulsync.emulator.server import EmulatorServer
from mogulsync.errors import MogulsyncError

CRASH_SCRIPT = Path(__file__).with_name("_crash_run.py")


@pytest.mark.parametrize("when", ["records:activities", "extracted"])
def test_a_killed_run_loses_nothing(server: EmulatorServer, tmp_path: Path, when: str) -> None:
    """SIGKILL while fetching, or after dlt extracted the package: the next run catches up."""
    extract(server, tmp_path)
    import_more(server, "c", LATER, dt.date(2025, 1, 1))
    killed = subprocess.run(
        [
            sys.executable,
            str(CRASH_SCRIPT),
            server.base_url,
            server.api_key,
            f"duckdb:///{tmp_path}/cm.duckdb",
            str(tmp_path / "state"),
            when,
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert table(tmp_path, "activities", "uuid") == (FIRST, FIRST)  # nothing committed

    extract(server, tmp_path)

    assert table(tmp_path, "activities", "uuid") == (FIRST + LATER, FIRST + LATER)
    assert table(tmp_path, "subscription_events", "id") == (FIRST + LATER, FIRST + LATER)
    assert _unfinished(tmp_path) == []  # the killed run's package folder is gone


def _unfinished(root: Path) -> list[Path]:
    """What dlt's extract steps left in ``normalize/`` besides its committed packages."""
    normalize = root.glob("state/extract/*/normalize/*")
    return sorted(p for p in normalize if p.is_dir() and p.name != "extracted")


@pytest.fixture
def no_retry_waits() -> Iterator[None]:
    """Retries happen without sleeping."""
    stamina.set_testing(True, attempts=2)
    yield
    stamina.set_testing(False)


@pytest.mark.usefixtures("no_retry_waits")
def test_a_failing_stream_commits_nothing(server: EmulatorServer, tmp_path: Path) -> None:
    """One stream failing aborts the whole load, cursors included; the next run catches up."""
    extract(server, tmp_path)
    import_more(server, "c", LATER, dt.date(2025, 1, 1))
    faults = {"error_rate": 1.0, "error_statuses": [500], "path_pattern": "subscription_events"}
    httpx.put(f"{server.base_url}/_emulator/faults", json=faults, timeout=30).raise_for_status()

    for _ in range(3):  # an hourly extract failing through a ChartMogul incident
        with pytest.raises(MogulsyncError, match="subscription_events"):
            extract(server, tmp_path)
        assert _unfinished(tmp_path) == []

    # activities were read in full, yet none of them (nor their cursor) was committed
    assert table(tmp_path, "activities", "uuid") == (FIRST, FIRST)
    httpx.delete(f"{server.base_url}/_emulator/faults", timeout=30).raise_for_status()
    assert records(extract(server, tmp_path)) == {"activities": LATER, "subscription_events": LATER}
    assert table(tmp_path, "activities", "uuid") == (FIRST + LATER, FIRST + LATER)

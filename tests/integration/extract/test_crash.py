"""A run killed mid-fetch or between dlt's extract and load loses nothing."""

from __future__ import annotations

import datetime as dt
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from tests.integration.extract._runs import FIRST, LATER, extract, import_more, table

from mogulsync.emulator.server import EmulatorServer

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

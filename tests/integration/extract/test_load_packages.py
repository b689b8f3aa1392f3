"""Each extract leaves dlt's loaded package behind; only the newest few are kept.

Without a bound, ``<state_dir>/extract/`` gains a folder per run for ever (an hourly
extract: 8,760 a year). What resumes a killed run (extracted or normalized packages not
loaded yet) is never touched.
"""

from __future__ import annotations

import gc
import os
import threading
from pathlib import Path

from tests.integration.extract._seed import client_settings

from mogulsync.emulator.server import EmulatorServer
from mogulsync.extract.runner import ExtractOptions, run_extract

FETCH_THREAD = "mogulsync-extract-fetch"


def _loaded(state_dir: Path) -> list[Path]:
    return sorted(state_dir.glob("extract/*/load/loaded/*"))


def test_only_the_newest_loaded_packages_stay(
    emulator_server: EmulatorServer, tmp_path: Path
) -> None:
    """keep_load_packages 2, five runs: the packages of runs 4 and 5 stay, nothing else
    grows, and no run leaves a thread or an open file behind."""
    state_dir = tmp_path / "state"
    options = ExtractOptions(
        destination=f"duckdb:///{tmp_path / 'cm.duckdb'}",
        streams=("data_sources", "customers"),
        state_dir=state_dir,
        keep_load_packages=2,
    )
    settings = client_settings(emulator_server.base_url, emulator_server.api_key)
    load_ids: list[str] = []
    files_after: list[int] = []
    fds_after: list[int] = []
    for _ in range(5):
        report = run_extract(settings, options)
        load_ids.extend(report.load_ids)
        files_after.append(sum(1 for p in state_dir.rglob("*") if p.is_file()))
        gc.collect()
        fds_after.append(len(os.listdir("/proc/self/fd")))  # noqa: PTH208 - a count
    assert [p.name for p in _loaded(state_dir)] == load_ids[-2:]
    assert files_after[2] == files_after[3] == files_after[4]
    assert fds_after[4] <= fds_after[2]  # nothing a run opens outlives it
    assert not [thread for thread in threading.enumerate() if thread.name == FETCH_THREAD]


def test_zero_keeps_no_loaded_package(emulator_server: EmulatorServer, tmp_path: Path) -> None:
    """keep_load_packages 0: each package is deleted once loaded, and the next run still
    finds its pipeline state."""
    state_dir = tmp_path / "state"
    options = ExtractOptions(
        destination=f"duckdb:///{tmp_path / 'cm.duckdb'}",
        streams=("customers",),
        state_dir=state_dir,
        keep_load_packages=0,
    )
    settings = client_settings(emulator_server.base_url, emulator_server.api_key)
    assert run_extract(settings, options).load_ids
    assert _loaded(state_dir) == []
    again = run_extract(settings, options)
    assert [stream.name for stream in again.streams] == ["customers"]
    assert _loaded(state_dir) == []

"""A small run does not pay for what it does not use, and a failed set-up stops the fetch.

``run_extract`` starts its requests before dlt is set up, and incremental streams wait for
the states read from dlt's pipeline: when the set-up fails those streams must be released
and the fetch thread joined. A DuckDB run must not import SQLAlchemy (dlt would, only to
print the credentials; ~0.25 s of CPU per run), and dlt's intermediate files are neither
compressed nor kept once loaded (settings that last as long as the run).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
from tests.integration.extract._seed import client_settings

from mogulsync.emulator.server import EmulatorServer
from mogulsync.extract._dlt_setup import small_job_settings
from mogulsync.extract.runner import ExtractError, ExtractOptions, run_extract

FETCH_THREAD = "mogulsync-extract-fetch"


def test_a_failing_set_up_releases_the_waiting_streams(
    emulator_server: EmulatorServer, tmp_path: Path
) -> None:
    """An unreadable DuckDB file fails the run cleanly; no stream is left waiting."""
    broken = tmp_path / "cm.duckdb"
    broken.write_bytes(b"this is not a DuckDB database" * 100)
    options = ExtractOptions(
        destination=f"duckdb:///{broken}",
        streams=("customers", "activities", "subscription_events"),
        state_dir=tmp_path / "state",
    )
    settings = client_settings(emulator_server.base_url, emulator_server.api_key)

    with pytest.raises(ExtractError, match="reading the extract's state"):
        run_extract(settings, options)

    assert not [thread for thread in threading.enumerate() if thread.name == FETCH_THREAD]


def test_a_duckdb_run_does_not_import_sqlalchemy(
    emulator_server: EmulatorServer, tmp_path: Path
) -> None:
    """A fresh process extracting into DuckDB loads its data without SQLAlchemy."""
    script = textwrap.dedent(
        f"""
        import sys
        from pathlib import Path
        from pydantic import SecretStr
        from mogulsync.chartmogul import ClientSettings
        from mogulsync.extract.runner import ExtractOptions, run_extract

        settings = ClientSettings(api_key=SecretStr({emulator_server.api_key!r}),
                                  base_url={emulator_server.base_url!r})
        options = ExtractOptions(destination={f"duckdb:///{tmp_path}/cm.duckdb"!r},
                                 streams=("data_sources", "activities"),
                                 state_dir=Path({str(tmp_path / "state")!r}))
        report = run_extract(settings, options)
        print(report.streams[0].records, "sqlalchemy" in sys.modules)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["0", "False"]


def test_loaded_files_are_not_kept_and_the_settings_do_not_leak(
    emulator_server: EmulatorServer, tmp_path: Path
) -> None:
    """dlt's intermediate files are gone after the load; the run's dlt settings end with it."""
    options = ExtractOptions(
        destination=f"duckdb:///{tmp_path}/cm.duckdb",
        streams=("data_sources", "customer_count"),
        state_dir=tmp_path / "state",
    )
    run_extract(client_settings(emulator_server.base_url, emulator_server.api_key), options)

    packages = list((tmp_path / "state" / "extract").glob("*/load/loaded/*"))
    assert packages
    assert not [path for path in packages[0].rglob("completed_jobs/*") if path.is_file()]
    assert "DATA_WRITER__DISABLE_COMPRESSION" not in os.environ
    assert "LOAD__DELETE_COMPLETED_JOBS" not in os.environ


def test_a_users_own_dlt_setting_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings the user exported are left as they are, during the run and after it."""
    monkeypatch.setenv("DATA_WRITER__DISABLE_COMPRESSION", "false")
    monkeypatch.delenv("LOAD__DELETE_COMPLETED_JOBS", raising=False)
    with small_job_settings():
        assert os.environ["DATA_WRITER__DISABLE_COMPRESSION"] == "false"
        assert os.environ["LOAD__DELETE_COMPLETED_JOBS"] == "true"
    assert os.environ["DATA_WRITER__DISABLE_COMPRESSION"] == "false"
    assert "LOAD__DELETE_COMPLETED_JOBS" not in os.environ


def test_set_up_is_announced_once_before_the_first_page(
    emulator_server: EmulatorServer, tmp_path: Path
) -> None:
    """``on_set_up`` comes once, on the calling thread, before dlt takes any page."""
    events: list[str] = []
    caller = threading.current_thread()

    def set_up() -> None:
        assert threading.current_thread() is caller
        events.append("set up")

    options = ExtractOptions(
        destination=f"duckdb:///{tmp_path}/cm.duckdb",
        streams=("data_sources", "customer_count"),
        state_dir=tmp_path / "state",
    )
    run_extract(
        client_settings(emulator_server.base_url, emulator_server.api_key),
        options,
        on_records=lambda name, _count: events.append(name),
        on_set_up=set_up,
    )

    assert events.count("set up") == 1
    assert events[0] == "set up"
    assert "customer_count" in events


def test_a_first_incremental_run_does_not_wait_for_stored_states(
    emulator_server: EmulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A new DuckDB file and no working directory: no state can exist, so none is read
    (the incremental streams start at once); any later run reads them as before."""
    import mogulsync.extract.loading as loading

    real_recover = loading.recover_states
    recovered: list[str] = []

    def recover(pipeline: object, start: str | None = None) -> object:
        recovered.append("read")
        return real_recover(pipeline, start)  # type: ignore[arg-type]

    monkeypatch.setattr(loading, "recover_states", recover)
    options = ExtractOptions(
        destination=f"duckdb:///{tmp_path}/cm.duckdb",
        streams=("activities", "customer_count"),
        state_dir=tmp_path / "state",
    )
    settings = client_settings(emulator_server.base_url, emulator_server.api_key)

    run_extract(settings, options)
    assert recovered == []
    run_extract(settings, options)
    assert recovered == ["read"]


@pytest.mark.parametrize(
    ("destination", "file_exists", "dir_exists", "expected"),
    [
        ("duckdb:///{tmp}/cm.duckdb", False, False, True),
        ("duckdb:///{tmp}/cm.duckdb", True, False, False),
        ("duckdb:///{tmp}/cm.duckdb", False, True, False),
        ("duckdb:///relative.duckdb", False, False, False),  # dlt decides where it lives
        ("postgresql://u:p@localhost/db", False, False, False),  # may hold others' state
    ],
)
def test_when_no_state_can_exist(
    tmp_path: Path, destination: str, file_exists: bool, dir_exists: bool, expected: bool
) -> None:
    from mogulsync.extract.destinations import parse_destination
    from mogulsync.extract.runner import _nothing_stored, pipeline_name_for

    options = ExtractOptions(
        destination=destination.format(tmp=tmp_path), state_dir=tmp_path / "state"
    )
    if file_exists:
        (tmp_path / "cm.duckdb").write_bytes(b"")
    if dir_exists:
        (tmp_path / "state" / "extract" / pipeline_name_for(options)).mkdir(parents=True)

    spec = parse_destination(options.destination, options.dataset)
    assert _nothing_stored(options, spec) is expected

"""`mogulsync extract run` as its own process: it ends without the interpreter's teardown.

The console-script entry point leaves httpx's command-line client out of the process
(``mogulsync._lean_imports``) and ends an extract with what Python's exit does first (threads
joined, ``atexit`` handlers run, output flushed) and skips the teardown that frees every
object one by one (``mogulsync._quick_exit``); the start-up's objects stay out of garbage
collection (``mogulsync.extract._collector``). Each test runs the entry point in a fresh
process whose ``__main__`` holds an object with a finalizer: it prints only when the
teardown runs.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
from tests.e2e._one_shot import AT_EXIT, TEARDOWN, run_main
from tests.integration.extract._seed import TEST_RATE_LIMIT

from mogulsync.emulator.server import EmulatorServer


def _project(tmp_path: Path, server: EmulatorServer) -> Path:
    config = tmp_path / "mogulsync.yml"
    config.write_text(
        "chartmogul:\n"
        "  api_key: ${CM_KEY}\n"
        f"  base_url: {server.base_url}\n"
        f"  rate_limit: {TEST_RATE_LIMIT}\n"
        f"state_dir: {tmp_path / 'state'}\n",
        encoding="utf-8",
    )
    return config


def test_an_extract_ends_without_teardown_and_loses_nothing(
    emulator_server: EmulatorServer, tmp_path: Path
) -> None:
    """Exit 0, the report on stdout, the rows in DuckDB, atexit run, no teardown, no noise."""
    database = tmp_path / "cm.duckdb"
    args = ["extract", "run", "-c", str(_project(tmp_path, emulator_server))]
    args += ["--streams", "data_sources,customer_count", "--mode", "overwrite", "--json"]
    args += ["--start-date", "2024-01-01", "--destination", f"duckdb:///{database}"]

    done = run_main(args, tmp_path, {"CM_KEY": emulator_server.api_key})

    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["streams"]["customer_count"]["records"] > 0
    with duckdb.connect(str(database), read_only=True) as con:
        row = con.execute("SELECT count(*) FROM chartmogul.customer_count").fetchone()
    assert row == (report["streams"]["customer_count"]["records"],)
    assert AT_EXIT in done.stderr
    assert TEARDOWN not in done.stderr
    # frozen DuckDB objects must not be reported as leaked by its bindings at exit
    assert "leaked" not in done.stderr
    # httpx's own command line (and the Rich, Pygments and click it pulls in) stays out
    assert "httpx cli: False" in done.stderr


def test_a_failed_extract_keeps_its_exit_code_and_message(
    emulator_server: EmulatorServer, tmp_path: Path
) -> None:
    """A run that fails during its set-up exits with the error's code and says why."""
    broken = tmp_path / "cm.duckdb"
    broken.write_bytes(b"this is not a DuckDB database" * 100)
    args = ["extract", "run", "-c", str(_project(tmp_path, emulator_server))]
    args += ["--streams", "data_sources", "--destination", f"duckdb:///{broken}"]

    done = run_main(args, tmp_path, {"CM_KEY": emulator_server.api_key})

    assert done.returncode == 1
    assert "reading the extract's state (cursors) from duckdb:///" in done.stderr
    assert AT_EXIT in done.stderr
    assert TEARDOWN not in done.stderr


def test_other_commands_end_as_python_ends(tmp_path: Path) -> None:
    """Only a command that asks for it skips the teardown."""
    done = run_main(["--version"], tmp_path)

    assert done.returncode == 0
    assert done.stdout.startswith("mogulsync ")
    assert TEARDOWN in done.stderr

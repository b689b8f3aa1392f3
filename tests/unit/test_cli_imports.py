"""`import mogulsync.cli` and every `--help` stay light: heavy modules load in the command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

#: what `--help` must never pay for (httpx's HTTP/2 stack is `h2`)
HEAVY = ("dlt", "sqlalchemy", "duckdb", "h2", "mogulsync.emulator")
#: and what only the command that talks to ChartMogul or a warehouse may import
ENGINES = ("httpx", "mogulsync.sync.engine", "mogulsync.chartmogul.client", "starlette")

_PROBE = """
import json, sys
from mogulsync.cli import app
args = json.loads(sys.argv[1])
if args:
    try:
        app(args, prog_name="mogulsync")
    except SystemExit:
        pass
print(json.dumps(sorted(sys.modules)))
"""


def _modules(*args: str, cwd: Path | None = None) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(list(args))],
        capture_output=True,
        text=True,
        check=True,
        cwd=cwd,
        env={**os.environ, "K": "key"},
    )
    return set(json.loads(out.stdout.splitlines()[-1]))


def _loaded(modules: set[str], names: tuple[str, ...]) -> list[str]:
    return [n for n in names if any(m == n or m.startswith(f"{n}.") for m in modules)]


def test_import_cli_pulls_in_no_heavy_module() -> None:
    modules = _modules()
    assert "mogulsync.cli" in modules
    assert _loaded(modules, HEAVY + ENGINES) == []


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["sync", "--help"],
        ["sync", "plan", "--help"],
        ["sync", "run", "--help"],
        ["check", "--help"],
        ["runs", "list", "--help"],
        ["extract", "run", "--help"],
        ["airbyte", "check", "--help"],
        ["events", "serve", "--help"],
        ["alerts", "test", "--help"],
        ["reconcile", "--help"],
        ["serve", "--help"],
        ["schedule", "--help"],
        ["init", "--help"],
    ],
)
def test_help_imports_no_engine(args: list[str]) -> None:
    assert _loaded(_modules(*args), HEAVY + ENGINES) == []


def test_emulator_help_imports_no_server() -> None:
    # its options are the emulator's settings model, but not its app or the HTTP stack
    modules = _modules("emulator", "serve", "--help")
    assert _loaded(modules, ("dlt", "sqlalchemy", "duckdb", "h2", "httpx", "starlette")) == []
    assert "mogulsync.emulator.app" not in modules


def test_runs_list_reads_the_history_without_engines(tmp_path: Path) -> None:
    """`runs list` needs the project file and SQLite: no SQLAlchemy, httpx or dlt."""
    (tmp_path / "mogulsync.yml").write_text(
        "chartmogul: {api_key: ${K}}\n"
        "warehouses: {main: duckdb:///w.duckdb}\n"
        "models: {accounts: {warehouse: main, table: accounts, primary_key: id}}\n"
        "syncs: {customers: {model: accounts, object: customer, mapping: {external_id: id}}}\n",
        encoding="utf-8",
    )
    modules = _modules("runs", "list", cwd=tmp_path)
    assert "mogulsync.runs.store" in modules  # it did run
    assert _loaded(modules, HEAVY + ENGINES) == []


def test_sqlite_state_does_not_import_the_postgres_store() -> None:
    """`sync plan`/`run` on the embedded state skip PostgreSQL's dialect (~0.1 s)."""
    probe = "import json, sys, mogulsync.sync.state_open; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    modules = set(json.loads(out.stdout))
    assert "mogulsync.sync.state_postgres" not in modules
    assert "sqlalchemy.dialects.postgresql" not in modules


def test_the_client_leaves_its_write_models_to_the_callers_that_write() -> None:
    """Reading (extract, checks) never builds the ~40 pydantic models of the write side."""
    probe = "import json, sys, mogulsync.chartmogul.client; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    modules = set(json.loads(out.stdout))
    assert "mogulsync.chartmogul.client" in modules
    assert (
        _loaded(modules, ("mogulsync.chartmogul.inputs", "mogulsync.chartmogul.bulk_inputs")) == []
    )

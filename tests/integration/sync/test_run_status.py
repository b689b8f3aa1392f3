"""Run statuses mean what they say (docs/errors.md): `sync run` through the CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.integration.sync._support import make_warehouse
from typer.testing import CliRunner

from mogulsync.cli import app
from mogulsync.emulator.server import EmulatorServer
from mogulsync.runs import RunStore
from mogulsync.sync import exit_codes

INVOICE_LINES = '[{"type":"one_time","amount_in_cents":100}]'


def write_project(
    tmp_path: Path, server: EmulatorServer, models: dict[str, Any], syncs: dict[str, Any]
) -> None:
    config = {
        "chartmogul": {"api_key": "${CHARTMOGUL_API_KEY}", "base_url": server.base_url},
        "warehouses": {"main": "duckdb:///warehouse.duckdb"},
        "models": {name: {"warehouse": "main", **model} for name, model in models.items()},
        "syncs": syncs,
    }
    (tmp_path / "mogulsync.yml").write_text(yaml.safe_dump(config), encoding="utf-8")


@pytest.fixture
def workdir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, emulator_server: EmulatorServer
) -> Path:
    make_warehouse(
        tmp_path / "warehouse.duckdb",
        [
            "create table accounts(id varchar, email varchar)",
            "insert into accounts values ('a1', 'a@acme.io'), ('a2', 'not-an-email')",
            "create table invoices(id varchar, account varchar, date date, currency varchar, lines varchar)",
            f"insert into invoices values ('i1', 'a1', DATE '2025-01-01', 'USD', '{INVOICE_LINES}')",
        ],
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CHARTMOGUL_API_KEY", emulator_server.api_key)
    return tmp_path


def customers(**change: Any) -> dict[str, Any]:
    return {"model": "accounts", "object": "customer", "data_source": "W",
            "mapping": {"external_id": "id", "email": "email"}, **change}  # fmt: skip


def invoices(**change: Any) -> dict[str, Any]:
    return {"model": "invoices", "object": "invoice", "mode": "insert", "data_source": "W",
            "line_items": {"column": "lines"},
            "mapping": {"external_id": "id", "customer_external_id": "account"},
            **change}  # fmt: skip


def statuses(workdir: Path, sync: str) -> list[str]:
    """The sync's run statuses, oldest first."""
    store = RunStore(workdir / ".mogulsync")
    try:
        return [record.status.value for record in reversed(store.latest(sync=sync))]
    finally:
        store.close()


def test_a_rerun_with_the_same_invalid_rows_is_partial_again_not_failed(
    workdir: Path, emulator_server: EmulatorServer
) -> None:
    """The issue's case: after `partial`, nothing changed, the re-run said `failed`, exit 1."""
    write_project(
        workdir,
        emulator_server,
        {"accounts": {"table": "accounts", "primary_key": "id"}},
        {"customers": customers()},
    )
    first = CliRunner().invoke(app, ["sync", "run", "customers", "--json"])
    again = CliRunner().invoke(app, ["sync", "run", "customers", "--json"])
    assert (first.exit_code, again.exit_code) == (exit_codes.PARTIAL, exit_codes.PARTIAL)
    summary = json.loads(again.stdout.splitlines()[0])
    # the valid row is unchanged, the invalid one still invalid: no row landed this time
    assert (summary["rows"]["succeeded"], summary["rows"]["failed"]) == (0, 1)
    assert statuses(workdir, "customers") == ["partial", "partial"]


def test_children_of_a_failed_sync_are_skipped_with_the_reason(
    workdir: Path, emulator_server: EmulatorServer
) -> None:
    write_project(
        workdir,
        emulator_server,
        {
            # the table does not exist: the customers run cannot complete
            "accounts": {"table": "no_such_table", "primary_key": "id"},
            "invoices": {"table": "invoices", "primary_key": "id"},
        },
        {
            "customers": customers(),
            "invoices": invoices(depends_on=["customers"]),
            "more_invoices": invoices(depends_on=["invoices"]),
        },
    )
    result = CliRunner().invoke(app, ["sync", "run", "--all"])
    assert result.exit_code == exit_codes.CONFIG, result.output  # the parent's failure
    assert statuses(workdir, "customers") == ["failed"]
    assert statuses(workdir, "invoices") == ["skipped"]
    assert statuses(workdir, "more_invoices") == ["skipped"]  # skipped in turn
    output = " ".join(result.output.split())
    assert "skipped invoices" in output
    assert "skipped: it depends on `customers`, which failed" in output
    assert "skipped: it depends on `invoices`, which was skipped" in output
    store = RunStore(workdir / ".mogulsync")
    try:
        [record] = store.latest(sync="invoices")
    finally:
        store.close()
    assert record.message == "skipped: it depends on `customers`, which failed"
    assert record.api_calls == 0
    # --json: the reasons go to stderr, a skip not labelled as an error
    as_json = CliRunner().invoke(app, ["sync", "run", "--all", "--json"])
    stderr = " ".join(as_json.stderr.split())
    assert "invoices: skipped: it depends on `customers`, which failed" in stderr
    assert "error: invoices" not in stderr
    assert "error: customers" in stderr
    # the emulator was never asked about an invoice
    stats = emulator_server.emulator.stats.by_endpoint
    assert not [endpoint for endpoint in stats if "invoices" in endpoint]


def test_a_partial_parent_does_not_skip_its_children(
    workdir: Path, emulator_server: EmulatorServer
) -> None:
    write_project(
        workdir,
        emulator_server,
        {
            "accounts": {"table": "accounts", "primary_key": "id"},
            "invoices": {"table": "invoices", "primary_key": "id"},
        },
        {"customers": customers(), "invoices": invoices(depends_on=["customers"])},
    )
    result = CliRunner().invoke(app, ["sync", "run", "--all"])
    assert result.exit_code == exit_codes.PARTIAL, result.output
    assert statuses(workdir, "customers") == ["partial"]
    assert statuses(workdir, "invoices") == ["success"]


def test_a_skip_does_not_relabel_a_run_in_progress(
    workdir: Path, emulator_server: EmulatorServer
) -> None:
    """`sync run --all` records a skipped sync without its lock: a run of that sync still
    in progress (in `serve`, say) stays `running`, not `interrupted`."""
    from mogulsync.config import load_config
    from mogulsync.sync import SyncEngine

    write_project(
        workdir,
        emulator_server,
        {"accounts": {"table": "accounts", "primary_key": "id"}},
        {"customers": customers()},
    )
    store = RunStore(workdir / ".mogulsync")
    try:
        store.start("customers", full=False)  # another process's run, in progress
    finally:
        store.close()
    SyncEngine(load_config(workdir / "mogulsync.yml")).skip("customers", "its parent failed")
    assert statuses(workdir, "customers") == ["running", "skipped"]

"""CLI messages a new user meets: unknown sync, global -c, plain tables, null keys, plan header."""

from __future__ import annotations

import json

import pytest
import yaml
from tests.integration.sync._support import make_warehouse
from typer.testing import CliRunner

from mogulsync.cli import app
from mogulsync.exit_codes import USAGE


def _project(folder, server, rows: str) -> None:
    make_warehouse(
        folder / "warehouse.duckdb",
        ["create table accounts(id varchar, name varchar, email varchar)",
         f"insert into accounts values {rows}"],
    )  # fmt: skip
    config = {
        "chartmogul": {"api_key": "${CHARTMOGUL_API_KEY}", "base_url": server.base_url},
        "warehouses": {"main": "duckdb:///warehouse.duckdb"},
        "models": {"accounts": {"warehouse": "main", "table": "accounts", "primary_key": "id"}},
        "syncs": {"customers": {"model": "accounts", "object": "customer",
                                "data_source": "Warehouse", "mapping": {"external_id": "id"}}},
    }  # fmt: skip
    (folder / "mogulsync.yml").write_text(yaml.safe_dump(config), encoding="utf-8")


@pytest.fixture
def workdir(tmp_path, monkeypatch, emulator_server):
    rows = "('a1','Acme','a@acme.io'),(NULL,'Nokey','n@x.io'),('a1','Again','b@acme.io')"
    _project(tmp_path, emulator_server, rows)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CHARTMOGUL_API_KEY", emulator_server.api_key)
    return tmp_path


def test_runs_list_unknown_sync_is_a_usage_error(workdir):
    result = CliRunner().invoke(app, ["runs", "list", "--sync", "customerz"])
    assert result.exit_code == USAGE
    assert "unknown sync 'customerz'" in result.output
    assert "Did you mean `customers`?" in " ".join(result.output.split())


def test_runs_list_known_sync_without_runs_is_empty_not_an_error(workdir):
    """No runs yet: exit 0 with a note on stderr naming the history file and the command
    that records a run (an empty table alone reads as a fault); --json prints nothing."""
    result = CliRunner().invoke(app, ["runs", "list", "--sync", "customers"])
    assert result.exit_code == 0, result.output
    note = " ".join(result.stderr.split())
    assert "no runs of sync customers recorded yet in" in note
    assert str(workdir / ".mogulsync" / "runs.sqlite") in note
    assert "`mogulsync sync run customers` records one" in note
    assert CliRunner().invoke(app, ["runs", "list", "--json"]).stdout == ""


@pytest.mark.parametrize(
    ("args", "usage"),
    [
        (["sync", "plan"], "mogulsync sync plan NAME"),
        (["sync", "run"], "mogulsync sync run NAME (or --all)"),
        (["reconcile"], "mogulsync reconcile NAME"),
        (["reconcile", "--adopt"], "mogulsync reconcile NAME"),
    ],
)
def test_a_missing_sync_name_lists_the_project_syncs(workdir, monkeypatch, args, usage):
    """Without a sync name: a usage error (2) with the usage and the syncs to choose from,
    even when the file's other sections have problems (an unset API key)."""
    monkeypatch.delenv("CHARTMOGUL_API_KEY")
    result = CliRunner().invoke(app, args)
    assert result.exit_code == USAGE, result.output
    text = " ".join(result.output.split())
    assert f"give a sync name: {usage}" in text
    assert "Syncs in the project file: customers." in text


def test_a_missing_sync_name_without_a_readable_project_is_still_a_usage_error(tmp_path):
    result = CliRunner().invoke(app, ["sync", "plan", "-c", str(tmp_path / "none.yml")])
    assert result.exit_code == USAGE, result.output
    assert "give a sync name: mogulsync sync plan NAME" in " ".join(result.output.split())


def test_global_config_before_the_subcommand(workdir, monkeypatch, emulator_server):
    """`mogulsync -c other/mogulsync.yml runs list` reads that file; a command's own -c wins."""
    other = workdir / "other"
    other.mkdir()
    _project(other, emulator_server, "('z9','Zed','z@z.io')")
    monkeypatch.chdir(workdir.parent)  # no mogulsync.yml here
    runner = CliRunner()
    missing = runner.invoke(app, ["runs", "list"])
    assert missing.exit_code != 0
    ran = runner.invoke(app, ["-c", str(other / "mogulsync.yml"), "sync", "run", "customers"])
    assert ran.exit_code == 0, ran.output
    listed = runner.invoke(app, ["-c", str(other / "mogulsync.yml"), "runs", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    assert json.loads(listed.output.splitlines()[0])["sync"] == "customers"
    # the per-command -c wins over the global one
    own = runner.invoke(
        app, ["-c", "nosuch.yml", "runs", "list", "-c", str(other / "mogulsync.yml"), "--json"]
    )
    assert own.exit_code == 0, own.output
    # and the global -c of one invocation does not leak into the next
    assert runner.invoke(app, ["runs", "list"]).exit_code != 0


def test_null_and_duplicate_keys_are_named(workdir):
    """A null key reads "row 2 (primary key is null)"; a duplicate says which row was kept."""
    runner = CliRunner()
    plan = runner.invoke(app, ["sync", "plan", "customers"], env={"COLUMNS": "200"})
    assert plan.exit_code == 0, plan.output
    assert "row 2 (primary key is null)" in plan.output
    assert "''" not in plan.output
    run = runner.invoke(app, ["sync", "run", "customers", "--json"])
    run_id = json.loads(run.output.strip().splitlines()[0])["run_id"]
    shown = runner.invoke(app, ["runs", "show", run_id, "--errors"])
    assert "row 2 (primary key is null)" in shown.output
    # after the row number, other values help find the row (a model without ORDER BY may
    # return its rows in another order next time)
    assert "the row with name='Nokey', email='n@x.io'" in shown.output
    assert "(rows 1 and 3): row 1 was kept and synced, row 3 skipped" in shown.output


def test_plan_header_names_the_data_source_by_name_and_uuid(workdir):
    runner = CliRunner()
    env = {"COLUMNS": "200"}
    before = runner.invoke(app, ["sync", "plan", "customers"], env=env)
    assert "data source Warehouse (not created yet)" in before.output
    runner.invoke(app, ["sync", "run", "customers"])
    after = runner.invoke(app, ["sync", "plan", "customers"], env=env)
    assert "data source Warehouse (ds_" in after.output
    as_json = json.loads(runner.invoke(app, ["sync", "plan", "customers", "--json"]).output)
    assert as_json["data_source_name"] == "Warehouse"
    assert as_json["data_source_uuid"].startswith("ds_")


def test_runs_list_outside_a_terminal_is_plain_and_complete(workdir):
    """Piped output: a header and one line per run with every column, nothing cut at 80."""
    runner = CliRunner()
    runner.invoke(app, ["sync", "run", "customers"])
    result = runner.invoke(app, ["runs", "list"], env={"COLUMNS": "80"})
    lines = result.output.splitlines()
    assert lines[0].split() == ["run_id", "sync", "status", "rows", "sent", "calls", "secs"]
    fields = lines[1].split()
    assert len(fields) == 7
    assert fields[1] == "customers"


def test_run_outside_a_terminal_prints_progress_lines(workdir):
    result = CliRunner().invoke(app, ["sync", "run", "customers"])
    progress = [line for line in result.output.splitlines() if " req/s · " in line]
    assert progress, result.output
    assert progress[-1].startswith("customers: ")
    assert " read · " in progress[-1]
    assert " failed · " in progress[-1]


def _json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_log_format_json_one_object_per_line_with_run_id(workdir):
    """Every stderr line is a JSON object with run_id; progress and the outcome share it."""
    result = CliRunner().invoke(app, ["--log-format", "json", "sync", "run", "customers"])
    assert result.stdout == ""  # results only with --json; logs go to stderr
    lines = _json_lines(result.stderr)
    assert lines
    assert all({"ts", "level", "event", "run_id"} <= set(line) for line in lines)
    (finished,) = [line for line in lines if line["event"] == "run_finished"]
    assert finished["run_id"]
    assert finished["sync"] == "customers"
    assert finished["exit_code"] == result.exit_code
    progress = [line for line in lines if line["event"] == "progress"]
    assert progress
    assert {line["run_id"] for line in progress} == {finished["run_id"]}
    errors = [line for line in lines if line["event"] == "row_error"]
    assert {e["key"] for e in errors} >= {"row 2 (primary key is null)"}
    assert {e["run_id"] for e in errors} == {finished["run_id"]}


def test_log_format_from_the_environment_and_errors_before_a_run(workdir):
    result = CliRunner().invoke(
        app, ["sync", "run", "nosuch"], env={"MOGULSYNC_LOG_FORMAT": "json"}
    )
    (line,) = _json_lines(result.stderr)
    assert line["event"] == "error"
    assert line["level"] == "error"
    assert line["run_id"] is None
    assert "nosuch" in line["message"]
    assert line["exit_code"] == result.exit_code != 0
    # the next invocation is text again
    again = CliRunner().invoke(app, ["sync", "run", "nosuch"])
    assert again.stderr.startswith("error:")


def test_long_lines_are_not_wrapped_outside_a_terminal(workdir, monkeypatch):
    """A log file has no width: the run summary stays one line (Rich assumed 80 columns)."""
    monkeypatch.delenv("COLUMNS", raising=False)
    result = CliRunner().invoke(app, ["sync", "run", "customers"])
    summary = [line for line in result.stdout.splitlines() if " (run " in line]
    assert len(summary) == 1, result.stdout
    assert len(summary[0]) > 80
    assert summary[0].rstrip().endswith("s")  # "... API calls in 0.1s"
    assert "API calls in" in summary[0]


def test_run_in_a_terminal_uses_the_bar(workdir, monkeypatch):
    """The Rich bar path (a terminal) runs the sync to the end and prints no progress lines."""
    import io

    from rich.console import Console

    from mogulsync.sync import cli as sync_cli

    screen = io.StringIO()
    monkeypatch.setattr(sync_cli, "interactive", lambda _console: True)
    monkeypatch.setattr(sync_cli._err, "_console", Console(file=screen, force_terminal=True))
    result = CliRunner().invoke(app, ["sync", "run", "customers"])
    assert " (run " in result.stdout
    assert " req/s · " not in result.output
    assert "customers" in screen.getvalue()  # the bar was drawn
    assert "None" not in screen.getvalue()

"""What a new user met walking through the README and docs (a second walkthrough).

Tables outside a terminal, unknown names typed on the command line (exit 2), `schedule
--json` as one line, a `--seq` that is no dead letter, each invalid row named once.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml
from tests.e2e.events.test_cli import fill
from tests.integration.sync._support import make_warehouse
from typer.testing import CliRunner

from mogulsync import sample_warehouse
from mogulsync._listen import listening_socket
from mogulsync.cli import app
from mogulsync.exit_codes import USAGE

#: Rich's box-drawing characters: a log file or `awk` gets none of them
BOX = set("│┃━─┏┓┗┛┡┩└┘╇╋┳┻")
ROWS = "('a1','Acme','a@acme.io','US'),('a3','Bad','not-an-email','USA')"


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, emulator_server: Any) -> Path:
    make_warehouse(
        tmp_path / "warehouse.duckdb",
        ["create table accounts(id varchar, name varchar, email varchar, country varchar)",
         f"insert into accounts values {ROWS}"],
    )  # fmt: skip
    config = {
        "chartmogul": {"api_key": "${CHARTMOGUL_API_KEY}", "base_url": emulator_server.base_url},
        "warehouses": {"main": "duckdb:///warehouse.duckdb"},
        "models": {"accounts": {"warehouse": "main", "table": "accounts", "primary_key": "id"}},
        "syncs": {"customers": {"model": "accounts", "object": "customer", "bulk": "off",
                                "data_source": "Walk", "custom_attributes": "none",
                                "mapping": {"external_id": "id", "email": "email",
                                            "country": "country"}}},
        "events": {"write_keys": ["${WRITE_KEY}"]},
    }  # fmt: skip
    (tmp_path / "mogulsync.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CHARTMOGUL_API_KEY", emulator_server.api_key)
    monkeypatch.setenv("WRITE_KEY", "wk-walkthrough-0123456789")
    monkeypatch.delenv("COLUMNS", raising=False)
    return tmp_path


def _plain(text: str) -> bool:
    """No box-drawing character, and no line padded with trailing spaces."""
    return not BOX & set(text) and all(line == line.rstrip() for line in text.splitlines())


def test_tables_outside_a_terminal_are_plain_columns(workdir: Path) -> None:
    """README: outside a terminal tables are plain and greppable (CliRunner is no TTY)."""
    runner = CliRunner()
    plan = runner.invoke(app, ["sync", "plan", "customers"])
    assert plan.exit_code == 0, plan.output
    assert _plain(plan.stdout), plan.stdout
    lines = plan.stdout.splitlines()
    assert lines[1].split() == ["change", "rows", "sample"]
    assert lines[2].split() == ["creates", "1", "a1"]
    runner.invoke(app, ["sync", "run", "customers"])
    reconcile = runner.invoke(app, ["reconcile", "customers"])
    assert _plain(reconcile.stdout), reconcile.stdout
    assert "in both" in reconcile.stdout
    schedule = runner.invoke(app, ["schedule"])
    assert schedule.exit_code == 0, schedule.output
    assert _plain(schedule.stdout), schedule.stdout
    fill(workdir / ".mogulsync" / "events.sqlite")
    for command in (["events", "status"], ["events", "dead-letter", "list"]):
        shown = runner.invoke(app, command)
        assert shown.exit_code == 0, shown.output
        assert _plain(shown.stdout), shown.stdout


def test_a_row_invalid_in_two_fields_is_named_once_in_the_plan(workdir: Path) -> None:
    """a3 has a bad email and a bad country: two messages, but one row in the sample."""
    plan = CliRunner().invoke(app, ["sync", "plan", "customers"])
    invalid = next(line for line in plan.stdout.splitlines() if line.startswith("invalid "))
    assert invalid.split() == ["invalid", "1", "a3"]
    assert "invalid a3 · email:" in plan.stdout
    assert "invalid a3 · country:" in plan.stdout


@pytest.mark.parametrize(
    "command",
    [
        ["sync", "plan", "customerz"],
        ["sync", "run", "customerz"],
        ["reconcile", "customerz"],
        ["runs", "list", "--sync", "customerz"],
    ],
    ids=" ".join,
)
def test_an_unknown_sync_on_the_command_line_is_a_usage_error(
    workdir: Path, command: list[str]
) -> None:
    """docs/errors.md: a wrong command line exits 2 and names the known values."""
    result = CliRunner().invoke(app, command)
    assert result.exit_code == USAGE, result.output
    text = " ".join(result.stderr.split())
    assert "unknown sync 'customerz'" in text
    assert "Did you mean `customers`?" in text
    assert "Syncs in the project file: customers." in text


def test_an_unknown_run_id_is_a_usage_error(workdir: Path) -> None:
    result = CliRunner().invoke(app, ["runs", "show", "20990101T000000-00000000"])
    assert result.exit_code == USAGE, result.output
    assert "no run with id 20990101T000000-00000000" in result.stderr
    # what to do on its own line, as every other command prints it
    assert "\n  → List runs with `mogulsync runs list`." in result.stderr


def test_events_commands_print_what_to_do_on_its_own_line(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`events status` with an unset write key: the same layout as `sync run`'s errors."""
    monkeypatch.delenv("WRITE_KEY")
    result = CliRunner().invoke(app, ["events", "status"])
    assert result.exit_code == 4, result.output
    assert "events.write_keys.0: environment variable WRITE_KEY is not set" in result.stderr
    assert "\n  → Fix them and run `mogulsync check` again." in result.stderr


def test_schedule_json_is_one_line(workdir: Path) -> None:
    """Every --json prints JSON Lines: one result is one line (it was pretty-printed)."""
    result = CliRunner().invoke(app, ["schedule", "--json"])
    assert result.exit_code == 0, result.output
    (line,) = result.stdout.splitlines()
    assert json.loads(line) == {"jobs": [], "unscheduled": ["customers"]}


def test_replaying_a_seq_that_is_no_dead_letter_says_so(workdir: Path) -> None:
    """`--seq 99` used to answer "Replayed 0 dead letter(s)." and exit 0."""
    fill(workdir / ".mogulsync" / "events.sqlite")
    runner = CliRunner()
    listed = runner.invoke(app, ["events", "dead-letter", "list", "--json"])
    (dead,) = [json.loads(line)["seq"] for line in listed.stdout.splitlines()]
    wrong = runner.invoke(app, ["events", "dead-letter", "replay", "--seq", "99", "--seq", "1"])
    assert wrong.exit_code == USAGE, wrong.output
    assert "no dead letter with --seq 1, 99: nothing was replayed" in wrong.stderr
    assert "mogulsync events dead-letter list" in wrong.stderr
    right = runner.invoke(app, ["events", "dead-letter", "replay", "--seq", str(dead)])
    assert right.exit_code == 0, right.output
    assert "Replayed 1 dead letter(s)." in right.stdout


def test_an_unknown_alert_channel_is_a_usage_error(tmp_path: Path, dead_url: str) -> None:
    """`alerts test --channel hok` exited 4 (configuration); the file is fine, the line is not."""
    config = {
        "chartmogul": {"api_key": "${CHARTMOGUL_API_KEY}"},
        "alerts": {"channels": {"hook": {"type": "webhook", "url": "${HOOK_URL}"}}},
    }
    path = tmp_path / "mogulsync.yml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    env = {"CHARTMOGUL_API_KEY": "k" * 20, "HOOK_URL": f"{dead_url}/never-called"}
    result = CliRunner().invoke(
        app, ["alerts", "test", "-c", str(path), "--channel", "hok"], env=env
    )
    assert result.exit_code == USAGE, result.output
    text = " ".join(result.stderr.split())
    assert "no alert channel named hok. Did you mean `hook`?" in text
    assert "never-called" not in result.output


def _extract_project(folder: Path, server: Any) -> Path:
    config = {
        "chartmogul": {"api_key": "${CM_KEY}", "base_url": server.base_url},
        "state_dir": str(folder / "state"),
        "extract": {"destination": f"duckdb:///{folder / 'cm.duckdb'}"},
    }
    path = folder / "mogulsync.yml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def test_a_rejected_key_is_said_once_not_once_per_stream(
    tmp_path: Path, emulator_server: Any
) -> None:
    """Every stream fails for the same reason: one reason, the streams it stopped listed.
    A rejected key is the configuration's to fix: exit 4, as with one stream and in sync."""
    args = ["extract", "run", "-c", str(_extract_project(tmp_path, emulator_server))]
    args += ["--streams", "customers,plans,data_sources"]
    result = CliRunner().invoke(app, args, env={"CM_KEY": "wrong-key-0123456789"})
    assert result.exit_code == 4, result.output
    text = " ".join(result.stderr.split())
    assert text.count("The ChartMogul API key was rejected") == 1, text
    assert "3 stream(s) failed, nothing was loaded: data_sources, customers, plans:" in text
    assert "wrong-key-0123456789" not in result.output


def test_an_unreachable_destination_is_named_in_one_line(
    tmp_path: Path, emulator_server: Any, dead_port: int
) -> None:
    """A first run said "finishing the previous run ... failed" over five lines of dlt."""
    args = ["extract", "run", "-c", str(_extract_project(tmp_path, emulator_server))]
    args += ["--streams", "data_sources"]
    args += ["--destination", f"postgresql://etl:pg-secret-pw@127.0.0.1:{dead_port}/analytics"]
    result = CliRunner().invoke(app, args, env={"CM_KEY": emulator_server.api_key})
    assert result.exit_code == 1, result.output
    (line,) = result.stderr.strip().splitlines()  # docs/extract.md: one line, `error: ...`
    assert line.startswith(
        "error: reading the extract's state (cursors) from"
        f" postgresql://***@127.0.0.1:{dead_port}/analytics failed: OperationalError: "
    ), line
    assert "finishing the previous run" not in line
    assert line.endswith("Nothing past the last committed load was recorded; run again to retry.")
    assert "pg-secret-pw" not in result.output


def test_a_wrong_start_date_is_a_usage_error(tmp_path: Path, emulator_server: Any) -> None:
    """As a wrong --mode or --interval is (it exited 4, as if the project file were wrong)."""
    args = ["extract", "run", "-c", str(_extract_project(tmp_path, emulator_server))]
    result = CliRunner().invoke(app, [*args, "--start-date", "2024-13-01"], env={"CM_KEY": "k"})
    assert result.exit_code == USAGE, result.output
    assert (
        "--start-date must be YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ, not '2024-13-01'" in result.output
    )


def test_the_starter_project_runs_on_the_sample_warehouse(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, emulator_server: Any
) -> None:
    """README: `mogulsync init`, build the sample warehouse, `check`, `sync plan`. The
    starter's model read columns (`name`, `email`) the sample warehouse does not have."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CHARTMOGUL_API_KEY", emulator_server.api_key)
    runner = CliRunner()
    assert runner.invoke(app, ["init"]).exit_code == 0
    sample_warehouse.main([])  # `python -m mogulsync.sample_warehouse`, as the file says
    starter = (tmp_path / "mogulsync.yml").read_text(encoding="utf-8")
    assert "python -m mogulsync.sample_warehouse" in starter
    emulator = f"  base_url: {emulator_server.base_url}   # the local emulator"
    (tmp_path / "mogulsync.yml").write_text(
        starter.replace("  # base_url: http://127.0.0.1:8780   # the local emulator", emulator),
        encoding="utf-8",
    )
    check = runner.invoke(app, ["check"])
    assert check.exit_code == 0, check.output
    plan = runner.invoke(app, ["sync", "plan", "customers", "--json"])
    assert json.loads(plan.stdout)["counts"]["creates"] == sample_warehouse.ACCOUNTS


@pytest.mark.parametrize(
    "command",
    [
        ["runs", "list", "--limit", "-1"],
        ["events", "dead-letter", "list", "--limit", "0"],
        ["sync", "plan", "customers", "--sample", "-3"],
    ],
    ids=" ".join,
)
def test_a_count_below_its_range_is_a_usage_error(command: list[str]) -> None:
    """`runs list --limit -1` listed every run (SQLite's LIMIT -1), `--sample -3` cut samples
    from the end: a count below its range is refused before anything is read."""
    result = CliRunner().invoke(app, command)
    assert result.exit_code == USAGE, result.output
    assert "Input should be greater than or equal to" in result.output


def test_check_finds_what_extract_run_would_refuse(tmp_path: Path, emulator_server: Any) -> None:
    """`check` said `config (extract:): valid` for a stream and a destination that make
    `extract run` exit 4."""
    path = _extract_project(tmp_path, emulator_server)
    config = yaml.safe_load(path.read_text(encoding="utf-8"))
    config["extract"] = {"streams": ["customers", "customerz"], "destination": "nosuch://x"}
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    result = CliRunner().invoke(
        app, ["check", "-c", str(path)], env={"CM_KEY": emulator_server.api_key}
    )
    assert result.exit_code == 1, result.output
    (line,) = [line for line in result.stdout.splitlines() if "config (extract:)" in line]
    assert line.startswith("FAIL config (extract:): extract.streams: unknown stream(s): customerz.")
    assert "extract.destination: destination nosuch://x is not supported." in line


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A loopback port some other process listens on."""
    with listening_socket("127.0.0.1") as holder:
        yield holder.getsockname()[1]


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "command", [["serve"], ["events", "serve"], ["emulator", "serve"]], ids=" ".join
)
def test_a_busy_port_is_one_clear_line_and_exit_1(
    workdir: Path, busy_port: int, command: list[str]
) -> None:
    """uvicorn logged `[Errno 98] Address already in use` and exited 3, our `partial`."""
    result = CliRunner().invoke(app, [*command, "--port", str(busy_port)])
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith(
        f"error: cannot listen on 127.0.0.1:{busy_port}: Address already in use\n"
        "  → Another process (an earlier server?) may hold the port"
    ), result.stderr
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    "command", [["serve"], ["events", "serve"], ["emulator", "serve"]], ids=" ".join
)
def test_a_port_out_of_range_is_a_usage_error(command: list[str]) -> None:
    """`serve --port 99999` ended in a traceback (OverflowError from bind)."""
    result = CliRunner().invoke(app, [*command, "--port", "99999"])
    assert result.exit_code == USAGE, result.output
    assert "Traceback" not in result.output


def test_the_global_config_reaches_schedule_serve_and_init(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`mogulsync -c FILE schedule` read ./mogulsync.yml (serve and init too): their own
    -c option did not look at the global one."""
    elsewhere = workdir / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # no mogulsync.yml here
    project = str(workdir / "mogulsync.yml")
    runner = CliRunner()
    schedule = runner.invoke(app, ["-c", project, "schedule", "--json"])
    assert schedule.exit_code == 0, schedule.output
    assert json.loads(schedule.stdout)["unscheduled"] == ["customers"]
    # serve reads the file first: a non-loopback host without tokens is refused (exit 4)
    # rather than "config file mogulsync.yml not found"
    serve = runner.invoke(app, ["-c", project, "serve", "--host", "0.0.0.0"])
    assert "refusing to listen on 0.0.0.0 without tokens" in serve.stderr, serve.output
    init = runner.invoke(app, ["-c", str(elsewhere / "new" / "mogulsync.yml"), "init"])
    assert init.exit_code == 0, init.output
    assert (elsewhere / "new" / "mogulsync.yml").is_file()
    assert not (elsewhere / "mogulsync.yml").exists()


def test_alerts_test_without_channels_says_how_to_add_one(tmp_path: Path) -> None:
    path = tmp_path / "mogulsync.yml"
    path.write_text(yaml.safe_dump({"chartmogul": {"api_key": "${CHARTMOGUL_API_KEY}"}}))
    result = CliRunner().invoke(
        app, ["alerts", "test", "-c", str(path)], env={"CHARTMOGUL_API_KEY": "k" * 20}
    )
    assert result.exit_code == 4, result.output
    first, hint = result.stderr.strip().splitlines()
    assert first == "error: no alert channels configured (alerts.channels)"
    assert hint.startswith("  → Add one, e.g. `alerts: {channels: {team: {type: slack,")
    snippet = hint.split("`")[1]
    assert yaml.safe_load(snippet)["alerts"]["channels"]["team"]["type"] == "slack"


def test_run_all_without_syncs_says_there_is_nothing_to_run(tmp_path: Path) -> None:
    """It printed nothing and exited 0, which reads as "it worked"."""
    path = tmp_path / "mogulsync.yml"
    path.write_text(yaml.safe_dump({"chartmogul": {"api_key": "${CHARTMOGUL_API_KEY}"}}))
    result = CliRunner().invoke(
        app, ["sync", "run", "--all", "-c", str(path)], env={"CHARTMOGUL_API_KEY": "k" * 20}
    )
    assert result.exit_code == 0, result.output
    assert result.stderr == f"warning: {path} has no syncs (syncs:): nothing to run\n"


def test_the_sample_warehouse_never_replaces_a_real_warehouse(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`./warehouse.duckdb` is init's default name for a real warehouse too: the sample
    replaces only an earlier sample, or anything with --force."""
    monkeypatch.chdir(tmp_path)
    real = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(real)) as db:
        db.execute("CREATE TABLE my_precious AS SELECT 42 AS answer")
    with pytest.raises(SystemExit) as refused:
        sample_warehouse.main([])
    assert refused.value.code == 2
    assert "warehouse.duckdb exists and is not a sample warehouse" in capsys.readouterr().err
    with duckdb.connect(str(real), read_only=True) as db:
        assert db.execute("SELECT answer FROM my_precious").fetchall() == [(42,)]

    notes = tmp_path / "notes.yml"
    notes.write_text("keep: me\n", encoding="utf-8")
    with pytest.raises(SystemExit):
        sample_warehouse.main([str(notes)])
    assert notes.read_text(encoding="utf-8") == "keep: me\n"

    sample_warehouse.main(["--force"])  # asked for: replaced
    assert sample_warehouse.is_sample_warehouse(real)
    sample_warehouse.main([])  # an earlier sample: rebuilt without asking
    assert sample_warehouse.is_sample_warehouse(real)


def test_check_names_an_unknown_stream_beside_an_unset_variable(
    tmp_path: Path, emulator_server: Any
) -> None:
    """With the destination's `${PGPASSWORD}` unset, `check` reported only that; the
    unknown stream surfaced once the password was exported (a second round of fixes)."""
    path = _extract_project(tmp_path, emulator_server)
    config = yaml.safe_load(path.read_text(encoding="utf-8"))
    config["extract"] = {
        "streams": ["customers", "activitys"],
        "destination": "postgresql://etl:${NU_UNSET_PASSWORD}@db.invalid/analytics",
    }
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    result = CliRunner().invoke(
        app, ["check", "-c", str(path)], env={"CM_KEY": emulator_server.api_key}
    )
    assert result.exit_code == 1, result.output
    (line,) = [line for line in result.stdout.splitlines() if "config (extract:)" in line]
    assert "environment variable NU_UNSET_PASSWORD is not set" in line
    assert "extract.streams: unknown stream(s): activitys." in line

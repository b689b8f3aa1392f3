"""What a new user met in their first hour, following README.md and docs/ literally.

Each test is one step of that walk-through that went wrong, replayed as the docs now say it.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import duckdb
import pytest
from typer.testing import CliRunner

from mogulsync import exit_codes, sample_warehouse
from mogulsync.cli import app


def test_init_with_base_url_runs_the_readme_walkthrough_on_the_emulator(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, emulator_server: Any
) -> None:
    """README: `mogulsync init --base-url <emulator>`, the sample warehouse, `check`, `sync
    plan`: no hand edit of the file. The starter used to leave `base_url` commented out, so
    the emulator's key went to api.chartmogul.com."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CHARTMOGUL_API_KEY", emulator_server.api_key)
    runner = CliRunner()
    init = runner.invoke(app, ["init", "--base-url", emulator_server.base_url])
    assert init.exit_code == 0, init.output
    assert f"it calls ChartMogul at {emulator_server.base_url}" in init.output
    sample_warehouse.main([])
    check = runner.invoke(app, ["check"])
    assert check.exit_code == 0, check.output
    assert f"key accepted at {emulator_server.base_url}" in check.output
    plan = runner.invoke(app, ["sync", "plan", "customers", "--json"])
    assert json.loads(plan.stdout)["counts"]["creates"] == sample_warehouse.ACCOUNTS


def test_init_without_base_url_says_where_it_calls_and_how_to_use_the_emulator(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["init"])
    assert result.exit_code == 0, result.output
    assert "it calls ChartMogul at https://api.chartmogul.com" in result.output
    assert "--base-url http://127.0.0.1:8780" in result.output


def test_check_refuses_to_send_the_emulator_key_to_chartmogul(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dead_port: int
) -> None:
    """The starter without --base-url and `export CHARTMOGUL_API_KEY=emulator-api-key`:
    check names the mismatch instead of reporting ChartMogul's 401. Any request would go
    through a proxy on a refused loopback port, so a regression never leaves the machine
    (and fails as "not reachable")."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CHARTMOGUL_API_KEY", "emulator-api-key")
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{dead_port}")
    monkeypatch.setenv("COLUMNS", "300")
    runner = CliRunner()
    assert runner.invoke(app, ["init"]).exit_code == 0
    sample_warehouse.main([])
    check = runner.invoke(app, ["check"])
    assert check.exit_code == 1, check.output
    assert "`emulator-api-key` is the local emulator's key" in check.output
    assert "nothing was sent there" in check.output
    assert "not reachable" not in check.output


def _extract_project(folder: Path, server: Any) -> Path:
    config = {
        "chartmogul": {"api_key": "${CM_KEY}", "base_url": server.base_url},
        "state_dir": str(folder / "state"),
    }
    path = folder / "mogulsync.yml"
    path.write_text(json.dumps(config), encoding="utf-8")  # JSON is YAML
    return path


def test_destination_reads_env_variables_as_the_project_file_does(
    tmp_path: Path, emulator_server: Any
) -> None:
    """README: `--destination 'postgresql://etl:${PGPASSWORD}@db:5432/analytics'`, single
    quoted, reached dlt as written and failed to log in. It is now read from the
    environment, and an unset variable is named (exit 4)."""
    args = ["extract", "run", "-c", str(_extract_project(tmp_path, emulator_server))]
    args += ["--streams", "data_sources", "--destination", "duckdb:///${EXTRACT_DIR}/cm.duckdb"]
    env = {"CM_KEY": emulator_server.api_key, "EXTRACT_DIR": str(tmp_path / "out")}
    (tmp_path / "out").mkdir()
    result = CliRunner().invoke(app, args, env=env)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "cm.duckdb").is_file()
    unset = CliRunner().invoke(app, args, env={"CM_KEY": emulator_server.api_key})
    assert unset.exit_code == 4, unset.output
    assert "--destination: environment variable EXTRACT_DIR is not set" in unset.stderr


def test_a_destination_refusing_the_login_is_the_configuration_to_fix(
    tmp_path: Path, emulator_server: Any, postgres_server: Any
) -> None:
    """A database that does not exist (or a wrong password) said "run again to retry" and
    exited 1, as if it were an outage; running again cannot help: exit 4, fix the URL."""
    args = ["extract", "run", "-c", str(_extract_project(tmp_path, emulator_server))]
    missing = postgres_server.dsn.rsplit("/", 1)[0] + "/no_such_db"
    args += ["--streams", "data_sources", "--destination", missing]
    result = CliRunner().invoke(app, args, env={"CM_KEY": emulator_server.api_key})
    assert result.exit_code == 4, result.output
    text = " ".join(result.stderr.split())
    assert 'database "no_such_db" does not exist' in text
    assert "Fix the destination URL's user, password or database" in text
    assert "run again to retry" not in text


def test_airbyte_read_given_discover_output_says_what_a_configured_catalog_is(
    tmp_path: Path, emulator_server: Any
) -> None:
    """README: `airbyte read --config config.json --catalog catalog.json`. Saving
    `discover`'s output as catalog.json got "invalid catalog: no 'streams' list"."""
    config = tmp_path / "config.json"
    config.write_text(
        json.dumps(
            {
                "api_key": emulator_server.api_key,
                "start_date": "2024-01-01T00:00:00Z",
                "base_url": emulator_server.base_url,
            }
        ),
        encoding="utf-8",
    )
    discover = CliRunner().invoke(app, ["airbyte", "discover", "--config", str(config)])
    assert discover.exit_code == 0, discover.output
    catalog = tmp_path / "catalog.json"
    catalog.write_text(discover.stdout, encoding="utf-8")
    bare = tmp_path / "bare.json"
    bare.write_text(json.dumps(json.loads(discover.stdout)["catalog"]), encoding="utf-8")
    for path, problem in [
        (catalog, "this is the CATALOG message `discover` prints, not a configured catalog"),
        (bare, "streams[0] is a stream of a catalog, not a configured stream"),
    ]:
        args = ["airbyte", "read", "--config", str(config), "--catalog", str(path)]
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 1, result.output
        error = json.loads(result.stdout.splitlines()[-1])["trace"]["error"]
        assert error["failure_type"] == "config_error"
        assert problem in error["message"]
        assert '--catalog wants a configured catalog: {"streams": [{"stream":' in error["message"]


def test_the_sample_warehouse_is_rebuilt_after_a_run_wrote_sync_logs_into_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, emulator_server: Any
) -> None:
    """src/mogulsync/examples/mogulsync.yml turns on `sync_logs`, which writes
    `mogulsync.sync_log` into
    the sample warehouse; rebuilding the sample then said it "is not a sample warehouse"."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CHARTMOGUL_API_KEY", emulator_server.api_key)
    runner = CliRunner()
    assert runner.invoke(app, ["init", "--base-url", emulator_server.base_url]).exit_code == 0
    project = tmp_path / "mogulsync.yml"
    project.write_text(
        project.read_text(encoding="utf-8") + "\nsync_logs: {enabled: true}\n", encoding="utf-8"
    )
    sample_warehouse.main([])
    run = runner.invoke(app, ["sync", "run", "customers"])
    assert run.exit_code == 0, run.output
    warehouse = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(warehouse), read_only=True) as db:
        logged = db.execute("SELECT count(*) FROM mogulsync.sync_log").fetchone()
    assert logged == (sample_warehouse.ACCOUNTS,)
    sample_warehouse.main([])  # still the sample: rebuilt without --force
    with duckdb.connect(str(warehouse), read_only=True) as db:
        schemas = db.execute("SELECT DISTINCT table_schema FROM information_schema.tables")
        assert schemas.fetchall() == [("main",)]


def test_schedule_says_which_next_runs_no_server_has_planned_yet(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before `serve` ever ran, `mogulsync schedule` showed an `every` job's next run as
    now + interval: a time that moved on each call, to the microsecond. A time the server
    saved is shown as it is; one no server planned says so."""
    from mogulsync.config import load_config
    from mogulsync.serve.schedule import jobs_of
    from mogulsync.serve.scheduler import JobState, ScheduleStore

    config = {
        "chartmogul": {"api_key": "${CM_KEY}"},
        "warehouses": {"main": "duckdb:///w.duckdb"},
        "models": {"m": {"warehouse": "main", "table": "t", "primary_key": "id"}},
        "syncs": {
            "customers": {"model": "m", "object": "customer", "schedule": {"every": "15m"}},
            "plans": {"model": "m", "object": "plan", "schedule": {"every": "1h"}},
        },
    }
    (tmp_path / "mogulsync.yml").write_text(json.dumps(config), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CM_KEY", "k" * 20)
    monkeypatch.setenv("COLUMNS", "200")
    project = load_config(tmp_path / "mogulsync.yml")
    saved = dt.datetime(2031, 1, 1, 6, 0, 0, 123456, tzinfo=dt.UTC)
    store = ScheduleStore(project.state_dir)
    try:
        (plans,) = [job for job in jobs_of(project) if job.name == "plans"]
        store.save(JobState(job=plans, next_due=saved))
    finally:
        store.close()
    table = CliRunner().invoke(app, ["schedule"])
    assert table.exit_code == 0, table.output
    lines = {line.split()[0]: line for line in table.output.splitlines()}
    assert lines["plans"].split()[1:] == ["every", "1h", "2031-01-01T06:00:00+00:00"]
    assert lines["customers"].endswith("+00:00 (if serve started now)"), lines["customers"]
    as_json = CliRunner().invoke(app, ["schedule", "--json"])
    jobs = {job["name"]: job for job in json.loads(as_json.stdout)["jobs"]}
    assert jobs["plans"]["next_run_at"] == saved.isoformat()  # JSON keeps its precision
    # the JSON says which times no server planned yet, as the table does
    assert (jobs["plans"]["planned"], jobs["customers"]["planned"]) == (True, False)


def test_reconcile_record_names_the_run_it_recorded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, emulator_server: Any
) -> None:
    """docs/reconcile.md: `reconcile NAME --record` records a run, but printed nothing to
    find it by."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CHARTMOGUL_API_KEY", emulator_server.api_key)
    monkeypatch.setenv("COLUMNS", "300")
    runner = CliRunner()
    assert runner.invoke(app, ["init", "--base-url", emulator_server.base_url]).exit_code == 0
    sample_warehouse.main([])
    result = runner.invoke(app, ["reconcile", "customers", "--record"])
    assert result.exit_code == 3, result.output  # nothing synced yet: all missing
    listed = runner.invoke(app, ["runs", "list", "--sync", "reconcile:customers", "--json"])
    run_id = json.loads(listed.stdout.splitlines()[0])["run_id"]
    assert (
        f"Recorded as run {run_id} of reconcile:customers (`mogulsync runs show {run_id}`)."
        in result.stdout
    )
    plain = runner.invoke(app, ["reconcile", "customers"])
    assert "Recorded as run" not in plain.stdout


def test_the_readme_quick_start_runs_as_written_and_again(
    emulator_server: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """The README's first Python sample, against the emulator of its `emulator serve` line.
    Its second run failed with AlreadyExistsError (the data source was created each time)."""
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    sample = readme.split("```python\n", 1)[1].split("```", 1)[0]
    assert 'base_url="http://127.0.0.1:8780"' in sample
    code = sample.replace("http://127.0.0.1:8780", emulator_server.base_url)
    for _ in range(2):
        exec(compile(code, "README.md", "exec"), {"__name__": "readme"})
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2, lines  # one customer, listed by each run
    assert lines[0] == lines[1]
    assert lines[0].split()[1:] == ["Acme", "New", "Lead"]


def test_init_in_a_folder_prints_commands_that_work_as_printed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, emulator_server: Any
) -> None:
    """`mogulsync init -c sub/mogulsync.yml`: the next steps it prints (build the sample
    warehouse next to the file, `check -c`) work as printed. It said "edit its models and
    syncs" first, though the starter's model already fits the sample warehouse."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CHARTMOGUL_API_KEY", emulator_server.api_key)
    runner = CliRunner()
    init = runner.invoke(
        app, ["init", "-c", "sub/mogulsync.yml", "--base-url", emulator_server.base_url]
    )
    assert init.exit_code == 0, init.output
    build = "python -m mogulsync.sample_warehouse sub/warehouse.duckdb"
    assert f"its model reads the sample warehouse (`{build}` writes it)" in init.output
    assert "run `mogulsync check -c sub/mogulsync.yml`, then edit its models" in init.output
    sample_warehouse.main(build.split()[3:])
    check = runner.invoke(app, ["check", "-c", "sub/mogulsync.yml"])
    assert check.exit_code == 0, check.output
    other = runner.invoke(app, ["init", "-c", "pg.yml", "--warehouse", "postgresql://u@h/db"])
    assert "then edit its models and syncs and run `mogulsync check -c pg.yml`" in other.output


def test_a_rejected_key_names_the_url_that_rejected_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, emulator_server: Any
) -> None:
    """A 401 said only "check chartmogul.api_key": with the emulator's key sent to
    ChartMogul (or a real key to the emulator) the key is fine and the URL is wrong."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CHARTMOGUL_API_KEY", "not-this-emulators-key")
    monkeypatch.setenv("COLUMNS", "300")
    runner = CliRunner()
    assert runner.invoke(app, ["init", "--base-url", emulator_server.base_url]).exit_code == 0
    sample_warehouse.main([])
    run = runner.invoke(app, ["sync", "run", "customers"])
    assert run.exit_code == 4, run.output
    said = f"The ChartMogul API key was rejected at {emulator_server.base_url};"
    assert said in " ".join(run.output.split())
    assert "and chartmogul.base_url." in run.output
    assert "not-this-emulators-key" not in run.output


def test_make_serve_on_a_taken_port_says_how_to_pick_another(
    dead_port: int, capfd: pytest.CaptureFixture[str]
) -> None:
    """README: `make serve` serves on 8800. With the port taken, the server's own advice
    (`choose another with --port`) cannot be followed through make: the demo says how."""
    from mogulsync.serve import demo

    demo.main(["--port", str(dead_port)])  # returns once the server refused the port
    err = capfd.readouterr().err
    assert f"cannot listen on 127.0.0.1:{dead_port}" in err
    assert f"`make serve` could not serve on {dead_port}; another port:" in err
    assert "make serve SERVE_PORT=8801" in err
    assert "python -m mogulsync.serve.demo --port 8801" in err  # a pip install has no make


def test_a_missing_sample_warehouse_says_how_to_build_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, emulator_server: Any
) -> None:
    """`init` then `sync plan` before building the sample: the error named the missing file
    and said to check the URL, not that the sample builder writes it."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CHARTMOGUL_API_KEY", emulator_server.api_key)
    monkeypatch.setenv("COLUMNS", "300")
    runner = CliRunner()
    assert runner.invoke(app, ["init", "--base-url", emulator_server.base_url]).exit_code == 0
    plan = runner.invoke(app, ["sync", "plan", "customers"])
    assert plan.exit_code != 0
    build = f"python -m mogulsync.sample_warehouse {tmp_path / 'warehouse.duckdb'}"
    assert f"The sample: {build}" in " ".join(plan.output.split())
    sample_warehouse.main(build.split()[3:])  # as printed
    assert runner.invoke(app, ["sync", "plan", "customers"]).exit_code == 0
    other = runner.invoke(
        app, ["init", "-c", "o.yml", "--warehouse", "duckdb:///mine.duckdb", "--force"]
    )
    assert other.exit_code == 0
    elsewhere = runner.invoke(app, ["sync", "plan", "customers", "-c", "o.yml"])
    assert "mine.duckdb does not exist" in " ".join(elsewhere.output.split())
    assert "The sample:" not in elsewhere.output


def test_a_missing_duckdb_file_is_the_configuration_to_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, emulator_server: Any
) -> None:
    """docs/errors.md: exit 4 when the configuration must be fixed. A DuckDB warehouse file
    that does not exist ("Check the URL of warehouses.main") exited 1, as an outage would,
    from `sync plan`, `sync run` and `reconcile`; a missing table already exited 4."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CHARTMOGUL_API_KEY", emulator_server.api_key)
    runner = CliRunner()
    assert runner.invoke(app, ["init", "--base-url", emulator_server.base_url]).exit_code == 0
    for args in (["sync", "plan", "customers"], ["sync", "run", "--all"]):
        result = runner.invoke(app, args)
        assert result.exit_code == exit_codes.CONFIG, result.output
        assert "warehouse.duckdb does not exist" in " ".join(result.output.split())
    reconcile = runner.invoke(app, ["reconcile", "customers"])
    assert reconcile.exit_code == exit_codes.CONFIG, reconcile.output
    listed = runner.invoke(app, ["runs", "list", "--json"])
    assert [json.loads(line)["status"] for line in listed.stdout.splitlines()] == ["failed"]


def test_the_client_page_usage_sample_runs_as_written_and_again(
    emulator_server: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """docs/client.md's Usage sample, against the emulator it names. Its second run failed
    with AlreadyExistsError: it created customer acct-42 each time."""
    page = (Path(__file__).parents[2] / "docs" / "client.md").read_text(encoding="utf-8")
    sample = page.split("```python\n", 1)[1].split("```", 1)[0]
    assert 'base_url="http://127.0.0.1:8780"' in sample
    code = sample.replace("http://127.0.0.1:8780", emulator_server.base_url)
    for _ in range(2):
        exec(compile(code, "client.md", "exec"), {"__name__": "client_md"})
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2, lines  # one customer, listed by each run
    assert lines[0] == lines[1]
    assert lines[0].split()[1] == "acct-42"


def test_the_lean_airbyte_entry_point_answers_h_and_names_itself() -> None:
    """docs/extract.md: `python -m mogulsync.extract read --config ...`, "same commands".
    Its help said `Usage: mogulsync-airbyte` (no such command), refused `-h` (README: every
    command answers `-h`) and offered shell-completion options in boxes `mogulsync airbyte`
    does not have."""
    from click.testing import CliRunner as ClickRunner  # a click command, not a Typer app

    from mogulsync.extract.__main__ import PROG_NAME, command

    runner = ClickRunner()
    for args in (["-h"], ["read", "-h"], ["--help"]):
        result = runner.invoke(command(), args, prog_name=PROG_NAME)
        assert result.exit_code == 0, result.output
        assert result.output.startswith("Usage: python -m mogulsync.extract"), result.output
        assert "mogulsync-airbyte" not in result.output
        assert "--install-completion" not in result.output
        assert "╭" not in result.output
    typo = runner.invoke(command(), ["reed"], prog_name=PROG_NAME)
    assert typo.exit_code == exit_codes.USAGE
    assert "Try 'python -m mogulsync.extract -h' for help." in typo.output


def test_events_commands_without_an_events_section_are_the_configuration_to_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """src/mogulsync/examples/mogulsync.yml has no `events:`. `events serve` exits 4 for
    that ("Add a
    write key under events.write_keys"); `events status` and `events dead-letter list`
    said the same in their hint but exited 1."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CHARTMOGUL_API_KEY", "k" * 20)
    (tmp_path / "mogulsync.yml").write_text("chartmogul: {api_key: '${CHARTMOGUL_API_KEY}'}\n")
    runner = CliRunner()
    for args in (["events", "status"], ["events", "dead-letter", "list"], ["events", "serve"]):
        result = runner.invoke(app, args)
        assert result.exit_code == exit_codes.CONFIG, (args, result.output)
    monkeypatch.setenv("SEGMENT_WRITE_KEY", "w" * 20)
    (tmp_path / "mogulsync.yml").write_text(
        "chartmogul: {api_key: '${CHARTMOGUL_API_KEY}'}\n"
        "events: {write_keys: ['${SEGMENT_WRITE_KEY}']}\n"
    )
    status = runner.invoke(app, ["events", "status"])  # configured, never served: no queue
    assert status.exit_code == exit_codes.FAILED, status.output
    assert "Run `mogulsync events serve`." in status.output


def test_schedule_lists_the_jobs_without_the_project_s_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`mogulsync schedule` calls nothing and uses no secret, yet it refused to list the
    jobs until the API key, the events' write keys and serve's tokens were all exported
    (docs/configuration.md: a command checks only the sections it reads, as `runs list`)."""
    monkeypatch.chdir(tmp_path)
    for name in ("CHARTMOGUL_API_KEY", "SEGMENT_WRITE_KEY", "OPERATOR_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    project = {
        "chartmogul": {"api_key": "${CHARTMOGUL_API_KEY}"},
        "warehouses": {"main": "duckdb:///w.duckdb"},
        "models": {"accounts": {"warehouse": "main", "table": "accounts", "primary_key": "id"}},
        "syncs": {
            "customers": {"model": "accounts", "object": "customer", "schedule": {"every": "15m"}}
        },
        "events": {"write_keys": ["${SEGMENT_WRITE_KEY}"]},
        "serve": {"tokens": [{"token": "${OPERATOR_TOKEN}", "role": "operator"}]},
    }
    (tmp_path / "mogulsync.yml").write_text(json.dumps(project))  # JSON is YAML
    result = CliRunner().invoke(app, ["schedule", "--json"])
    assert result.exit_code == 0, result.output
    assert [job["name"] for job in json.loads(result.stdout)["jobs"]] == ["customers"]
    served = CliRunner().invoke(app, ["serve"])  # serve reads every section: all needed
    assert served.exit_code == exit_codes.CONFIG
    assert "OPERATOR_TOKEN is not set" in served.output


def test_the_sample_warehouse_help_says_where_it_writes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """README: "writes ./warehouse.duckdb"; its `-h` said only "path: file to write"."""
    with pytest.raises(SystemExit):
        sample_warehouse.main(["-h"])
    assert "default: warehouse.duckdb, in the current directory" in " ".join(
        capsys.readouterr().out.split()
    )

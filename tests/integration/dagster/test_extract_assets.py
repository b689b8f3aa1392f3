"""The extract in Dagster: an asset per table, all made by one step (one extract run)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg
import duckdb
import pytest
import yaml
from tests.integration.dagster.test_options import project_file
from tests.integration.extract._runs import import_more

from mogulsync.emulator.server import EmulatorServer
from mogulsync.extract.streams import STREAMS
from mogulsync.integrations._dagster_extract import table_keys
from mogulsync.integrations.dagster import (
    MogulsyncResource,
    mogulsync_assets,
    mogulsync_extract_assets,
)
from mogulsync.integrations.dbt import SourceTable

CHOSEN = ["customers", "plans", "activities"]
KEYS = {name: dg.AssetKey(f"dlt_chartmogul_{name}") for name in CHOSEN}


def _project(root: Path, base_url: str, streams: list[str] | None = CHOSEN) -> Path:
    raw = {
        "chartmogul": {"api_key": "${CM_KEY}", "base_url": base_url},
        "state_dir": str(root / "state"),
        "extract": {"destination": f"duckdb:///{root / 'cm.duckdb'}", "streams": streams},
    }
    path = root / "mogulsync.yml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


def _rows(root: Path, table: str) -> int:
    with duckdb.connect(str(root / "cm.duckdb"), read_only=True) as db:
        (count,) = db.execute(f"select count(*) from chartmogul.{table}").fetchone() or (0,)
    return int(count)


def _materialize(
    assets: list[dg.AssetsDefinition], selection: list[dg.AssetKey] | None = None
) -> dg.ExecuteInProcessResult:
    with dg.instance_for_test() as instance:
        return dg.materialize(assets, instance=instance, selection=selection, raise_on_error=False)


def test_an_asset_per_table_of_one_multi_asset(tmp_path, monkeypatch):
    """Keys, descriptions, group and kinds per chosen stream; no secret needed to load."""
    monkeypatch.delenv("CM_KEY", raising=False)
    path = _project(tmp_path, "http://chartmogul.invalid")
    (extract,) = mogulsync_extract_assets(path)
    assert set(extract.keys) == set(KEYS.values())
    assert extract.op.name == "mogulsync_extract"  # one step makes them all
    specs = {spec.key: spec for spec in extract.specs}
    customers = specs[KEYS["customers"]]
    assert customers.description.startswith("ChartMogul customers (Customers with tags")
    assert customers.metadata["dagster/table_name"] == "chartmogul.customers"
    assert {spec.group_name for spec in specs.values()} == {"mogulsync"}
    assert customers.kinds == {"dlt", "duckdb"}

    # every stream when the project names none; narrowed by streams=
    (every,) = mogulsync_extract_assets(_project(tmp_path, "http://chartmogul.invalid", None))
    assert {key.path[-1] for key in every.keys} == {f"dlt_chartmogul_{name}" for name in STREAMS}
    (narrow,) = mogulsync_extract_assets(path, streams=["customer_count"])
    assert set(narrow.keys) == {dg.AssetKey("dlt_chartmogul_customer_count")}


def test_key_prefix_places_the_tables_and_names_the_step(tmp_path):
    path = _project(tmp_path, "http://chartmogul.invalid")
    (prefixed,) = mogulsync_extract_assets(path, key_prefix=["raw", "chartmogul"])
    assert set(prefixed.keys) == {dg.AssetKey(["raw", "chartmogul", name]) for name in CHOSEN}
    assert prefixed.op.name == "mogulsync_extract_raw_chartmogul"
    # two projects' extracts (say two accounts) in one code location
    (default,) = mogulsync_extract_assets(path)
    dg.Definitions.validate_loadable(dg.Definitions(assets=[default, prefixed]))
    with pytest.raises(ValueError, match="key_prefix must name at least one non-empty part"):
        mogulsync_extract_assets(path, key_prefix=[])


def test_one_run_materializes_each_table_with_its_counts(tmp_path, monkeypatch, emulator_server):
    """One step, one extract run; per table the records this run loaded and the rows the
    table holds; the second run is incremental for activities. Only the merged table is
    counted in the destination: a replaced one holds what the run loaded."""
    from mogulsync.integrations import _dagster_extract

    counted: list[list[str]] = []
    count = _dagster_extract.table_rows

    def counting(options, tables):
        counted.append(list(tables))
        return count(options, tables)

    monkeypatch.setattr(_dagster_extract, "table_rows", counting)
    server: EmulatorServer = emulator_server
    import_more(server, "a", 5, dt.date(2024, 1, 1), new_source=True)
    monkeypatch.setenv("CM_KEY", server.api_key)
    path = _project(tmp_path, server.base_url)
    (extract,) = mogulsync_extract_assets(path)

    first = _materialize([extract])
    assert first.success
    assert {e.step_key for e in first.all_events if e.step_key} == {"mogulsync_extract"}
    loaded = {
        e.asset_key: e.materialization.metadata for e in first.get_asset_materialization_events()
    }
    assert set(loaded) == set(KEYS.values())
    for name, key in KEYS.items():
        assert loaded[key]["dagster/row_count"].value == _rows(tmp_path, name) > 0
        assert loaded[key]["rows_loaded"].value == _rows(tmp_path, name)
        assert loaded[key]["dagster/table_name"].value == f"chartmogul.{name}"
    assert loaded[KEYS["customers"]]["rows_loaded"].value == 5
    activities_before = _rows(tmp_path, "activities")

    import_more(server, "b", 2, dt.date(2024, 3, 1))
    second = _materialize([extract])
    again = {
        e.asset_key: e.materialization.metadata for e in second.get_asset_materialization_events()
    }
    assert again[KEYS["customers"]]["rows_loaded"].value == 7  # replaced whole
    assert again[KEYS["customers"]]["dagster/row_count"].value == 7
    activities = again[KEYS["activities"]]
    # merged from the cursor on: fewer records than the table now holds
    assert activities["dagster/row_count"].value == _rows(tmp_path, "activities")
    assert activities["dagster/row_count"].value > activities_before
    assert activities["rows_loaded"].value < activities["dagster/row_count"].value
    assert counted == [["activities"], ["activities"]]  # one query a run


def test_a_subset_runs_only_its_streams(tmp_path, monkeypatch, emulator_server):
    """Selecting one table's asset extracts that stream alone."""
    server: EmulatorServer = emulator_server
    import_more(server, "a", 3, dt.date(2024, 1, 1), new_source=True)
    monkeypatch.setenv("CM_KEY", server.api_key)
    (extract,) = mogulsync_extract_assets(_project(tmp_path, server.base_url))
    result = _materialize([extract], selection=[KEYS["plans"]])
    assert result.success
    (event,) = result.get_asset_materialization_events()
    assert event.asset_key == KEYS["plans"]
    with duckdb.connect(str(tmp_path / "cm.duckdb"), read_only=True) as db:
        listed = (
            "select table_name from information_schema.tables where table_schema = 'chartmogul'"
        )
        tables = {row[0] for row in db.execute(listed).fetchall()}
    assert "plans" in tables
    assert not tables & {"customers", "activities"}


def test_a_failed_extract_fails_the_step_with_its_message(tmp_path, monkeypatch, dead_url):
    """ChartMogul unreachable: dagster.Failure with mogulsync's message, no key in it; an
    unset API key is a configuration problem, not retried."""
    monkeypatch.setenv("CM_KEY", "secret-key-for-this-test")
    path = _project(tmp_path, dead_url)
    (extract,) = mogulsync_extract_assets(path)
    result = _materialize([extract])
    assert not result.success
    (failure,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    user = failure.step_failure_data.user_failure_data
    assert user.description.startswith("the extract did not complete: ")
    assert "secret-key-for-this-test" not in str(result.all_events)

    monkeypatch.delenv("CM_KEY")
    unset = _materialize([extract])
    (failure,) = [e for e in unset.all_events if e.event_type_value == "STEP_FAILURE"]
    assert "CM_KEY" in failure.step_failure_data.user_failure_data.description
    assert (
        failure.step_failure_data.user_failure_data.metadata["error"].value
        == "ConfigValidationError"
    )


def test_dbt_sources_give_their_keys_and_clashes_are_named():
    """A table a dbt source reads takes its key; a table two keys, or two tables one key,
    is refused with the fix."""
    streams = [STREAMS[name] for name in ("customers", "plans", "invoices")]
    customers = SourceTable("chartmogul.customers", ("chartmogul", "customers"))
    keys = table_keys(streams, {"customers": [customers]}, None)
    assert keys == {
        "customers": dg.AssetKey(["chartmogul", "customers"]),
        "plans": dg.AssetKey("dlt_chartmogul_plans"),
        "invoices": dg.AssetKey("dlt_chartmogul_invoices"),
    }
    assert table_keys(streams, {}, "cm")["plans"] == dg.AssetKey(["cm", "plans"])

    other = SourceTable("raw.customers", ("raw", "customers"))
    with pytest.raises(ValueError, match=r"customers is read by dbt sources with different"):
        table_keys(streams, {"customers": [customers, other]}, None)
    # earlier versions keyed every source table as the one extract asset
    old = ("dlt_chartmogul_streams",)
    shared = {
        "customers": [SourceTable("chartmogul.customers", old)],
        "plans": [SourceTable("chartmogul.plans", old)],
    }
    with pytest.raises(ValueError, match=r"customers, plans would all be asset dlt_chartmogul_s"):
        table_keys(streams, shared, None)


def test_a_count_that_fails_leaves_the_materialization(tmp_path, monkeypatch, emulator_server):
    """The load committed: a failing row count is a warning naming no URL, not a failure."""
    from mogulsync.integrations import _dagster_extract

    def refused(*_args: object) -> dict[str, int]:
        msg = "connection to postgresql://etl:hunter2@db/x refused"
        raise RuntimeError(msg)

    server: EmulatorServer = emulator_server
    monkeypatch.setenv("CM_KEY", server.api_key)
    monkeypatch.setattr(_dagster_extract, "table_rows", refused)
    path = _project(tmp_path, server.base_url, ["plans", "activities"])
    (extract,) = mogulsync_extract_assets(path)
    with dg.instance_for_test() as instance:
        result = dg.materialize([extract], instance=instance)
        logged = [entry.user_message for entry in instance.all_logs(result.run_id)]
    events = {
        e.asset_key: e.materialization.metadata for e in result.get_asset_materialization_events()
    }
    # the merged table's count failed; the replaced one's is the run's own
    assert "dagster/row_count" not in events[KEYS["activities"]]
    assert events[KEYS["activities"]]["rows_loaded"].value == 0
    assert events[KEYS["plans"]]["dagster/row_count"].value == 0
    assert "row counts unavailable: RuntimeError" in logged
    assert not [message for message in logged if "hunter2" in message]


@pytest.mark.postgres
def test_into_postgres_the_password_is_read_at_run_time_and_shown_nowhere(
    tmp_path, monkeypatch, emulator_server, postgres_server
):
    """A ${VAR} password in the destination: unset when the definitions load; set, the
    step loads into PostgreSQL, counts there, and no event or log line quotes it."""
    import psycopg

    server: EmulatorServer = emulator_server
    import_more(server, "a", 3, dt.date(2024, 1, 1), new_source=True)
    path = _project(tmp_path, server.base_url, ["customers"])
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    # trust authentication on loopback: any password is accepted, so it is only a secret to keep
    user_at = postgres_server.dsn.replace("postgresql://", "").split("@")
    raw["extract"]["destination"] = f"postgresql://{user_at[0]}:${{PG_PW}}@{user_at[1]}"
    raw["extract"]["dataset"] = "cm_dagster"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    monkeypatch.delenv("CM_KEY", raising=False)
    monkeypatch.delenv("PG_PW", raising=False)
    (extract,) = mogulsync_extract_assets(path)
    key = dg.AssetKey("dlt_chartmogul_customers")
    assert extract.specs_by_key[key].kinds == {"dlt", "postgres"}

    monkeypatch.setenv("CM_KEY", server.api_key)
    monkeypatch.setenv("PG_PW", "pg-secret-4711")
    with dg.instance_for_test() as instance:
        result = dg.materialize([extract], instance=instance)
        logged = " ".join(entry.user_message for entry in instance.all_logs(result.run_id))
    (event,) = result.get_asset_materialization_events()
    with psycopg.connect(postgres_server.dsn) as db:
        (held,) = db.execute("select count(*) from cm_dagster.customers").fetchone() or (0,)
    assert event.materialization.metadata["dagster/row_count"].value == held == 3
    assert event.materialization.metadata["dagster/table_name"].value == "cm_dagster.customers"
    assert "pg-secret-4711" not in logged
    assert "pg-secret-4711" not in str(result.all_events)


def test_the_resource_gives_the_extract_its_key_and_base_url(
    tmp_path, monkeypatch, emulator_server
):
    """MogulsyncResource(api_key=EnvVar, base_url=...) applies to the extract as to the
    syncs: the project's ${CM_KEY} unset and its base URL a closed port, the run lands; the
    syncs and the extract of one project share the resource in one code location."""
    server: EmulatorServer = emulator_server
    import_more(server, "a", 2, dt.date(2024, 1, 1), new_source=True)
    path = _project(tmp_path, "http://chartmogul.invalid", ["customers"])
    monkeypatch.delenv("CM_KEY", raising=False)
    monkeypatch.setenv("DAGSTER_CM_KEY", server.api_key)
    keyed = MogulsyncResource(
        project_file=str(path), base_url=server.base_url, api_key=dg.EnvVar("DAGSTER_CM_KEY")
    )
    (extract,) = mogulsync_extract_assets(path, resource=keyed)
    result = _materialize([extract])
    assert result.success
    (event,) = result.get_asset_materialization_events()
    assert event.materialization.metadata["rows_loaded"].value == 2
    assert server.api_key not in str(result.all_events)

    (tmp_path / "both").mkdir()
    both = project_file(tmp_path / "both", "http://chartmogul.invalid")
    defs = dg.Definitions(assets=[*mogulsync_assets(both), *mogulsync_extract_assets(both)])
    dg.Definitions.validate_loadable(defs)

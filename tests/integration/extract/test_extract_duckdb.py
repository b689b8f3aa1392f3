"""Every stream into DuckDB: counts, snake_case columns, nested data kept queryable."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from tests.integration.extract._seed import Seeded, client_settings

from mogulsync.emulator.server import EmulatorServer
from mogulsync.extract.runner import ExtractMode, ExtractOptions, ExtractReport, run_extract
from mogulsync.extract.streams import STREAMS


@pytest.fixture(scope="module")
def loaded(
    seeded: tuple[EmulatorServer, Seeded], tmp_path_factory: pytest.TempPathFactory
) -> tuple[ExtractReport, Path, Seeded]:
    """One overwrite run of every stream into a fresh DuckDB file."""
    server, data = seeded
    root = tmp_path_factory.mktemp("duckdb")
    options = ExtractOptions(
        destination=f"duckdb:///{root}/cm.duckdb", mode="overwrite", state_dir=root / "state"
    )
    with pytest.MonkeyPatch.context() as env:
        # dlt keeps the loaded files when told so: test_duckdb_loads_json_lines_files reads them
        env.setenv("LOAD__DELETE_COMPLETED_JOBS", "false")
        report = run_extract(client_settings(server.base_url, server.api_key), options)
    return report, root / "cm.duckdb", data


def _count(path: Path, table: str) -> int:
    with duckdb.connect(str(path), read_only=True) as con:
        (total,) = con.execute(f"SELECT count(*) FROM chartmogul.{table}").fetchone()  # type: ignore[misc]
        return int(total)


def test_every_stream_is_reported(loaded: tuple[ExtractReport, Path, Seeded]) -> None:
    """The report lists every stream with the number of records read."""
    report, _, data = loaded
    counts = {stream.name: stream.records for stream in report.streams}
    assert set(counts) == set(STREAMS)
    assert counts["customers"] == data.customers
    assert counts["activities"] == data.customers  # one new_biz per customer
    assert counts["invoices"] == data.customers
    assert counts["subscriptions"] == data.customers
    assert counts["plans"] == data.plans
    assert counts["contacts"] == data.contacts
    assert counts["subscription_events"] == data.events
    assert counts["plan_groups"] == data.plan_groups
    assert counts["data_sources"] == len(data.data_sources)
    assert counts["account"] == 1
    assert counts["metrics"] > 0
    assert counts["customer_count"] == counts["metrics"]


def test_tables_hold_every_record(loaded: tuple[ExtractReport, Path, Seeded]) -> None:
    """Each stream's table holds as many rows as the run read (metrics and account too)."""
    report, path, _ = loaded
    for stream in report.streams:
        assert _count(path, stream.name) == stream.records, stream.name


#: table, its identifier column, the emulator's kind and the body field holding that id
HELD_BY_THE_EMULATOR = [
    ("customers", "uuid", "customer", "uuid"),
    ("invoices", "uuid", "invoice", "uuid"),
    ("plans", "uuid", "plan", "uuid"),
    ("contacts", "uuid", "contact", "uuid"),
    ("plan_groups", "uuid", "plan_group", "uuid"),
    ("data_sources", "uuid", "data_source", "uuid"),
    ("subscription_events", "id", "subscription_event", "id"),
    ("subscriptions", "external_id", "subscription", "external_id"),
    # every seeded subscription starts once: one new_biz activity each
    ("activities", "subscription_external_id", "subscription", "external_id"),
]


def _column(path: Path, table: str, column: str) -> list[object]:
    with duckdb.connect(str(path), read_only=True) as con:
        return [
            row[0] for row in con.execute(f"SELECT {column} FROM chartmogul.{table}").fetchall()
        ]


@pytest.mark.parametrize(("table", "column", "kind", "field"), HELD_BY_THE_EMULATOR)
def test_tables_hold_what_the_emulator_holds(
    seeded: tuple[EmulatorServer, Seeded],
    loaded: tuple[ExtractReport, Path, Seeded],
    table: str,
    column: str,
    kind: str,
    field: str,
) -> None:
    """Each table holds every object the emulator stores, once (pagination lost nothing).

    The expectation is read from the emulator's own store, not from the extract's report.
    """
    server, _ = seeded
    report, path, _ = loaded
    held = [row.body[field] for row in server.emulator.store.iter_kind(kind)]
    loaded_ids = _column(path, table, column)
    assert held, kind
    assert sorted(loaded_ids) == sorted(held)
    assert len(set(loaded_ids)) == len(loaded_ids)
    assert {s.name: s.records for s in report.streams}[table] == len(held)


def test_hyphenated_keys_become_snake_case_columns(
    loaded: tuple[ExtractReport, Path, Seeded],
) -> None:
    """`activity-mrr`, `customer-uuid` and `customer-since` load as snake_case columns."""
    _, path, _ = loaded
    with duckdb.connect(str(path), read_only=True) as con:
        activity = {row[0] for row in con.execute("DESCRIBE chartmogul.activities").fetchall()}
        customer = {row[0] for row in con.execute("DESCRIBE chartmogul.customers").fetchall()}
        (mrr_total,) = con.execute(  # type: ignore[misc]
            "SELECT sum(activity_mrr_movement) FROM chartmogul.activities"
        ).fetchone()
    assert {"activity_mrr", "activity_mrr_movement", "customer_uuid", "plan_external_id"} <= (
        activity
    )
    assert {"customer_since", "billing_system_type", "currency_sign"} <= customer
    assert not any("-" in column for column in activity | customer)
    assert mrr_total > 0


def test_tags_and_custom_attributes_are_queryable(
    loaded: tuple[ExtractReport, Path, Seeded],
) -> None:
    """Tags land in a child table, custom attributes in typed columns, joinable by customer."""
    _, path, data = loaded
    with duckdb.connect(str(path), read_only=True) as con:
        (tagged,) = con.execute(  # type: ignore[misc]
            "SELECT count(DISTINCT c.uuid) FROM chartmogul.customers c "
            "JOIN chartmogul.customers__attributes__tags t ON t._dlt_parent_id = c._dlt_id "
            "WHERE t.value = 'seeded'"
        ).fetchone()
        (seats,) = con.execute(  # type: ignore[misc]
            "SELECT sum(attributes__custom__seats) FROM chartmogul.customers"
        ).fetchone()
    assert tagged == data.customers
    assert seats == sum(index % 7 + 1 for index in range(data.customers // 2)) * 2


def test_invoice_children_are_tables(loaded: tuple[ExtractReport, Path, Seeded]) -> None:
    """Line items and transactions of invoices become child tables linked to the invoice."""
    _, path, data = loaded
    assert _count(path, "invoices__line_items") == data.customers
    assert _count(path, "invoices__transactions") == data.customers
    with duckdb.connect(str(path), read_only=True) as con:
        (orphans,) = con.execute(  # type: ignore[misc]
            "SELECT count(*) FROM chartmogul.invoices__line_items li "
            "LEFT JOIN chartmogul.invoices i ON li._dlt_parent_id = i._dlt_id WHERE i.uuid IS NULL"
        ).fetchone()
    assert orphans == 0


def test_stream_selection_loads_only_those(
    seeded: tuple[EmulatorServer, Seeded], tmp_path: Path
) -> None:
    """Choosing streams extracts and loads only them."""
    server, data = seeded
    options = ExtractOptions(
        destination=f"duckdb:///{tmp_path}/few.duckdb",
        streams=("plans", "data_sources"),
        state_dir=tmp_path / "state",
    )
    report = run_extract(client_settings(server.base_url, server.api_key), options)
    assert {s.name: s.records for s in report.streams} == {
        "data_sources": len(data.data_sources),
        "plans": data.plans,
    }
    with duckdb.connect(f"{tmp_path}/few.duckdb", read_only=True) as con:
        tables = {
            row[0]
            for row in con.execute(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = 'chartmogul' AND table_name NOT LIKE '_dlt%'"
            ).fetchall()
        }
    assert tables == {"plans", "data_sources"}


def _run_all(server: EmulatorServer, root: Path, mode: ExtractMode) -> ExtractReport:
    options = ExtractOptions(
        destination=f"duckdb:///{root}/modes.duckdb", mode=mode, state_dir=root / "state"
    )
    return run_extract(client_settings(server.base_url, server.api_key), options)


@pytest.mark.parametrize(("mode", "factor"), [("overwrite", 1), ("append", 2)])
def test_full_refresh_modes_for_every_stream(
    seeded: tuple[EmulatorServer, Seeded], tmp_path: Path, mode: ExtractMode, factor: int
) -> None:
    """Run twice: overwrite leaves each table as one copy, append holds two, for every stream."""
    server, _ = seeded
    first = _run_all(server, tmp_path, mode)
    second = _run_all(server, tmp_path, mode)
    counts = {stream.name: stream.records for stream in first.streams}
    assert counts == {stream.name: stream.records for stream in second.streams}
    assert all(counts.values()), counts  # every stream has rows, so the check means something
    with duckdb.connect(f"{tmp_path}/modes.duckdb", read_only=True) as con:
        for name, records in counts.items():
            (rows,) = con.execute(f"SELECT count(*) FROM chartmogul.{name}").fetchone()  # type: ignore[misc]
            assert rows == factor * records, name


def test_overwrite_empties_a_table_whose_list_became_empty(
    seeded: tuple[EmulatorServer, Seeded], emulator_server: EmulatorServer, tmp_path: Path
) -> None:
    """An overwrite run that reads no rows for a stream leaves its table (and children) empty."""
    server, _ = seeded
    streams = ("customers", "contacts", "invoices")
    options = ExtractOptions(
        destination=f"duckdb:///{tmp_path}/gone.duckdb",
        mode="overwrite",
        streams=streams,
        state_dir=tmp_path / "state",
    )
    run_extract(client_settings(server.base_url, server.api_key), options)
    # the same destination, now fed from an account that holds nothing
    empty = client_settings(emulator_server.base_url, emulator_server.api_key)
    report = run_extract(empty, options)

    assert {stream.name: stream.records for stream in report.streams} == dict.fromkeys(streams, 0)
    with duckdb.connect(f"{tmp_path}/gone.duckdb", read_only=True) as con:
        for table in (*streams, "invoices__line_items", "customers__attributes__tags"):
            (rows,) = con.execute(f"SELECT count(*) FROM chartmogul.{table}").fetchone()  # type: ignore[misc]
            assert rows == 0, table


@pytest.mark.parametrize("mode", ["overwrite", "append", "incremental"])
def test_an_empty_account_loads_in_every_mode(
    emulator_server: EmulatorServer, tmp_path: Path, mode: ExtractMode
) -> None:
    """A first run that reads no rows for most streams still succeeds, creating no empty tables."""
    report = _run_all(emulator_server, tmp_path, mode)
    assert {s.name for s in report.streams if s.records} == {"account", "customer_count", "metrics"}
    with duckdb.connect(f"{tmp_path}/modes.duckdb", read_only=True) as con:
        (customers,) = con.execute(  # type: ignore[misc]
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'customers'"
        ).fetchone()
    assert customers == 0


def test_duckdb_loads_json_lines_files(loaded: tuple[ExtractReport, Path, Seeded]) -> None:
    """Every stream table is loaded from JSON-lines files (far faster than INSERT statements)."""
    _, path, _ = loaded
    jobs = list(path.parent.glob("state/extract/*/load/loaded/*/completed_jobs/*.*"))
    data_files = [job.name for job in jobs if not job.name.startswith("_dlt")]
    assert data_files
    slow = [name for name in data_files if "insert_values" in name]
    assert slow == []
    assert {name.split(".")[0] for name in data_files if ".jsonl" in name} >= set(STREAMS)

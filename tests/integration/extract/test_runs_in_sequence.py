"""Sequences of extract runs where ChartMogul changes while a run reads (driven clock)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import httpx
import psycopg
import pytest
from tests.integration.extract._runs import FIRST
from tests.integration.extract._seed import client_settings

from mogulsync.emulator.server import EmulatorServer
from mogulsync.extract.runner import (
    ExtractError,
    ExtractMode,
    ExtractOptions,
    ExtractReport,
    run_extract,
)
from mogulsync.testing import PostgresServer


class _EditsAfterFirstPage(httpx.AsyncHTTPTransport):
    """Real HTTP to the emulator; once the first page of subscription events is in,
    edits an event of that page, lets a second pass, and edits one of the next page:
    ChartMogul changing while a run pages through its list."""

    def __init__(self, server: EmulatorServer, on_page: int, later: int) -> None:
        super().__init__()
        self._server = server
        self._edits = [(on_page, 111), (later, 222)]

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await super().handle_async_request(request)
        if request.url.path.endswith("/subscription_events") and self._edits:
            await response.aread()
            edits, self._edits = self._edits, []
            auth = (self._server.api_key, "")
            async with httpx.AsyncClient(
                base_url=f"{self._server.base_url}/v1", auth=auth, timeout=30
            ) as api:
                for event_id, amount in edits:
                    self._server.emulator.advance_clock(dt.timedelta(seconds=1))
                    body = {"subscription_event": {"id": event_id, "amount_in_cents": amount}}
                    answer = await api.patch("/subscription_events", json=body)
                    assert answer.status_code == 200, answer.text
        return response


def _run(
    server: EmulatorServer, root: Path, transport: httpx.AsyncBaseTransport | None = None
) -> ExtractReport:
    options = ExtractOptions(
        destination=f"duckdb:///{root}/cm.duckdb",
        streams=("subscription_events",),
        state_dir=root / "state",
    )
    settings = client_settings(server.base_url, server.api_key)
    return run_extract(settings, options, transport=transport)


def _amounts(root: Path) -> dict[int, int]:
    with duckdb.connect(f"{root}/cm.duckdb", read_only=True) as con:
        rows = con.execute(
            "SELECT id, amount_in_cents FROM chartmogul.subscription_events"
        ).fetchall()
    return {int(row[0]): int(row[1]) for row in rows}


def test_an_event_edited_while_a_run_pages_is_loaded_by_the_next_run(
    server: EmulatorServer, tmp_path: Path
) -> None:
    """An event of the first page is edited after that page was read, and one of a later
    page a second after: the run reads the later edit, so its newest ``updated_at`` is
    past the first edit's. The next run must still load the first edit (it was lost: the
    cursor had moved past it) and the table end as a fresh full refresh."""
    server.emulator.advance_clock(dt.timedelta(hours=1))  # driven from now on
    pages = []
    with httpx.Client(
        base_url=f"{server.base_url}/v1", auth=(server.api_key, ""), timeout=30
    ) as api:
        for cursor in (None, "next"):
            params = {"per_page": 200, "cursor": pages[-1]["cursor"] if cursor else None}
            pages.append(api.get("/subscription_events", params=params).json())
    assert pages[0]["has_more"], "the events must span two pages"
    on_page = pages[0]["subscription_events"][0]["id"]
    later = pages[1]["subscription_events"][0]["id"]

    _run(server, tmp_path, _EditsAfterFirstPage(server, on_page, later))
    amounts = _amounts(tmp_path)
    assert amounts[later] == 222  # read after its edit
    assert amounts[on_page] != 111  # read before its edit

    second = _run(server, tmp_path)

    assert _amounts(tmp_path)[on_page] == 111
    assert second.streams[0].records == 1  # the event edited after it was read, only
    fresh = tmp_path / "fresh"
    _run(server, fresh)
    assert _amounts(tmp_path) == _amounts(fresh)


#: the warehouse refuses every new line item (a constraint the rows already there escape)
_REFUSE_INSERTS = (
    "ALTER TABLE {schema}.invoices__line_items ADD CONSTRAINT refuse CHECK (false) NOT VALID"
)


def _counts(dsn: str, schema: str, tables: tuple[str, ...]) -> dict[str, tuple[int, int]]:
    with psycopg.connect(dsn) as con:
        found = {}
        for name in tables:
            row = con.execute(
                f"SELECT count(*), count(DISTINCT uuid) FROM {schema}.{name}"  # type: ignore[arg-type]
            ).fetchone()
            assert row is not None
            found[name] = (int(row[0]), int(row[1]))
        return found


@pytest.mark.postgres
def test_an_overwrite_that_fails_to_load_leaves_the_previous_tables(
    server: EmulatorServer, postgres_server: PostgresServer, tmp_path: Path
) -> None:
    """The warehouse refuses the invoices' line items half way through an overwrite's load:
    the run fails, and every table still holds the previous run's rows (it was truncated
    first and left empty). Once the warehouse accepts them, the next run loads each row once.
    """
    schema = "overwrite_fails"
    options = ExtractOptions(
        destination=postgres_server.url,
        dataset=schema,
        mode="overwrite",
        streams=("customers", "invoices"),
        state_dir=tmp_path,
    )
    settings = client_settings(server.base_url, server.api_key)
    run_extract(settings, options)
    tables = ("customers", "invoices")
    before = _counts(postgres_server.dsn, schema, tables)
    assert before == {"customers": (FIRST, FIRST), "invoices": (FIRST, FIRST)}
    with psycopg.connect(postgres_server.dsn) as con:
        con.execute(_REFUSE_INSERTS.format(schema=schema))  # type: ignore[arg-type]

    with pytest.raises(ExtractError, match="refuse"):
        run_extract(settings, options)

    assert _counts(postgres_server.dsn, schema, tables) == before
    with psycopg.connect(postgres_server.dsn) as con:
        line_items = con.execute(f"SELECT count(*) FROM {schema}.invoices__line_items")  # type: ignore[arg-type]
        assert line_items.fetchone() == (FIRST,)
        con.execute(f"ALTER TABLE {schema}.invoices__line_items DROP CONSTRAINT refuse")  # type: ignore[arg-type]

    run_extract(settings, options)

    assert _counts(postgres_server.dsn, schema, tables) == before
    with psycopg.connect(postgres_server.dsn) as con:
        line_items = con.execute(f"SELECT count(*) FROM {schema}.invoices__line_items")  # type: ignore[arg-type]
        assert line_items.fetchone() == (FIRST,)
        schemas = {
            row[0] for row in con.execute("SELECT schema_name FROM information_schema.schemata")
        }
    assert f"{schema}_staging" not in schemas  # replaced through it, dropped once loaded


def test_an_earlier_start_date_reads_the_activities_before_the_old_one(
    server: EmulatorServer, tmp_path: Path
) -> None:
    """``start_date`` moved back between incremental runs: the next run reads the
    activities from the new start (they were skipped: the stored cursor won), each once;
    the run after it goes on from its cursor, and a later start reads nothing again."""
    settings = client_settings(server.base_url, server.api_key)

    def run(start: dt.date) -> int:
        options = ExtractOptions(
            destination=f"duckdb:///{tmp_path}/cm.duckdb",
            streams=("activities",),
            start_date=start,
            state_dir=tmp_path / "state",
        )
        return run_extract(settings, options).streams[0].records

    def stored() -> tuple[int, int]:
        with duckdb.connect(f"{tmp_path}/cm.duckdb", read_only=True) as con:
            row = con.execute(
                "SELECT count(*), count(DISTINCT uuid) FROM chartmogul.activities"
            ).fetchone()
        assert row is not None
        return int(row[0]), int(row[1])

    june = run(dt.date(2024, 6, 1))  # one activity a day from 2024-01-01
    assert 0 < june < FIRST
    assert stored() == (june, june)

    run(dt.date(2024, 1, 1))
    assert stored() == (FIRST, FIRST)
    assert run(dt.date(2024, 1, 1)) == 0
    assert run(dt.date(2024, 6, 1)) == 0
    assert stored() == (FIRST, FIRST)


@pytest.mark.postgres
def test_a_list_that_became_empty_empties_its_postgres_tables(
    server: EmulatorServer,
    emulator_server: EmulatorServer,
    postgres_server: PostgresServer,
    tmp_path: Path,
) -> None:
    """Replaced through the staging schema, a table whose list is now empty is emptied,
    child tables included, and the staging schema is gone after the load."""
    schema = "emptied"
    options = ExtractOptions(
        destination=postgres_server.url,
        dataset=schema,
        streams=("customers", "invoices"),
        state_dir=tmp_path,
    )
    run_extract(client_settings(server.base_url, server.api_key), options)
    # the same destination, now fed from an account that holds nothing
    run_extract(client_settings(emulator_server.base_url, emulator_server.api_key), options)

    with psycopg.connect(postgres_server.dsn) as con:
        for table in ("customers", "invoices", "invoices__line_items"):
            found = con.execute(f"SELECT count(*) FROM {schema}.{table}")  # type: ignore[arg-type]
            assert found.fetchone() == (0,), table
        schemas = {
            row[0] for row in con.execute("SELECT schema_name FROM information_schema.schemata")
        }
    assert f"{schema}_staging" not in schemas


def _refuse_new_rows(database: Path, table: str, column: str) -> None:
    """Rebuild ``table`` with a check only its present rows pass, marked by -1 in
    ``column`` (DuckDB cannot add a constraint to a table)."""
    with duckdb.connect(str(database)) as con:
        columns = con.execute(
            "SELECT column_name, data_type FROM information_schema.columns WHERE"
            f" table_schema = 'chartmogul' AND table_name = '{table}'"
            " ORDER BY ordinal_position"
        ).fetchall()
        listed = ", ".join(f'"{name}" {kind}' for name, kind in columns)
        con.execute(f"ALTER TABLE chartmogul.{table} RENAME TO rows_before")
        con.execute(
            f"CREATE TABLE chartmogul.{table} ({listed}, CONSTRAINT refuse CHECK ({column} = -1))"
        )
        con.execute(
            f"INSERT INTO chartmogul.{table}"
            f" SELECT * REPLACE (-1 AS {column}) FROM chartmogul.rows_before"
        )
        con.execute("DROP TABLE chartmogul.rows_before")


def test_an_overwrite_that_fails_to_load_leaves_the_previous_duckdb_tables(
    server: EmulatorServer, tmp_path: Path
) -> None:
    """As into PostgreSQL: the line items refused half way through the load, invoices and
    their line items both keep the previous run's rows."""
    database = tmp_path / "cm.duckdb"
    options = ExtractOptions(
        destination=f"duckdb:///{database}",
        mode="overwrite",
        streams=("invoices",),
        state_dir=tmp_path / "state",
    )
    settings = client_settings(server.base_url, server.api_key)
    run_extract(settings, options)
    _refuse_new_rows(database, "invoices__line_items", "amount_in_cents")

    with pytest.raises(ExtractError, match="CHECK constraint failed") as failed:
        run_extract(settings, options)
    # one line naming the database's error, not the load job's traceback
    assert "Traceback" not in failed.value.user_message

    with duckdb.connect(str(database), read_only=True) as con:
        for table in ("invoices", "invoices__line_items"):
            (rows,) = con.execute(f"SELECT count(*) FROM chartmogul.{table}").fetchone() or (0,)
            assert rows == FIRST, table


def test_a_merge_that_fails_to_load_leaves_the_previous_duckdb_rows(
    server: EmulatorServer, tmp_path: Path
) -> None:
    """A merge deletes the rows it replaces, then inserts them: the warehouse refusing the
    inserts, the rows deleted come back (they were gone: dlt ran the two in autocommit)."""
    database = tmp_path / "cm.duckdb"
    settings = client_settings(server.base_url, server.api_key)

    def run(start: dt.date) -> None:
        options = ExtractOptions(
            destination=f"duckdb:///{database}",
            streams=("activities",),
            start_date=start,
            state_dir=tmp_path / "state",
        )
        run_extract(settings, options)

    run(dt.date(2024, 6, 1))
    with duckdb.connect(str(database), read_only=True) as con:
        (before,) = con.execute("SELECT count(*) FROM chartmogul.activities").fetchone() or (0,)
    _refuse_new_rows(database, "activities", "activity_mrr")

    with pytest.raises(ExtractError, match="CHECK constraint failed"):
        run(dt.date(2024, 1, 1))  # every activity merged again, from the earlier start

    with duckdb.connect(str(database), read_only=True) as con:
        (after,) = con.execute("SELECT count(*) FROM chartmogul.activities").fetchone() or (0,)
    assert after == before > 0


def test_an_append_run_after_a_failed_load_leaves_no_staging_schema(
    server: EmulatorServer, tmp_path: Path
) -> None:
    """A failed overwrite leaves its rows in the staging schema (its package loads next
    time); the next run, an append, loads that package too: it drops the schema as well."""
    database = tmp_path / "cm.duckdb"
    settings = client_settings(server.base_url, server.api_key)

    def options(mode: ExtractMode) -> ExtractOptions:
        return ExtractOptions(
            destination=f"duckdb:///{database}",
            mode=mode,
            streams=("invoices",),
            state_dir=tmp_path / "state",
        )

    run_extract(settings, options("overwrite"))
    _refuse_new_rows(database, "invoices__line_items", "amount_in_cents")
    with pytest.raises(ExtractError, match="CHECK constraint failed"):
        run_extract(settings, options("overwrite"))
    with duckdb.connect(str(database)) as con:  # the warehouse takes rows again
        con.execute(
            "CREATE TABLE chartmogul.taken AS SELECT * FROM chartmogul.invoices__line_items"
        )
        con.execute("DROP TABLE chartmogul.invoices__line_items")
        con.execute("ALTER TABLE chartmogul.taken RENAME TO invoices__line_items")

    run_extract(settings, options("append"))

    with duckdb.connect(str(database), read_only=True) as con:
        schemas = {
            row[0] for row in con.execute("SELECT schema_name FROM duckdb_schemas()").fetchall()
        }
    assert "chartmogul_staging" not in schemas

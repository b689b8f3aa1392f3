"""Real warehouse values that Python or ChartMogul cannot take: a row error, never a dead run.

Synced from the suite's PostgreSQL and from DuckDB files into the emulator, then read back.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import psycopg
import pytest
from tests.integration.sync._support import (
    all_pages,
    api,
    engine,
    errors_by_key,
    make_warehouse,
    project,
)

from mogulsync.emulator.server import EmulatorServer
from mogulsync.testing.postgres import PostgresServer

pytestmark = [pytest.mark.anyio]


def _pg_table(postgres_server: PostgresServer, columns: str, rows: str) -> str:
    name = f"moments_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(postgres_server.dsn, autocommit=True) as db:
        db.execute(f"create table {name} ({columns})")
        db.execute(f"insert into {name} values {rows}")
    return name


def _customers(server: EmulatorServer) -> dict[str, dict[str, object]]:
    with api(server) as client:
        return {c["external_id"]: c for c in all_pages(client, "/customers", "entries")}


@pytest.mark.postgres
@pytest.mark.parametrize("state", ["embedded", "warehouse"])
async def test_postgres_infinite_and_bc_moments_are_row_errors(
    emulator_server: EmulatorServer, postgres_server: PostgresServer, tmp_path: Path, state: str
) -> None:
    """PostgreSQL's ``infinity`` and BC dates have no Python value: psycopg refused to read
    them and the whole run failed ("reading from warehouse failed: timestamp too large"),
    naming no row or column. Now each is a row error on its field; other rows land."""
    table = _pg_table(
        postgres_server,
        "id text, lead timestamptz, trial timestamp, since date",
        "('ok', '2024-03-31 02:30:00+02', '2024-01-02 03:04:05', '2024-01-01'),"
        " ('inf', 'infinity', null, null),"
        " ('ninf', null, '-infinity', null),"
        " ('bc', null, null, '0044-03-15 BC'),"
        " ('huge', '20000-01-01 00:00:00+00', null, null)",
    )
    config = project(
        emulator_server,
        tmp_path,
        postgres_server.url,
        {"m": {"table": table, "primary_key": "id"}},
        {
            "customers": {
                "model": "m",
                "object": "customer",
                "state": state,
                "mapping": {
                    "external_id": "id",
                    "lead_created_at": "lead",
                    "free_trial_started_at": "trial",
                },
            }
        },
    )
    record = await engine(config).run("customers")
    assert (record.status.value, record.rows.succeeded, record.rows.invalid) == ("partial", 1, 4)
    errors = errors_by_key(tmp_path / "state", record)
    assert {key: [field for field, _, _ in found] for key, found in errors.items()} == {
        "inf": ["lead_created_at"],
        "ninf": ["free_trial_started_at"],
        "bc": ["attributes.custom.since"],
        "huge": ["lead_created_at"],
    }
    ((_, message, fix),) = errors["inf"]
    assert message == "'infinity' is infinity, not a date ChartMogul can store"
    assert "isfinite(column)" in fix
    ((_, message, fix),) = errors["bc"]
    assert "'0044-03-15 BC' is outside the years 1-9999" in message
    landed = _customers(emulator_server)
    assert set(landed) == {"ok"}
    assert landed["ok"]["lead_created_at"] == "2024-03-31T00:30:00.000Z"
    assert landed["ok"]["free_trial_started_at"] == "2024-01-02T03:04:05.000Z"
    again = await engine(config).run("customers")  # still refused, nothing re-sent
    assert (again.rows.unchanged, again.rows.invalid, again.rows.succeeded) == (1, 4, 0)


async def test_duckdb_infinite_moments_are_row_errors_not_year_9999(
    emulator_server: EmulatorServer, tmp_path: Path
) -> None:
    """DuckDB reads ``infinity`` as 9999-12-31 23:59:59.999999 and ``-infinity`` as year 1:
    those were sent to ChartMogul as real dates. Now they are row errors on the field."""
    url = make_warehouse(
        tmp_path / "w.duckdb",
        [
            (
                "create table m as select * from (values"
                " ('ok', TIMESTAMP '2024-01-01 10:00:00', TIMESTAMPTZ '2024-01-01 10:00:00+00'),"
                " ('inf', 'infinity'::TIMESTAMP, null),"
                " ('ninf', '-infinity'::TIMESTAMP, null),"
                " ('tzinf', null, 'infinity'::TIMESTAMPTZ),"
                " ('bc', null, '0044-03-15 (BC)'::TIMESTAMPTZ)"
                ") t(id, lead, trial)"
            )
        ],
    )
    config = project(
        emulator_server,
        tmp_path,
        url,
        {"m": {"table": "m", "primary_key": "id"}},
        {
            "customers": {
                "model": "m",
                "object": "customer",
                "mapping": {
                    "external_id": "id",
                    "lead_created_at": "lead",
                    "free_trial_started_at": "trial",
                },
            }
        },
    )
    record = await engine(config).run("customers")
    errors = errors_by_key(tmp_path / "state", record)
    assert {key: [field for field, _, _ in found] for key, found in errors.items()} == {
        "inf": ["lead_created_at"],
        "ninf": ["lead_created_at"],
        "tzinf": ["free_trial_started_at"],
        "bc": ["free_trial_started_at"],
    }
    assert "infinity" in errors["inf"][0][1]
    assert set(_customers(emulator_server)) == {"ok"}


@pytest.mark.parametrize("mode", ["upsert", "insert"])
async def test_contact_external_ids_differing_in_case_are_two_contacts(
    emulator_server: EmulatorServer, tmp_path: Path, mode: str
) -> None:
    """External ids are case-sensitive (Stripe's ``cus_AbC`` and ``cus_abc`` are two
    customers), but contacts were matched by external id ignoring case: ``K-1`` and ``k-1``
    under one customer became one contact that both rows overwrote (upsert), or the second
    was refused as "already exists" (insert). Emails still match in any case."""
    url = make_warehouse(
        tmp_path / "w.duckdb",
        [
            "create table accounts as select 'c1' id",
            (
                "create table people as select * from (values"
                " ('K-1', 'c1', 'Upper', 'ann@acme.io'), ('k-1', 'c1', 'Lower', 'bob@acme.io')"
                ") t(id, customer, first_name, email)"
            ),
        ],
    )
    config = project(
        emulator_server,
        tmp_path,
        url,
        {
            "accounts": {"table": "accounts", "primary_key": "id"},
            "people": {"table": "people", "primary_key": "id"},
        },
        {
            "customers": {
                "model": "accounts",
                "object": "customer",
                "mapping": {"external_id": "id"},
            },
            "contacts": {
                "model": "people",
                "object": "contact",
                "mode": mode,
                "mapping": {"external_id": "id", "customer_external_id": "customer"},
            },
        },
    )
    assert (await engine(config).run("customers")).status.value == "success"
    record = await engine(config).run("contacts")
    assert (record.status.value, record.rows.succeeded) == ("success", 2)
    again = await engine(config).run("contacts", full=True)  # every row resent: still two
    assert again.rows.failed == 0
    with api(emulator_server) as client:
        contacts = all_pages(client, "/contacts", "entries")
    assert sorted((c["external_id"], c["first_name"]) for c in contacts) == [
        ("K-1", "Upper"),
        ("k-1", "Lower"),
    ]


_COMMENTED_SQL = [
    "select id, name from acc -- the accounts",
    "select id, name from acc\n-- the end\n",
    "select id, name from acc; -- done",
    "select id, name from acc;\n-- done\n-- really\n",
    "with x as (select * from acc) select id, name from x -- a CTE",
    "select id, name from acc where name <> ';--' -- a string holding ;--",
    # ran before the tail was trimmed, and must still: `; --` or a `--` line inside a block
    # comment, a string or a dollar-quoted string is not the SQL's end
    "select id, name from acc /* trimmed; -- never */",
    "select id, name from acc where name <> 'x\n-- not a comment'",
    "select id, name from acc where name <> $$x; -- not a comment$$",
]


@pytest.mark.parametrize("state", ["embedded", "warehouse"])
@pytest.mark.parametrize("sql", _COMMENTED_SQL)
async def test_model_sql_ending_in_a_comment_compiles(
    emulator_server: EmulatorServer, tmp_path: Path, sql: str, state: str
) -> None:
    """A model's SQL is wrapped as ``SELECT * FROM (<sql>) AS ...``: a last line ending in a
    ``--`` comment swallowed the closing parenthesis, and ``; -- done`` kept its semicolon,
    so SQL that runs in the warehouse failed with "syntax error at or near ..."."""
    url = make_warehouse(
        tmp_path / "w.duckdb",
        ["create table acc as select 'a' || i id, 'N' name from range(3) t(i)"],
    )
    config = project(
        emulator_server,
        tmp_path,
        url,
        {"acc": {"sql": sql, "primary_key": "id"}},
        {
            "customers": {
                "model": "acc",
                "object": "customer",
                "state": state,
                "mapping": {"external_id": "id"},
            }
        },
    )
    record = await engine(config).run("customers")
    assert (record.status.value, record.rows.succeeded) == ("success", 3), record.error
    again = await engine(config).run("customers")
    assert (again.status.value, again.rows.unchanged) == ("success", 3)


async def test_float_cents_off_by_rounding_say_round_not_use_cents(
    emulator_server: EmulatorServer, tmp_path: Path
) -> None:
    """``price * 100`` over a DOUBLE gives 28.999999999999996 for 0.29: the row was refused
    with "use whole cents (1999 for 19.99)", which the model already did. The error now
    names the floating-point cause and the fix (ROUND); DECIMAL and whole values land."""
    url = make_warehouse(
        tmp_path / "w.duckdb",
        [
            "create table cust as select 'c1' id",
            (
                "create table tx as select * from (values"
                " ('t-float', 0.29::DOUBLE * 100), ('t-dec', 0.29::DECIMAL(10,2) * 100),"
                " ('t-whole', 1999.0::DOUBLE), ('t-frac', 19.99::DOUBLE)"
                ") t(id, amount)"
            ),
        ],
    )
    lines = "[{'type': 'one_time', 'amount_in_cents': 1999}]"  # DuckDB struct → JSON below
    config = project(
        emulator_server,
        tmp_path,
        url,
        {
            "cust": {"table": "cust", "primary_key": "id"},
            "inv": {
                "sql": f"select 'i1' id, 'c1' cust, date '2024-01-01' d, 'USD' cur,"
                f" to_json({lines}) lines",
                "primary_key": "id",
            },
            "tx": {
                "sql": "select id, 'i1' inv, 'payment' type, 'successful' result,"
                " date '2024-01-02' d, amount from tx",
                "primary_key": "id",
            },
        },
        {
            "customers": {"model": "cust", "object": "customer", "mapping": {"external_id": "id"}},
            "invoices": {
                "model": "inv",
                "object": "invoice",
                "mode": "insert",
                "mapping": {
                    "external_id": "id",
                    "customer_external_id": "cust",
                    "date": "d",
                    "currency": "cur",
                },
                "line_items": {"column": "lines"},
            },
            "tx": {
                "model": "tx",
                "object": "transaction",
                "mode": "insert",
                "mapping": {
                    "external_id": "id",
                    "invoice_external_id": "inv",
                    "date": "d",
                    "amount_in_cents": "amount",
                },
            },
        },
    )
    for name in ("customers", "invoices"):
        assert (await engine(config).run(name)).status.value == "success"
    record = await engine(config).run("tx")
    errors = errors_by_key(tmp_path / "state", record)
    assert set(errors) == {"t-float", "t-frac"}
    ((field, message, fix),) = errors["t-float"]
    assert field == "amount_in_cents"
    assert "28.999999999999996 is not a whole number" in message
    assert "floating-point" in message
    assert "ROUND(" in fix
    ((_, message, fix),) = errors["t-frac"]  # a real fraction: the cents hint stays
    assert (message, fix) == (
        "19.99 is not a whole number",
        "Amounts are in cents: use whole cents (1999 for 19.99).",
    )
    with api(emulator_server) as client:
        (invoice,) = all_pages(client, "/invoices", "invoices")
    assert sorted(t["amount_in_cents"] for t in invoice["transactions"]) == [29, 1999]


@pytest.mark.postgres
async def test_postgres_numeric_ids_too_long_for_a_decimal_attribute_are_refused(
    emulator_server: EmulatorServer, postgres_server: PostgresServer, tmp_path: Path
) -> None:
    """A ``numeric`` column is a Decimal attribute, sent as a JSON float: a 19-digit id in it
    (``numeric`` without a scale is a common id type) landed as 1234567890123456800, silently
    wrong. A whole value past 2**53 is now a row error naming the column and the cast to use;
    long fractions (``1 / 3.0``) are still rounded to a float, and money lands exactly."""
    table = _pg_table(
        postgres_server,
        "id text, legacy_id numeric, ratio numeric, price numeric(12,2)",
        "('big', 1234567890123456789, 1, 19.99),"
        " ('safe', 9007199254740992, 1 / 3.0, 1234567.89),"
        " ('neg', -9007199254740993, null, -0.29)",
    )
    config = project(
        emulator_server,
        tmp_path,
        postgres_server.url,
        {"m": {"table": table, "primary_key": "id"}},
        {"customers": {"model": "m", "object": "customer", "mapping": {"external_id": "id"}}},
    )
    record = await engine(config).run("customers")
    errors = errors_by_key(tmp_path / "state", record)
    assert sorted(errors) == ["big", "neg"]
    ((field, message, fix),) = errors["big"]
    assert field == "attributes.custom.legacy_id"
    assert "1234567890123456789" in message
    assert "BIGINT" in fix
    assert "TEXT" in fix
    custom = _customers(emulator_server)["safe"]["attributes"]
    assert custom["custom"] == {  # type: ignore[index]
        "legacy_id": 9007199254740992,
        "ratio": pytest.approx(1 / 3),
        "price": 1234567.89,
    }


@pytest.mark.postgres
async def test_postgres_model_with_two_columns_of_one_name_is_refused(
    emulator_server: EmulatorServer, postgres_server: PostgresServer, tmp_path: Path
) -> None:
    """PostgreSQL lets a join return two columns named ``id``; each row was read into a dict,
    so the last one won without a word: customers landed with the plan's id as their
    external id. The model is now refused at compile time, naming the column and the fix."""
    table = _pg_table(postgres_server, "id text, name text", "('c1', 'Acme')")
    plans = _pg_table(postgres_server, "id text", "('plan-9')")
    config = project(
        emulator_server,
        tmp_path,
        postgres_server.url,
        {
            "m": {
                "sql": f"select c.id, c.name, p.id from {table} c cross join {plans} p",
                "primary_key": "id",
            }
        },
        {"customers": {"model": "m", "object": "customer", "mapping": {"external_id": "id"}}},
    )
    record = await engine(config).run("customers")
    assert record.status.value == "failed"
    assert record.error is not None
    assert "two or more columns named `id` (columns 1 and 3)" in str(record.error)
    assert "AS" in (record.error.hint or "")
    assert _customers(emulator_server) == {}

"""A small sample DuckDB warehouse for the demo: accounts, contacts, plans, invoices, payments.

Deterministic (seeded) so the demo prints the same numbers on every machine.
"""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

import duckdb

ACCOUNTS = 30
MONTHS = 6
PLANS = (("starter", "Starter", 2_900), ("growth", "Growth", 9_900), ("scale", "Scale", 29_900))
START = dt.date(2025, 1, 1)
COUNTRIES = ("US", "GB", "DE", "FR", "NL")
_SCHEMA = """
CREATE TABLE accounts (
    id VARCHAR PRIMARY KEY, company_name VARCHAR, billing_email VARCHAR, country_code VARCHAR,
    seats INTEGER, arr_band DECIMAL(10, 2), is_enterprise BOOLEAN, signed_up_at TIMESTAMP
);
CREATE TABLE contacts (
    id VARCHAR PRIMARY KEY, account_id VARCHAR, first_name VARCHAR, last_name VARCHAR,
    email VARCHAR, title VARCHAR
);
CREATE TABLE plans (
    id VARCHAR PRIMARY KEY, name VARCHAR, interval_count INTEGER, interval_unit VARCHAR
);
CREATE TABLE invoices (
    id VARCHAR PRIMARY KEY, account_id VARCHAR, invoice_date DATE, currency VARCHAR
);
CREATE TABLE invoice_lines (
    id VARCHAR PRIMARY KEY, invoice_id VARCHAR, type VARCHAR, plan_external_id VARCHAR,
    subscription_external_id VARCHAR, service_period_start DATE, service_period_end DATE,
    amount_in_cents INTEGER, quantity INTEGER
);
CREATE TABLE payments (
    id VARCHAR PRIMARY KEY, invoice_id VARCHAR, type VARCHAR, result VARCHAR, date DATE,
    amount_in_cents INTEGER
);
"""


def _month(index: int) -> dt.date:
    year, month = divmod(START.month - 1 + index, 12)
    return dt.date(START.year + year, month + 1, 1)


def build_sample_warehouse(path: Path | str) -> str:
    """Create the sample warehouse at ``path`` (replacing it); its SQLAlchemy URL."""
    path = Path(path)
    path.unlink(missing_ok=True)
    rng = random.Random(7)
    db = duckdb.connect(str(path))
    try:
        db.execute(_SCHEMA)
        db.executemany("INSERT INTO plans VALUES (?, ?, 1, 'month')", [(p, n) for p, n, _ in PLANS])
        for number in range(1, ACCOUNTS + 1):
            account = f"acct-{number:03d}"
            tier = rng.randrange(len(PLANS))
            db.execute(
                "INSERT INTO accounts VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    account,
                    f"Company {number:03d}",
                    f"billing@company{number:03d}.example",
                    rng.choice(COUNTRIES),
                    rng.randrange(1, 50),
                    round(rng.uniform(1_000, 90_000), 2),
                    tier == len(PLANS) - 1,
                    dt.datetime(2024, 12, rng.randrange(1, 28), tzinfo=dt.UTC),
                ),
            )
            db.execute(
                "INSERT INTO contacts VALUES (?, ?, ?, ?, ?, ?)",
                (
                    f"con-{number:03d}",
                    account,
                    f"Alex{number}",
                    "Buyer",
                    f"alex@company{number:03d}.example",
                    "Finance",
                ),
            )
            first = rng.randrange(0, 3)
            for month in range(first, MONTHS):
                _invoice(db, account, number, month, tier)
    finally:
        db.close()
    return f"duckdb:///{path}"


def _invoice(
    db: duckdb.DuckDBPyConnection, account: str, number: int, month: int, tier: int
) -> None:
    invoice = f"inv-{number:03d}-{month:02d}"
    plan, _, price = PLANS[tier]
    db.execute("INSERT INTO invoices VALUES (?, ?, ?, 'USD')", (invoice, account, _month(month)))
    db.execute(
        "INSERT INTO invoice_lines VALUES (?, ?, 'subscription', ?, ?, ?, ?, ?, 1)",
        (f"li-{invoice}", invoice, plan, f"sub-{account}", _month(month), _month(month + 1), price),
    )
    db.execute(
        "INSERT INTO payments VALUES (?, ?, 'payment', 'successful', ?, ?)",
        (f"pay-{invoice}", invoice, _month(month), price),
    )


#: what a file built here holds: only such a file is replaced without --force
SAMPLE_TABLES = frozenset(
    {"accounts", "contacts", "plans", "invoices", "invoice_lines", "payments"}
)


#: the schema mogulsync itself writes into a warehouse by default (sync logs, `state:
#: warehouse` snapshots): a sample that was synced holds it too, and is still a sample
OWN_SCHEMA = "mogulsync"


def is_sample_warehouse(path: Path) -> bool:
    """True when ``path`` is a DuckDB file holding the sample's tables, with the sample's
    columns, and nothing else (but what mogulsync wrote in its own schema).

    The columns are compared too: ``accounts``, ``contacts``, ``invoices``... are likely
    table names of a real warehouse as well, and a real warehouse that was synced holds
    the ``mogulsync`` schema just like a synced sample; replacing it would lose its data.
    """
    try:
        with duckdb.connect(str(path), read_only=True) as db:
            found = _columns(db)
    except duckdb.Error:
        return False
    return found == _sample_columns()


_COLUMNS_QUERY = (
    "SELECT table_schema, table_name, column_name, data_type FROM information_schema.columns"
    " WHERE table_schema <> ?"
)


def _columns(db: duckdb.DuckDBPyConnection) -> frozenset[tuple[str, ...]]:
    """(schema, table, column, type) of every column outside mogulsync's own schema; a
    table without columns cannot exist, so every table is in it."""
    rows = db.execute(_COLUMNS_QUERY, (OWN_SCHEMA,)).fetchall()
    return frozenset(tuple(str(value) for value in row) for row in rows)


def _sample_columns() -> frozenset[tuple[str, ...]]:
    """What a freshly built sample holds, read from its schema in an in-memory database."""
    with duckdb.connect(":memory:") as db:
        db.execute(_SCHEMA)
        return _columns(db)


def main(argv: list[str] | None = None) -> None:
    """``python -m mogulsync.sample_warehouse [PATH] [--force]``: build it (default
    ./warehouse.duckdb), for a pip-installed user trying the starter project of
    ``mogulsync init``. An existing file is replaced only when it is an earlier sample, or
    with --force: ``warehouse.duckdb`` is also a likely name for a real warehouse."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(
        prog="python -m mogulsync.sample_warehouse",
        description="Write the sample DuckDB warehouse the starter project reads.",
    )
    parser.add_argument(
        "path",
        nargs="?",
        default="warehouse.duckdb",
        help="file to write (default: %(default)s, in the current directory)",
    )
    parser.add_argument(
        "--force", action="store_true", help="replace PATH even if it is not an earlier sample"
    )
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    path = Path(args.path)
    if path.exists() and not args.force and not is_sample_warehouse(path):
        parser.exit(
            2,
            f"error: {path} exists and is not a sample warehouse: nothing was changed\n"
            f"  → Give another path, or add --force to replace it.\n",
        )
    build_sample_warehouse(path)
    sys.stdout.write(f"wrote {path} (tables accounts, contacts, plans, invoices, ...)\n")


if __name__ == "__main__":
    main()

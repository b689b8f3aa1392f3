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


def main(argv: list[str] | None = None) -> None:
    """``python -m mogulsync.sample_warehouse [PATH]``: build it (default ./warehouse.duckdb),
    for a pip-installed user trying the starter project of ``mogulsync init``."""
    import sys

    args = sys.argv[1:] if argv is None else argv
    path = Path(args[0] if args else "warehouse.duckdb")
    build_sample_warehouse(path)
    sys.stdout.write(f"wrote {path} (tables accounts, contacts, plans, invoices, ...)\n")


if __name__ == "__main__":
    main()

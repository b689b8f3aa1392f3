"""Cost of reading PostgreSQL dates and timestamps through the tolerant loaders.

    .venv/bin/python bench/pg_moment_loader.py [--rows 300000]

``infinity``, BC dates and years past 9999 are read as text instead of failing the read
(:mod:`mogulsync.warehouse.pg_moments`): each date/timestamp value goes through one Python
call around psycopg's C loader. This streams a model of ``--rows`` rows with a
``timestamptz``, a ``timestamp`` and a ``date`` column through ``SqlAlchemySource`` (tolerant
loaders) and through a plain SQLAlchemy engine on the same server (the baseline, measured in
the same run, interleaved), and prints both times, the cost per value and the ratio.
"""

from __future__ import annotations

import argparse
import statistics
import time

import psycopg
import sqlalchemy as sa

from mogulsync.config import ModelConfig, WarehouseConfig
from mogulsync.testing.postgres import PostgresServer
from mogulsync.warehouse import SqlAlchemySource

MOMENT_COLUMNS = 3
ROUNDS = 3


def _plain(url: str, sql: str, batch: int) -> float:
    engine = sa.create_engine(url)
    start = time.perf_counter()
    with engine.connect() as db:
        result = db.execution_options(stream_results=True, yield_per=batch).execute(sa.text(sql))
        while result.fetchmany(batch):
            pass
    engine.dispose()
    return time.perf_counter() - start


def _tolerant(url: str, sql: str, batch: int) -> float:
    source = SqlAlchemySource("pg", WarehouseConfig(url=url, batch_size=batch))
    model = ModelConfig(warehouse="pg", sql=sql, primary_key="id")
    start = time.perf_counter()
    for _ in source.stream(model):
        pass
    source.close()
    return time.perf_counter() - start


def main() -> None:
    """Run both readers ``ROUNDS`` times each, interleaved, and print the medians."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=300_000)
    args = parser.parse_args()
    with PostgresServer() as pg:
        with psycopg.connect(pg.dsn, autocommit=True) as db:
            db.execute(
                "create table m as select i as id, timestamptz '2024-01-01' + i * interval '1 s'"
                " as a, timestamp '2024-01-01' + i * interval '1 s' as b,"
                f" date '2024-01-01' + (i % 1000) as c from generate_series(1, {args.rows}) i"
            )
        sql, batch = "select * from m", 10_000
        plain, tolerant = [], []
        for _ in range(ROUNDS):
            plain.append(_plain(pg.url, sql, batch))
            tolerant.append(_tolerant(pg.url, sql, batch))
    base, ours = statistics.median(plain), statistics.median(tolerant)
    values = args.rows * MOMENT_COLUMNS
    print(f"rows: {args.rows:,} ({values:,} date/timestamp values), median of {ROUNDS}")
    print(f"plain psycopg loaders:   {base:.3f} s")
    print(f"tolerant loaders:        {ours:.3f} s")
    print(f"cost per value:          {(ours - base) / values * 1e6:.2f} µs")
    print(f"ratio tolerant / plain:  {ours / base:.2f}x")


if __name__ == "__main__":
    main()

"""Helpers for tests and benchmarks: a throw-away PostgreSQL server, race-free ports (never
used in production)."""

from __future__ import annotations

from mogulsync.testing.postgres import PostgresServer, find_pg_bin

__all__ = ["PostgresServer", "find_pg_bin"]

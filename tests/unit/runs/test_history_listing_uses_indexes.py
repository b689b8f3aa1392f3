"""Listing the run history reads an index in order, never the whole table then a sort.

Every page of ``serve`` and every alert check lists runs; with a long history a full scan
plus sort on each of them is what an operator would notice first.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from mogulsync.runs.models import RunStatus
from mogulsync.runs.store import RunStore


def _listing_plans(store: RunStore, **filters: str) -> list[str]:
    statements: list[str] = []
    db = store._db  # the statement the listing sent is what is checked
    db.set_trace_callback(statements.append)
    try:
        store.latest(limit=50, **filters)  # type: ignore[arg-type]
    finally:
        db.set_trace_callback(None)
    (listing,) = [sql for sql in statements if sql.lstrip().upper().startswith("SELECT")]
    return [str(row[-1]) for row in db.execute(f"EXPLAIN QUERY PLAN {listing}")]


@pytest.mark.parametrize(
    "filters",
    [{}, {"sync": "customers"}, {"status": "failed"}, {"sync": "customers", "status": "failed"}],
    ids=["all", "one sync", "one status", "sync and status"],
)
def test_every_listing_reads_an_index(tmp_path: Path, filters: dict[str, str]) -> None:
    store = RunStore(tmp_path)
    for sync in ("customers", "plans"):
        store.finish(dataclasses.replace(store.start(sync, full=False), status=RunStatus.SUCCESS))
    plans = _listing_plans(store, **filters)
    assert not any(step.startswith("SCAN runs") and "INDEX" not in step for step in plans), plans
    assert "USE TEMP B-TREE FOR ORDER BY" not in plans, plans
    store.close()


def test_filters_still_select_the_runs(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    first = dataclasses.replace(store.start("customers", full=False), status=RunStatus.FAILED)
    store.finish(first)
    second = dataclasses.replace(store.start("plans", full=False), status=RunStatus.SUCCESS)
    store.finish(second)
    assert {run.run_id for run in store.latest(limit=10)} == {first.run_id, second.run_id}
    assert [run.run_id for run in store.latest(limit=10, sync="customers")] == [first.run_id]
    assert [run.run_id for run in store.latest(limit=10, status="success")] == [second.run_id]
    assert store.latest(limit=10, sync="plans", status="failed") == []
    store.close()

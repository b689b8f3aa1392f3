"""``run_history:`` retention: every run prunes the history it no longer keeps.

The retention's clock is the engine's ``now`` (driven here), the runs' start times are
real: "days later" is the engine told so, never a wait.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3
import threading
from typing import Any

import pytest
from tests.integration.serve._support import fast_engine, project
from tests.integration.sync._support import make_warehouse

from mogulsync.runs import RunStatus, RunStore

pytestmark = pytest.mark.anyio
DAY = dt.timedelta(days=1)


def _counts(state_dir) -> dict[str, tuple[int, int, int]]:
    """run_id → (runs rows, row errors, requests) for every run in the history."""
    db = sqlite3.connect(state_dir / "runs.sqlite")
    try:
        return {
            run_id: (
                1,
                db.execute(
                    "SELECT COUNT(*) FROM row_errors WHERE run_id = ?", (run_id,)
                ).fetchone()[0],
                db.execute("SELECT COUNT(*) FROM requests WHERE run_id = ?", (run_id,)).fetchone()[
                    0
                ],
            )
            for (run_id,) in db.execute("SELECT run_id FROM runs ORDER BY started_at")
        }
    finally:
        db.close()


async def test_old_request_logs_then_old_runs_go_and_the_latest_runs_stay(
    emulator_server, tmp_path
):
    """keep_requests_days 7, keep_days 30, keep_last 2: a week on, the old runs lose their
    request logs (row errors stay); a month on, they are gone; each sync's latest 2 stay
    whole, and another sync's runs are counted apart."""
    url = make_warehouse(
        tmp_path / "w.duckdb",
        ["create table accounts(id varchar, name varchar, email varchar)",
         "insert into accounts values ('a1', 'One', 'a1@example.com'), ('a2', 'Two', 'nope')"],
    )  # fmt: skip
    other = {"model": "accounts", "object": "customer", "data_source": "Other",
             "mapping": {"external_id": "id", "name": "name"}}  # fmt: skip
    config = project(
        emulator_server,
        tmp_path,
        url,
        syncs={"other": other},
        tokens=False,
        run_history={"keep_days": 30, "keep_requests_days": 7, "keep_last": 2},
    )
    engine = fast_engine(config)
    wall = dt.datetime.now(dt.UTC)
    state = tmp_path / "state"
    first = [await engine.run("customers", full=True) for _ in range(4)]
    assert all(r.status is RunStatus.PARTIAL for r in first)  # a2's email is invalid
    counts = _counts(state)
    assert len(counts) == 4
    assert all(errors == 1 and requests > 0 for _, errors, requests in counts.values())

    engine.now = lambda: wall + 8 * DAY
    fifth = await engine.run("customers", full=True)
    counts = _counts(state)
    old = [r.run_id for r in first[:3]]
    assert [counts[run_id][1:] for run_id in old] == [(1, 0)] * 3  # errors kept, log gone
    assert counts[first[3].run_id][2] > 0
    assert counts[fifth.run_id][2] > 0

    engine.now = lambda: wall + 31 * DAY
    await engine.run("other")
    counts = _counts(state)
    assert all(run_id not in counts for run_id in old)
    assert first[3].run_id in counts
    assert fifth.run_id in counts
    assert len(counts) == 3
    store = RunStore(state)
    try:
        assert store.get(fifth.run_id).status is RunStatus.PARTIAL
    finally:
        store.close()


def test_running_runs_and_null_cutoffs_are_never_pruned(tmp_path):
    """A run still running is kept whatever its age; None cutoffs delete nothing."""
    store = RunStore(tmp_path)
    try:
        running = store.start("customers", full=False)
        for _ in range(3):
            done = store.start("plans", full=False)
            done.status = RunStatus.SUCCESS
            store.finish(done)
        later = dt.datetime.now(dt.UTC) + 365 * DAY
        assert store.prune(runs_before=None, requests_before=None, keep_last=1) == (0, 0)
        assert store.prune(runs_before=later, requests_before=later, keep_last=1) == (2, 0)
        # even with no latest runs protected, the running one stays
        assert store.prune(runs_before=later, requests_before=later, keep_last=0) == (1, 0)
        assert [record.run_id for record in store.latest(limit=10)] == [running.run_id]
    finally:
        store.close()


async def test_the_prune_leaves_the_event_loop_free(emulator_server, tmp_path):
    """The retention runs off the event loop, which a server's other runs, API and
    scheduler share (a long history's first prune takes seconds). Here another connection
    write-locks the history as the prune starts and a callback on the loop releases it: the
    prune waits for it, then deletes. On the loop it held the loop for SQLite's 30 s busy
    timeout, so the release could not run, and it gave up."""
    url = make_warehouse(
        tmp_path / "w.duckdb",
        ["create table accounts(id varchar, name varchar, email varchar)",
         "insert into accounts values ('a1', 'One', 'a1@example.com')"],
    )  # fmt: skip
    config = project(
        emulator_server,
        tmp_path,
        url,
        tokens=False,
        run_history={"keep_days": 0, "keep_requests_days": 0, "keep_last": 1},
    )
    engine = fast_engine(config)
    state = tmp_path / "state"
    first = await engine.run("customers", full=True)
    locker = sqlite3.connect(state / "runs.sqlite", isolation_level=None)
    wall = dt.datetime.now(dt.UTC)

    def locked_now() -> dt.datetime:
        locker.execute("BEGIN IMMEDIATE")
        asyncio.get_running_loop().call_soon(locker.execute, "COMMIT")
        return wall + DAY

    engine.now = locked_now
    try:
        second = await engine.run("customers", full=True)
    finally:
        locker.close()
    assert list(_counts(state)) == [second.run_id]
    assert first.run_id != second.run_id


async def test_a_run_cancelled_during_its_prune_does_not_close_the_prune_connection(
    emulator_server, tmp_path, monkeypatch
):
    """The prune runs in a worker thread; a run cancelled meanwhile (Ctrl-C, a server
    stopping) closes its run history in the loop's thread. The prune used the run's own
    connection, so it was closed under the worker (a sqlite3 connection must not be closed
    while another thread uses it) and the prune was lost. Driven by events, not waits."""
    url = make_warehouse(
        tmp_path / "w.duckdb",
        ["create table accounts(id varchar, name varchar, email varchar)",
         "insert into accounts values ('a1', 'One', 'a1@example.com')"],
    )  # fmt: skip
    config = project(
        emulator_server,
        tmp_path,
        url,
        tokens=False,
        run_history={"keep_days": 0, "keep_requests_days": 0, "keep_last": 1},
    )
    engine = fast_engine(config)
    state = tmp_path / "state"
    first = await engine.run("customers", full=True)
    entered, release, finished = threading.Event(), threading.Event(), threading.Event()
    pruned: list[tuple[int, int] | BaseException] = []
    real_prune = RunStore.prune

    def held_prune(self: RunStore, **kwargs: Any) -> tuple[int, int]:
        entered.set()
        release.wait()
        try:
            result = real_prune(self, **kwargs)
        except BaseException as exc:
            pruned.append(exc)
            raise
        else:
            pruned.append(result)
            return result
        finally:
            finished.set()

    monkeypatch.setattr(RunStore, "prune", held_prune)
    wall = dt.datetime.now(dt.UTC)
    engine.now = lambda: wall + DAY
    task = asyncio.ensure_future(engine.run("customers", full=True))
    await asyncio.to_thread(entered.wait)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task  # the run's finally closed its run history
    release.set()
    await asyncio.to_thread(finished.wait)
    assert pruned == [(1, 0)]  # the first run went; the prune's connection was its own
    counts = _counts(state)
    assert first.run_id not in counts
    assert len(counts) == 1


async def test_a_run_gives_the_space_of_pruned_history_back_and_converts_an_older_file(
    emulator_server, tmp_path, monkeypatch
):
    """A history file from before incremental vacuum, holding a year of old runs: the first
    real run's retention (in its worker thread) prunes them, converts the file once and
    leaves it at a fraction of its pages; the next run finds nothing free."""
    from mogulsync import _sqlite_space
    from mogulsync.runs import store as store_module

    monkeypatch.setattr(_sqlite_space, "CONVERT_MIN_FREE_PAGES", 100)
    url = make_warehouse(
        tmp_path / "w.duckdb",
        ["create table accounts(id varchar, name varchar, email varchar)",
         "insert into accounts values ('a1', 'One', 'a1@example.com')"],
    )  # fmt: skip
    config = project(
        emulator_server, tmp_path, url, tokens=False,
        run_history={"keep_days": 30, "keep_requests_days": 7, "keep_last": 2},
    )  # fmt: skip
    state = tmp_path / "state"
    state.mkdir()
    db = sqlite3.connect(state / "runs.sqlite")  # as an older version made it
    db.execute("PRAGMA journal_mode = WAL")
    db.executescript(store_module._SCHEMA)
    year_ago = (dt.datetime.now(dt.UTC) - 365 * DAY).isoformat()
    body = '{"note": "' + " ".join(["lorem ipsum"] * 90) + '"}'
    with db:
        for n in range(300):
            db.execute(
                "INSERT INTO runs (run_id, sync, status, started_at) VALUES (?, 'customers',"
                " 'success', ?)",
                (f"old-{n:04d}", year_ago),
            )
            db.executemany(
                "INSERT INTO requests VALUES (?, ?, ?, 'POST', '/v1/customers', '/customers',"
                " 201, 1.0, 1, ?, ?, NULL)",
                [(f"old-{n:04d}", seq, year_ago, body, body) for seq in range(10)],
            )
    db.close()

    def pages() -> dict[str, int]:
        db = sqlite3.connect(state / "runs.sqlite")
        try:
            return {
                name: db.execute(f"PRAGMA {name}").fetchone()[0]
                for name in ("auto_vacuum", "page_count", "freelist_count")
            }
        finally:
            db.close()

    before = pages()
    engine = fast_engine(config)
    first = await engine.run("customers")
    after = pages()
    second = await engine.run("customers")
    counts = _counts(state)
    assert before["auto_vacuum"] == 0
    assert first.status is second.status is RunStatus.SUCCESS
    assert list(counts) == [first.run_id, second.run_id]  # the year-old runs are gone
    assert counts[first.run_id][2] > 0
    assert after["auto_vacuum"] == 2
    assert after["freelist_count"] == 0
    assert after["page_count"] * 10 < before["page_count"]
    assert pages()["freelist_count"] == 0

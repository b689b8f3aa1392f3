"""``runs.sqlite`` gives the space of pruned history back to the disk.

The retention deleted rows but the file kept its size (SQLite reuses free pages, it never
truncates without a VACUUM). Now a new file is made with incremental vacuum and the prune
hands free pages back in short steps; a file from an older version (auto_vacuum NONE) is
converted once by a VACUUM, which an interruption rolls back without losing a row. Sizes
are SQLite's own page counts, never timings.
"""

from __future__ import annotations

import datetime as dt
import logging
import sqlite3
from pathlib import Path

import pytest

from mogulsync import _sqlite_space
from mogulsync.chartmogul.request_log import RequestLogEntry
from mogulsync.config.run_history import RunHistoryConfig
from mogulsync.runs import RunStatus, RunStore
from mogulsync.runs import store as store_module
from mogulsync.runs.retention import prune_history

DAY = dt.timedelta(days=1)
BODY = '{"note": "' + " ".join(["lorem ipsum"] * 180) + '"}'
#: keep only each sync's latest 2 runs, and no request log older than a day
POLICY = RunHistoryConfig(keep_days=1, keep_requests_days=1, keep_last=2)


def _fill(store: RunStore, runs: int = 120, requests: int = 10) -> None:
    """Finished runs of one sync, each with ``requests`` logged requests of ~2 KB."""
    for _ in range(runs):
        record = store.start("customers", full=False)
        for _ in range(requests):
            entry = RequestLogEntry(
                "POST", "/v1/customers", "/customers", 201, 1.0, 1, BODY, BODY, None,
                dt.datetime.now(dt.UTC),
            )  # fmt: skip
            store.add_request(record.run_id, entry)
        record.status = RunStatus.SUCCESS
        store.finish(record)


def _legacy_file(state_dir: Path) -> None:
    """An empty history as versions before incremental vacuum made it."""
    state_dir.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(state_dir / store_module.RUNS_FILE)
    db.execute("PRAGMA journal_mode = WAL")
    db.executescript(store_module._SCHEMA)
    db.close()


def _file(state_dir: Path) -> dict[str, int]:
    """auto_vacuum, pages and free pages as a fresh connection reads them."""
    db = sqlite3.connect(state_dir / store_module.RUNS_FILE)
    try:
        return {
            name: int(db.execute(f"PRAGMA {name}").fetchone()[0])
            for name in ("auto_vacuum", "page_count", "freelist_count")
        }
    finally:
        db.close()


def _kept(store: RunStore) -> list[tuple[str, int]]:
    return [(r.run_id, store.request_count(r.run_id)) for r in store.latest(limit=1000)]


def test_a_new_history_shrinks_after_a_prune(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    try:
        _fill(store)
        full = _file(tmp_path)
        size = store.path.stat().st_size + Path(f"{store.path}-wal").stat().st_size
        prune_history(store, POLICY, dt.datetime.now(dt.UTC) + 2 * DAY)
        kept = _kept(store)
    finally:
        store.close()
    after = _file(tmp_path)
    assert full["auto_vacuum"] == after["auto_vacuum"] == 2  # incremental
    # 2 of 120 runs are left (the latest, so with their request logs)
    assert [count for _, count in kept] == [10, 10]
    assert after["freelist_count"] == 0
    assert after["page_count"] * 10 < full["page_count"]
    assert store.path.stat().st_size * 10 < size


def test_the_space_goes_back_in_short_steps(tmp_path: Path, monkeypatch) -> None:
    """Each step is its own transaction of at most STEP_PAGES pages (a writer waits for
    one step, not for the whole give-back)."""
    monkeypatch.setattr(_sqlite_space, "STEP_PAGES", 50)
    store = RunStore(tmp_path)
    steps: list[str] = []
    try:
        _fill(store)
        store.prune(runs_before=dt.datetime.now(dt.UTC) + DAY, requests_before=None, keep_last=2)
        free = _file(tmp_path)["freelist_count"]
        store._db.set_trace_callback(steps.append)
        reclaimed = store.reclaim_space()
    finally:
        store.close()
    vacuums = [s for s in steps if "incremental_vacuum" in s]
    # every free page went (and the pointer-map pages that tracked them)
    assert reclaimed.pages >= free
    assert _file(tmp_path)["freelist_count"] == 0
    assert all(s.endswith("(50)") for s in vacuums)
    assert len(vacuums) >= free // 50


def test_a_file_from_an_older_version_is_converted_once_and_keeps_its_data(
    tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setattr(_sqlite_space, "CONVERT_MIN_FREE_PAGES", 100)
    _legacy_file(tmp_path)
    store = RunStore(tmp_path)  # opening an older file changes nothing in it
    try:
        assert _file(tmp_path)["auto_vacuum"] == 0
        _fill(store)
        store.prune(runs_before=dt.datetime.now(dt.UTC) + DAY, requests_before=None, keep_last=5)
        kept = _kept(store)
        before = _file(tmp_path)
        first = store.reclaim_space()
        again = store.reclaim_space()
        assert _kept(store) == kept
    finally:
        store.close()
    after = _file(tmp_path)
    assert first.converted
    assert not again.converted
    assert again.pages == 0
    assert before["auto_vacuum"] == 0
    assert after["auto_vacuum"] == 2
    assert after["freelist_count"] == 0
    assert after["page_count"] * 5 < before["page_count"]
    assert [count for _, count in kept] == [10] * 5


def test_an_older_file_with_little_free_space_is_not_rewritten(tmp_path: Path) -> None:
    _legacy_file(tmp_path)
    store = RunStore(tmp_path)
    try:
        _fill(store, runs=10)
        store.prune(runs_before=dt.datetime.now(dt.UTC) + DAY, requests_before=None, keep_last=5)
        reclaimed = store.reclaim_space()
    finally:
        store.close()
    assert not reclaimed.converted
    assert 0 < _file(tmp_path)["freelist_count"] < _sqlite_space.CONVERT_MIN_FREE_PAGES
    assert _file(tmp_path)["auto_vacuum"] == 0


def test_an_interrupted_conversion_loses_nothing_and_the_next_prune_converts(
    tmp_path: Path, monkeypatch, caplog
) -> None:
    monkeypatch.setattr(_sqlite_space, "CONVERT_MIN_FREE_PAGES", 100)
    _legacy_file(tmp_path)
    store = RunStore(tmp_path)
    now = dt.datetime.now(dt.UTC) + 2 * DAY
    try:
        _fill(store)
        # the VACUUM is stopped part-way, as a kill or a full disk would stop it
        vacuuming: list[str] = []
        store._db.set_trace_callback(lambda sql: vacuuming.append(sql) if sql == "VACUUM" else None)
        store._db.set_progress_handler(lambda: len(vacuuming) > 0, 1)
        with caplog.at_level(logging.WARNING):
            prune_history(store, POLICY, now)
        store._db.set_progress_handler(None, 0)
        store._db.set_trace_callback(None)
        assert vacuuming == ["VACUUM"]
        assert "freed space not given back yet" in caplog.text
        assert "interrupted" in caplog.text
        kept = _kept(store)
        interrupted = _file(tmp_path)
        # on the same connection: it must not take the file for converted
        prune_history(store, POLICY, now)
        assert _kept(store) == kept
    finally:
        store.close()
    assert len(kept) == 2
    assert interrupted["auto_vacuum"] == 0
    assert interrupted["freelist_count"] >= 100
    done = _file(tmp_path)
    assert done["auto_vacuum"] == 2
    assert done["freelist_count"] == 0
    assert done["page_count"] * 10 < interrupted["page_count"]


@pytest.mark.parametrize("legacy", [False, True])
def test_a_prune_that_deletes_nothing_leaves_the_file_alone(tmp_path: Path, legacy: bool) -> None:
    if legacy:
        _legacy_file(tmp_path)
    store = RunStore(tmp_path)
    try:
        _fill(store, runs=5)
        before = _file(tmp_path)
        prune_history(store, RunHistoryConfig(), dt.datetime.now(dt.UTC))
        assert len(_kept(store)) == 5
    finally:
        store.close()
    assert _file(tmp_path)["page_count"] == before["page_count"]


def test_an_older_file_keeping_too_much_is_not_rewritten_under_running_writers(
    tmp_path: Path, monkeypatch
) -> None:
    """The VACUUM would hold every writer for as long as it rewrites what is kept."""
    monkeypatch.setattr(_sqlite_space, "CONVERT_MIN_FREE_PAGES", 100)
    _legacy_file(tmp_path)
    store = RunStore(tmp_path)
    try:
        _fill(store)
        store.prune(runs_before=dt.datetime.now(dt.UTC) + DAY, requests_before=None, keep_last=60)
        kept = _file(tmp_path)
        monkeypatch.setattr(
            _sqlite_space, "CONVERT_MAX_KEPT_PAGES", kept["page_count"] - kept["freelist_count"] - 1
        )
        reclaimed = store.reclaim_space()
    finally:
        store.close()
    assert kept["freelist_count"] >= 100
    assert not reclaimed.converted
    assert _file(tmp_path)["auto_vacuum"] == 0

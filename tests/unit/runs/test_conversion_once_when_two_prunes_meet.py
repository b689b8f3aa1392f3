"""Two prunes that meet convert an older ``runs.sqlite`` once, not twice.

In ``serve`` every run prunes on a connection of its own when it ends, so runs ending
together (syncs scheduled at the same minute) prune at once. Each read the file's mode
(auto_vacuum NONE) and then ran the VACUUM: the second rewrote the just-converted file
again, holding writers up as long once more (five such runs: five VACUUMs in a row, past
a writer's 30 s busy timeout). The conversion is now decided again under the write lock.

The meeting is made exact, with no timing: the other connection converts the file at the
moment this one has read the mode and is about to convert (its trace callback, called as
each of its statements starts).
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

from tests.unit.runs.test_history_file_shrinks import DAY, _fill, _kept, _legacy_file

from mogulsync import _sqlite_space
from mogulsync.runs import RunStore
from mogulsync.runs import store as store_module


def test_a_file_converted_meanwhile_by_another_connection_is_not_vacuumed_again(
    tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setattr(_sqlite_space, "CONVERT_MIN_FREE_PAGES", 100)
    _legacy_file(tmp_path)
    store = RunStore(tmp_path)
    try:
        _fill(store)
        store.prune(runs_before=dt.datetime.now(dt.UTC) + DAY, requests_before=None, keep_last=5)
        kept = _kept(store)
    finally:
        store.close()
    path = tmp_path / store_module.RUNS_FILE
    other = sqlite3.connect(path, isolation_level=None)
    mine = sqlite3.connect(path, isolation_level=None)
    statements: list[str] = []
    met: list[str] = []

    def convert_meanwhile(statement: str) -> None:
        if not met and statements and statements[-1] == "PRAGMA freelist_count":
            # this connection has read the mode, size and free pages and goes on to
            # convert: the other run's prune converts the file just now
            met.append(statement)
            other.execute("PRAGMA auto_vacuum = INCREMENTAL")
            other.execute("VACUUM")
        statements.append(statement)

    mine.set_trace_callback(convert_meanwhile)
    try:
        reclaimed = _sqlite_space.reclaim(mine)
    finally:
        mine.close()
        other.close()
    assert statements[:3] == ["PRAGMA auto_vacuum", "PRAGMA page_count", "PRAGMA freelist_count"]
    assert met  # the other conversion happened in between
    assert not reclaimed.converted
    assert "VACUUM" not in statements
    store = RunStore(tmp_path)
    try:
        assert _kept(store) == kept
        assert int(store._db.execute("PRAGMA auto_vacuum").fetchone()[0]) == 2
    finally:
        store.close()

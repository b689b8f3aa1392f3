"""An older ``runs.sqlite`` is converted (one VACUUM) only when its disk has room for it.

In WAL mode the VACUUM writes every page the file keeps to the write-ahead log. On a
nearly full disk it failed with "database or disk is full" after the log had taken the
disk's last byte (measured on a 80 MB tmpfs: 5 MB free before, 0 after, held while any
connection to the history stayed open), and every later prune, after every run, tried
again. The disk's free space is driven here (``_sqlite_space.free_bytes``): a full disk
is not something a test can make without privileges.
"""

from __future__ import annotations

import datetime as dt
import logging
import sqlite3
from pathlib import Path

import pytest
from tests.unit.runs.test_history_file_shrinks import DAY, _fill, _kept, _legacy_file

from mogulsync import _sqlite_space
from mogulsync.runs import RunStore
from mogulsync.runs import store as store_module


def _auto_vacuum(state_dir: Path) -> int:
    db = sqlite3.connect(state_dir / store_module.RUNS_FILE)
    try:
        return int(db.execute("PRAGMA auto_vacuum").fetchone()[0])
    finally:
        db.close()


def test_no_conversion_without_room_on_the_disk_then_one_once_there_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(_sqlite_space, "CONVERT_MIN_FREE_PAGES", 100)
    asked: list[str] = []
    room = {"bytes": 0}

    def free_bytes(folder: str) -> int:
        asked.append(folder)
        return room["bytes"]

    monkeypatch.setattr(_sqlite_space, "free_bytes", free_bytes)
    _legacy_file(tmp_path)
    store = RunStore(tmp_path)
    try:
        _fill(store)
        store.prune(runs_before=dt.datetime.now(dt.UTC) + DAY, requests_before=None, keep_last=5)
        kept = _kept(store)
        kept_bytes = sum(
            int(store._db.execute(f"PRAGMA {name}").fetchone()[0]) * sign
            for name, sign in (("page_count", 1), ("freelist_count", -1))
        ) * int(store._db.execute("PRAGMA page_size").fetchone()[0])
        room["bytes"] = 2 * kept_bytes - 1  # one byte short of the VACUUM's room
        with caplog.at_level(logging.INFO, logger="mogulsync._sqlite_space"):
            short = store.reclaim_space()
        assert not short.converted
        assert _auto_vacuum(tmp_path) == 0
        assert "not converted" in caplog.text
        assert "MiB free" in caplog.text
        room["bytes"] = 2 * kept_bytes
        roomy = store.reclaim_space()
        assert _kept(store) == kept
    finally:
        store.close()
    assert roomy.converted
    assert _auto_vacuum(tmp_path) == 2
    assert asked == [str(tmp_path), str(tmp_path)]  # the disk of the file itself
